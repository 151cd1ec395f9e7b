"""Accuracy of a group of examples against the rest, with score intervals (numpy only; no torch).

Wilson's score interval for one proportion; Newcombe's hybrid score interval (his method 10) for the difference of
two independent proportions: d = p_rest - p_group, lower = d - sqrt((p_rest - l_rest)^2 + (u_group - p_group)^2),
upper = d + sqrt((u_rest - p_rest)^2 + (p_group - l_group)^2), with (l, u) each group's Wilson interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Impact intervals are two-sided 90%: their lower end is a one-sided 95% bound, the test each impact rule makes
# (its hypothesis has a direction: cut examples score lower, leaked ones higher, ...).
IMPACT_LEVEL = 0.90


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


def contrast(correct: np.ndarray, group: np.ndarray, level: float = IMPACT_LEVEL) -> Contrast:
    """The Contrast of the examples where `group` is True against the others (`correct`: bool per example)."""
    correct = np.asarray(correct, dtype=bool)
    group = np.asarray(group, dtype=bool)
    n, n_rest = int(group.sum()), int((~group).sum())
    k, k_rest = int(correct[group].sum()), int(correct[~group].sum())
    acc = k / n if n else None
    rest = k_rest / n_rest if n_rest else None
    ci, rest_ci = wilson(k, n, level), wilson(k_rest, n_rest, level)
    diff = diff_ci = None
    if acc is not None and rest is not None:
        diff = rest - acc
        low = diff - math.sqrt((rest - rest_ci[0]) ** 2 + (ci[1] - acc) ** 2)
        high = diff + math.sqrt((rest_ci[1] - rest) ** 2 + (acc - ci[0]) ** 2)
        diff_ci = (low, high)
    return Contrast(n=n, correct=k, n_rest=n_rest, rest_correct=k_rest, accuracy=acc, accuracy_ci=ci,
                    rest_accuracy=rest, rest_accuracy_ci=rest_ci, difference=diff, difference_ci=diff_ci, level=level)



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
