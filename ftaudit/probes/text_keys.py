"""Normalised texts and MinHash signatures of a split, computed once per audit and shared by the data probes."""

from __future__ import annotations

import numpy as np

from ftaudit.context import AuditContext, StashKey
from ftaudit.textsim import minhash, split_keys


def context_keys(ctx: AuditContext, split: str) -> tuple[str, ...]:
    """The split's normalised texts, computed once per audit and shared by the data probes."""
    key: StashKey[tuple[str, ...]] = StashKey(f"normalized:{split}")
    s = ctx.splits[split]
    return ctx.stash.get_or_compute(key, lambda: split_keys(s.texts, s.pairs))


def context_signatures(ctx: AuditContext, split: str) -> np.ndarray:
    """MinHash signatures [n, PERMS] of the split's normalised texts, computed once per audit."""
    key: StashKey[np.ndarray] = StashKey(f"minhash:{split}")
    return ctx.stash.get_or_compute(key, lambda: minhash(context_keys(ctx, split)))
