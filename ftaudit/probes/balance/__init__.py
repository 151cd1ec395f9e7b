"""BalanceProbe: class shares per split, the rarest class against uniform, label shift from train to test, and what
the imbalance costs: the test recall of the rarest train class vs the accuracy on the other classes' examples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ftaudit.probes.base import Need, Probe
from ftaudit.results import ProbeResult
from ftaudit.stats import Contrast, contrast

if TYPE_CHECKING:
    from ftaudit.context import AuditContext


@dataclass(frozen=True)
class ClassShares:
    split: str
    n: int
    counts: tuple[int, ...]  # per label, in the order of BalanceResult.labels
    shares: tuple[float, ...]


@dataclass(frozen=True)
class BalanceResult(ProbeResult):
    kind = "balance"
    labels: tuple[str, ...]  # classes present in train or test (a model may have more)
    splits: tuple[ClassShares, ...]
    rarest_class: str  # in train
    rarest_share: float
    uniform_share: float  # 1 / number of classes
    rarest_ratio: float  # rarest_share / uniform_share: 1 is balanced, 0 a class with no train examples
    label_tv: float  # total variation distance between train and test label distributions, 0..1
    label_chi2_p: float  # chi-squared test of homogeneity of train vs test label counts
    rarest_recall: Contrast | None = None  # group = test examples of the rarest train class, rest = the other classes'
    # (with 3+ classes, the other minority classes': see `rarest_recall`); None without a model


def label_shift(train: np.ndarray, test: np.ndarray) -> tuple[float, float]:
    """(total variation distance, chi-squared homogeneity p-value) of two count vectors over the same classes."""
    from scipy.special import chdtrc  # chi-squared survival function

    table = np.vstack([train, test]).astype(float)
    tv = 0.5 * float(np.abs(table[0] / table[0].sum() - table[1] / table[1].sum()).sum())
    keep = table.sum(axis=0) > 0
    table = table[:, keep]
    if table.shape[1] < 2:
        return tv, 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    stat = float(((table - expected) ** 2 / expected).sum())
    return tv, float(chdtrc(table.shape[1] - 1, stat))


def rarest_recall(correct: np.ndarray, labels: np.ndarray, rarest: int, majority: int, classes: int) -> Contrast:
    """The rarest train class's test recall against the other classes' test examples; with three classes or more,
    against the other minority classes' only (not the train majority's). Imbalance costs a class recall because it
    is rare, so its recall must fall below that of the classes that are merely not the majority: a model collapsed
    onto the majority class misses every minority class alike, and that is the collapse, not the rarity."""
    group = labels == rarest
    if classes > 2 and majority != rarest:
        keep = labels != majority
        return contrast(correct[keep], group[keep])
    return contrast(correct, group)


class BalanceProbe(Probe):
    """Class balance of every split and train-to-test label shift."""

    name = "balance"
    summary = "class shares per split, the rarest class vs uniform, and label shift between train and test"
    needs = frozenset({Need.TRAIN, Need.TEST})
    result_type = BalanceResult

    def run(self, ctx: "AuditContext") -> BalanceResult:
        size = ctx.labels.size
        counts = {name: np.bincount(s.labels, minlength=size) for name, s in ctx.splits.items()}
        present = np.flatnonzero(counts["train"] + counts["test"] > 0)
        names = tuple(ctx.labels.names[i] for i in present)
        splits = tuple(
            ClassShares(split=name, n=int(c.sum()), counts=tuple(int(v) for v in c[present]),
                        shares=tuple(float(v) for v in c[present] / max(c.sum(), 1)))
            for name, c in counts.items())
        train = next(s for s in splits if s.split == "train")
        rarest = int(np.argmin(train.shares))
        uniform = 1.0 / len(present)
        tv, p = label_shift(counts["train"][present], counts["test"][present])
        recall = None
        if ctx.lacks(Need.MODEL) is None:
            recall = rarest_recall(ctx.predictions("test").correct, ctx.splits["test"].labels, present[rarest],
                                   present[int(np.argmax(train.shares))], len(present))
        return BalanceResult(labels=names, splits=splits, rarest_class=names[rarest],
                             rarest_share=train.shares[rarest], uniform_share=uniform,
                             rarest_ratio=train.shares[rarest] / uniform, label_tv=tv, label_chi2_p=p,
                             rarest_recall=recall)
