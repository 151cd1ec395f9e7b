"""Words of the attribution probe: one attributed item, the label association on train, per-word statistics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ftaudit.probes.attribution import (REFERENCE_RANK, WordStat, association, entropy, mutual_information)
from ftaudit.probes.attribution.ig import render_word

if TYPE_CHECKING:
    from ftaudit.context import AuditContext

Key = tuple[int, ...]
MI_FLOOR = 1e-6  # nats


@dataclass
class Item:
    """One IG run: a row of a split and the class it is attributed to."""

    split: str
    row: int
    target: int
    is_prediction: bool
    keys: list[Key]
    spans: list[tuple[int, int]]
    word_attr: np.ndarray  # float64 [words]


@dataclass(frozen=True)
class Association:
    """Label association on train: per-word class counts [C], class totals [C], H(y), I(word; y), the reference I."""

    per_class: dict[Key, np.ndarray]
    totals: np.ndarray
    h_y: float
    mi: dict[Key, float]
    reference: float

    @classmethod
    def of(cls, doc_sets: list[set[Key]], labels: np.ndarray, n_classes: int, min_df: int) -> "Association":
        """From the training documents' word sets; words in fewer than `min_df` documents get no I."""
        per_class, totals = association(doc_sets, labels, n_classes)
        mi = {key: mutual_information(c, totals) for key, c in per_class.items() if c.sum() >= min_df}
        ranked = sorted(mi.values(), reverse=True)
        # floored so that a word is "far above" a rest with no association at all, by a finite ratio
        reference = max(ranked[min(REFERENCE_RANK, len(ranked)) - 1] if ranked else 0.0, MI_FLOOR)
        return cls(per_class, totals, entropy(totals), mi, reference)


def word_stats(ctx: "AuditContext", items: list[Item], a: Association,
                screen: dict[Key, WordStat] | None = None) -> dict[Key, WordStat]:
    """Per word with a mutual information: its mean share of the items' mass |a_w| / Σ|a| where it occurs (prediction
    targets only), scored share × I/H(y); `screen` carries the screen's count and share onto each word."""
    shares: dict[Key, list[float]] = {}
    for it in items:
        mass = np.abs(it.word_attr).sum()
        if not it.is_prediction or mass <= 0:
            continue
        per_word: dict[Key, float] = {}
        for key, v in zip(it.keys, it.word_attr):
            per_word[key] = per_word.get(key, 0.0) + abs(v) / mass
        for key, share in per_word.items():
            shares.setdefault(key, []).append(share)
    names, n = ctx.labels.names, a.totals.sum()
    stats: dict[Key, WordStat] = {}
    for key, values in shares.items():
        if key not in a.mi:
            continue
        counts = a.per_class[key]
        top = int(counts.argmax())
        p = counts[top] / counts.sum()
        share = float(np.mean(values))
        seen = screen.get(key) if screen is not None else None
        stats[key] = WordStat(
            word=render_word(ctx.tokenizer, key), train_df=int(counts.sum()), label=names[top], p_label=float(p),
            pmi=float(np.log(p / (a.totals[top] / n))), mutual_information=float(a.mi[key]),
            association_ratio=float(a.mi[key] / a.reference), sample_count=len(values), attribution_share=share,
            score=float(share * a.mi[key] / a.h_y) if a.h_y > 0 else 0.0,
            screen_count=seen.sample_count if seen is not None else 0,
            screen_share=seen.attribution_share if seen is not None else 0.0)
    return stats
