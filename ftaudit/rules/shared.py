"""What the rules of several probes share: one threshold that two probes judge with, and the curves' wording."""

from __future__ import annotations

from ftaudit.rules.base import Threshold

# label-shift (balance) and distribution-shift (shift) test at the same significance level
SHIFT_ALPHA = Threshold("shift_alpha", 0.01, "significance level of the shift tests (chi-squared for labels, "
                                             "Kolmogorov-Smirnov for lengths)")


def signed_points(x: float) -> str:
    """0.0123 -> '+1.2 points'."""
    return f"{100 * x:+.1f} points"


def ci_points(lo: float, hi: float) -> str:
    """(-0.01, 0.03) -> '95% CI -1.0 to +3.0'."""
    return f"95% CI {100 * lo:+.1f} to {100 * hi:+.1f}"
