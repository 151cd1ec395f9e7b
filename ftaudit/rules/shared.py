"""What the rules of several probes share: the thresholds that two probes judge with, and the curves' wording."""

from __future__ import annotations

from ftaudit.rules.base import Threshold

# label-shift (balance) and distribution-shift (shift) test at the same significance level
SHIFT_ALPHA = Threshold("shift_alpha", 0.01, "significance level of the shift tests (chi-squared for labels, "
                                             "Kolmogorov-Smirnov for lengths)")
# whether a model learned anything: dynamics (collapse, seeds) and the learning curve (its unseen-train comparison)
COLLAPSE_SKILL = Threshold("collapse_max_skill", 0.10, "a model whose accuracy removes at least this share of the "
                           "majority baseline's error, (accuracy - baseline) / (1 - baseline), learned something: "
                           "such a run has not collapsed, whatever its loss and prediction share (wrong labels hold "
                           "the loss near H(y), and a test set that is 87% one class is rightly predicted mostly as "
                           "that class); a learning-curve subset that learned less on train rows it never saw cannot "
                           "tell whether test is drawn unlike train", minimum=0.0)


def skill(accuracy: float | None, baseline: float | None) -> float | None:
    """The share of the majority baseline's error a model removes: (accuracy - baseline) / (1 - baseline)."""
    if accuracy is None or baseline is None or baseline >= 1:
        return None
    return (accuracy - baseline) / (1 - baseline)


def signed_points(x: float) -> str:
    """0.0123 -> '+1.2 points'."""
    return f"{100 * x:+.1f} points"


def ci_points(lo: float, hi: float) -> str:
    """(-0.01, 0.03) -> '95% CI -1.0 to +3.0'."""
    return f"95% CI {100 * lo:+.1f} to {100 * hi:+.1f}"
