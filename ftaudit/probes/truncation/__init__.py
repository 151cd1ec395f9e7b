"""TruncationProbe: the share of examples and of tokens that max_length cuts, with the model's own tokenizer, and
what the cut costs: test accuracy on cut vs uncut examples (or, when nearly every example is cut, on the more-cut
half vs the less-cut half, by the share of each example's tokens cut), within class: long texts are often mostly of
one class, and a model that predicts that class badly would otherwise look hurt by the cut; and what the cut removes
from the data, whatever the model did (information.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ftaudit.probes.base import Need, Probe
from ftaudit.probes.truncation.information import information_loss, whole_ids
from ftaudit.results import ProbeResult
from ftaudit.stats import Contrast, PairedGain, contrast

if TYPE_CHECKING:
    from ftaudit.context import AuditContext

QUANTILES = tuple(float(q) for q in np.linspace(0, 1, 21))  # 0, 5, ..., 100%
MIN_GROUP = 10  # fewest uncut test examples for the cut-vs-uncut contrast; below it, the more-cut half is compared


@dataclass(frozen=True)
class SplitTruncation:
    split: str
    n: int
    truncated: int  # examples longer than max_length
    truncated_share: float
    tokens: int  # tokens before truncation, special tokens included
    tokens_cut: int
    tokens_cut_share: float  # tokens_cut / tokens
    length_quantiles: tuple[float, ...]  # untruncated token counts at QUANTILES
    mean_length: float


@dataclass(frozen=True)
class TruncationResult(ProbeResult):
    kind = "truncation"
    max_length: int
    quantiles: tuple[float, ...]
    splits: tuple[SplitTruncation, ...]
    impact: Contrast | None = None  # test accuracy: group = cut examples (or the more-cut half), rest = the others
    impact_basis: str = ""  # "cut-vs-uncut" | "more-vs-less-cut" | "" (no model, or too few examples)
    # test accuracy of a bag-of-words classifier from the cut texts (before) to the whole ones (after); None when
    # nothing is cut
    information: PairedGain | None = None


def truncation_impact(full_lengths: np.ndarray, max_length: int, correct: np.ndarray,
                      labels: np.ndarray | None = None) -> tuple[Contrast | None, str]:
    """Accuracy of cut vs uncut examples; with fewer than MIN_GROUP uncut, of the more-cut half vs the rest; within
    class when `labels` are given (stats.contrast)."""
    full = np.asarray(full_lengths, dtype=np.int64)
    cut = full > max_length
    if (~cut).sum() >= MIN_GROUP and cut.any():
        return contrast(correct, cut, labels=labels), "cut-vs-uncut"
    if cut.sum() < 2 * MIN_GROUP:
        return None, ""
    share = np.maximum(full - max_length, 0) / np.maximum(full, 1)
    more = share > np.median(share)
    if not more.any() or more.all():  # every example loses the same share: no dose to compare
        return None, ""
    return contrast(correct, more, labels=labels), "more-vs-less-cut"


def split_truncation(name: str, full_lengths: np.ndarray, max_length: int) -> SplitTruncation:
    full = np.asarray(full_lengths, dtype=np.int64)
    cut = np.maximum(full - max_length, 0)
    n, tokens = len(full), int(full.sum())
    return SplitTruncation(
        split=name, n=n, truncated=int((cut > 0).sum()), truncated_share=float((cut > 0).mean()) if n else 0.0,
        tokens=tokens, tokens_cut=int(cut.sum()), tokens_cut_share=float(cut.sum() / tokens) if tokens else 0.0,
        length_quantiles=tuple(float(v) for v in np.quantile(full, QUANTILES)) if n else (),
        mean_length=float(full.mean()) if n else 0.0,
    )


class TruncationProbe(Probe):
    """Truncation by --max-length, per split, measured on the shared tokenization (no extra tokenizer pass)."""

    name = "truncation"
    summary = "share of examples and tokens cut by --max-length, per split, with the model's tokenizer"
    needs = frozenset({Need.TRAIN, Need.TEST})
    result_type = TruncationResult

    def unavailable(self, ctx: "AuditContext") -> str | None:
        if ctx.tokenizer is None:
            return "no tokenizer was loaded (it comes with --model)"
        return super().unavailable(ctx)

    def run(self, ctx: "AuditContext") -> TruncationResult:
        max_length = ctx.config.data.max_length
        impact, basis = None, ""
        if ctx.lacks(Need.MODEL) is None and "test" in ctx.splits:
            test = ctx.predictions("test")
            impact, basis = truncation_impact(ctx.encodings("test").full_lengths, max_length, test.correct,
                                              test.labels)
        return TruncationResult(max_length=max_length, quantiles=QUANTILES, splits=tuple(
            split_truncation(name, ctx.encodings(name).full_lengths, max_length) for name in ctx.splits),
            impact=impact, impact_basis=basis, information=self._information(ctx))

    @staticmethod
    def _information(ctx: "AuditContext") -> PairedGain | None:
        if not {"train", "test"} <= set(ctx.splits):
            return None
        cut, whole, labels = {}, {}, {}
        for name in ("train", "test"):
            s, enc = ctx.splits[name], ctx.encodings(name)
            cut[name], labels[name] = enc.input_ids, s.labels
            whole[name] = whole_ids(ctx.tokenizer, enc, s.texts, s.pairs)
        return information_loss(cut["train"], whole["train"], labels["train"], cut["test"], whole["test"],
                                labels["test"])
