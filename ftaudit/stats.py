"""Accuracy of a group of examples against the rest, with score intervals (numpy only; no torch).

Wilson's score interval for one proportion; Newcombe's hybrid score interval (his method 10) for the difference of
two independent proportions: d = p_rest - p_group, lower = d - sqrt((p_rest - l_rest)^2 + (u_group - p_group)^2),
upper = d + sqrt((u_rest - p_rest)^2 + (p_group - l_group)^2), with (l, u) each group's Wilson interval.

Within class (`contrast(..., labels=...)`): the rest's accuracy in each class, weighted by the group's share of that
class (direct standardisation to the group's class mix), so that a group that is mostly of one class is not compared
with a rest of another mix; the rest's interval is the MOVER of that weighted sum (Zou & Donner 2008) from each
class's Wilson interval, and the difference's interval is Newcombe's hybrid with it. With one class it is the plain
contrast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

# Impact intervals are two-sided 90%: their lower end is a one-sided 95% bound, the test each impact rule makes
# (its hypothesis has a direction: cut examples score lower, leaked ones higher, ...).
IMPACT_LEVEL = 0.90


def label_entropy(labels: np.ndarray, n_classes: int) -> float:
    """H(y) of integer labels, in nats: the training loss of a model that predicts the label prior."""
    p = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes) / len(labels)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def _z(level: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(1 - (1 - level) / 2))


def wilson(correct: int, n: int, level: float = IMPACT_LEVEL) -> tuple[float, float]:
    """Wilson score interval of correct / n; (0, 1) when n == 0."""
    if n <= 0:
        return 0.0, 1.0
    z = _z(level)
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Contrast:
    """Accuracy on a group of examples vs the rest; `difference` = rest - group (positive: the group scores lower)."""

    n: int  # examples in the group
    correct: int
    n_rest: int
    rest_correct: int
    accuracy: float | None  # correct / n; None for an empty group
    accuracy_ci: tuple[float, float]  # Wilson, at `level`
    rest_accuracy: float | None
    rest_accuracy_ci: tuple[float, float]
    difference: float | None  # rest_accuracy - accuracy; None when either side is empty
    difference_ci: tuple[float, float] | None  # Newcombe's hybrid score interval, at `level`
    level: float = IMPACT_LEVEL
    # Within class: the number of classes compared (both sides have examples of each; the counts above are of those
    # classes' examples, and rest_accuracy is weighted to the group's class mix); 0: not stratified.
    strata: int = 0
    unadjusted_difference: float | None = None  # rest - group over every example, without the class weighting


def _mover_difference(rest: float, rest_ci: tuple[float, float], acc: float,
                      ci: tuple[float, float]) -> tuple[float, float]:
    diff = rest - acc
    return (diff - math.sqrt((rest - rest_ci[0]) ** 2 + (ci[1] - acc) ** 2),
            diff + math.sqrt((rest_ci[1] - rest) ** 2 + (acc - ci[0]) ** 2))


def contrast(correct: np.ndarray, group: np.ndarray, level: float = IMPACT_LEVEL,
             labels: np.ndarray | None = None) -> Contrast:
    """The Contrast of the examples where `group` is True against the others (`correct`: bool per example); with
    `labels` (the gold class per example), within class: only classes both sides hold count, and the rest's accuracy
    is weighted to the group's class mix (module docstring)."""
    correct = np.asarray(correct, dtype=bool)
    group = np.asarray(group, dtype=bool)
    if labels is not None:
        return _within_class(correct, group, np.asarray(labels), level)
    n, n_rest = int(group.sum()), int((~group).sum())
    k, k_rest = int(correct[group].sum()), int(correct[~group].sum())
    acc = k / n if n else None
    rest = k_rest / n_rest if n_rest else None
    ci, rest_ci = wilson(k, n, level), wilson(k_rest, n_rest, level)
    diff = diff_ci = None
    if acc is not None and rest is not None:
        diff, diff_ci = rest - acc, _mover_difference(rest, rest_ci, acc, ci)
    return Contrast(n=n, correct=k, n_rest=n_rest, rest_correct=k_rest, accuracy=acc, accuracy_ci=ci,
                    rest_accuracy=rest, rest_accuracy_ci=rest_ci, difference=diff, difference_ci=diff_ci, level=level)


def _within_class(correct: np.ndarray, group: np.ndarray, labels: np.ndarray, level: float) -> Contrast:
    plain = contrast(correct, group, level)
    shared = [c for c in np.unique(labels) if (group & (labels == c)).any() and (~group & (labels == c)).any()]
    keep = np.isin(labels, shared)
    if len(shared) <= 1:  # one class on both sides (or none): the plain contrast of those examples
        one = contrast(correct[keep], group[keep], level)
        return replace(one, strata=len(shared), unadjusted_difference=plain.difference)
    n, k = int((group & keep).sum()), int((correct & group & keep).sum())
    n_rest, k_rest = int((~group & keep).sum()), int((correct & ~group & keep).sum())
    rest = low_sq = high_sq = 0.0
    for c in shared:
        g, r = group & (labels == c), ~group & (labels == c)
        weight = g.sum() / n
        p = correct[r].mean()
        lo, hi = wilson(int(correct[r].sum()), int(r.sum()), level)
        rest += weight * p
        low_sq += (weight * (p - lo)) ** 2
        high_sq += (weight * (hi - p)) ** 2
    rest = float(rest)
    rest_ci = (max(0.0, rest - math.sqrt(low_sq)), min(1.0, rest + math.sqrt(high_sq)))
    acc, ci = k / n, wilson(k, n, level)
    return Contrast(n=n, correct=k, n_rest=n_rest, rest_correct=k_rest, accuracy=acc, accuracy_ci=ci,
                    rest_accuracy=rest, rest_accuracy_ci=rest_ci, difference=rest - acc,
                    difference_ci=_mover_difference(rest, rest_ci, acc, ci), level=level, strata=len(shared),
                    unadjusted_difference=plain.difference)


@dataclass(frozen=True)
class PairedGain:
    """Accuracy of one model at two points on the same examples; `gain` = after - before (positive: it improved)."""

    n: int
    before: float
    after: float
    improved: int  # wrong before, right after
    worsened: int  # right before, wrong after
    gain: float
    gain_ci: tuple[float, float]
    level: float = IMPACT_LEVEL


def paired_gain(before: np.ndarray, after: np.ndarray, level: float = IMPACT_LEVEL) -> PairedGain | None:
    """The accuracy gain from `before` to `after` (bool per example, the same examples), with an interval that
    conditions on the discordant pairs (as McNemar's test does): of the m = b + c examples that changed, b improved;
    with (l, u) the Wilson interval of b / m, the gain (b - c) / n lies in ((2l - 1) m / n, (2u - 1) m / n).
    None when there are no examples."""
    before = np.asarray(before, dtype=bool)
    after = np.asarray(after, dtype=bool)
    n = len(before)
    if n == 0 or len(after) != n:
        return None
    b = int((~before & after).sum())
    c = int((before & ~after).sum())
    m = b + c
    low, high = wilson(b, m, level) if m else (0.5, 0.5)
    return PairedGain(n=n, before=float(before.mean()), after=float(after.mean()), improved=b, worsened=c,
                      gain=(b - c) / n, gain_ci=((2 * low - 1) * m / n, (2 * high - 1) * m / n), level=level)
