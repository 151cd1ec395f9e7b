"""Rules over the shift probe: do test texts look like train texts (length, vocabulary)?

It also emits what the defect measurably cost (`impact`, `impact_ci_low`, `impact_ci_high`: the accuracy
difference that supports the cause, positive when it does), for the diagnosis to require.
"""

from __future__ import annotations

from ftaudit.probes.shift import ShiftResult
from ftaudit.results import Severity
from ftaudit.rules.base import IMPACT_KEYS, Judgement, Limit, Rule, Threshold, impact_numbers, impact_text, pct
from ftaudit.rules.shared import SHIFT_ALPHA
from ftaudit.stats import Contrast

MAX_LENGTH_KS = Threshold("max_length_ks", 0.2, "largest Kolmogorov-Smirnov statistic between train and test "
                                                "example lengths (when significant)")
MAX_OOV_EXCESS = Threshold("max_oov_excess", 0.05, "largest excess of the test out-of-vocabulary rate over that of "
                                                   "held-out train text")


def _distribution_shift(r: ShiftResult, threshold: Limit) -> Judgement:
    max_ks, alpha, max_oov = threshold(MAX_LENGTH_KS.name), threshold(SHIFT_ALPHA.name), threshold(MAX_OOV_EXCESS.name)
    numbers = {"length_ks": r.length_ks, "length_ks_p": r.length_ks_p, "train_mean_length": r.train_mean_length,
               "test_mean_length": r.test_mean_length, "oov_rate": r.oov_rate,
               "expected_oov_rate": r.expected_oov_rate, "oov_excess": r.oov_excess, "max_length_ks": max_ks,
               "max_oov_excess": max_oov, "shift_alpha": alpha}
    lengths = (f"lengths differ by KS {r.length_ks:.3f} (p = {r.length_ks_p:.2g}; mean {r.train_mean_length:.1f} "
               f"words in train vs {r.test_mean_length:.1f} in test)")
    vocab = (f"{pct(r.oov_rate)} of test words are unseen in train vs {pct(r.expected_oov_rate)} for held-out train "
             f"text")
    reasons = []
    if r.length_ks > max_ks and r.length_ks_p < alpha:
        reasons.append((MAX_LENGTH_KS.name, f"{lengths}, above {max_ks:g}"))
    if r.oov_excess > max_oov:
        reasons.append((MAX_OOV_EXCESS.name, f"{vocab}, an excess of {pct(r.oov_excess)} (limit {pct(max_oov)})"))
    axis, c = _shift_impact(r, [name for name, _ in reasons])
    numbers.update(impact_axis=axis, **impact_numbers(c))
    cost = ""
    if c is not None and c.difference is not None:
        cost = "; " + impact_text(c, f"the {pct(r.least_like_share)} of test least like train by {axis}", "the rest")
    if reasons:
        return Judgement(Severity.WARN, "test looks unlike train: " + "; ".join(t for _, t in reasons) + cost,
                         numbers, reasons[0][0])
    return Judgement(Severity.PASS, f"{lengths}; {vocab}{cost}", numbers, MAX_LENGTH_KS.name)


def _shift_impact(r: ShiftResult, fired: list[str]) -> tuple[str | None, Contrast | None]:
    """The axis whose least-like-train examples are judged: the one that fired (both: the larger lower bound)."""
    axes = {"length": (MAX_LENGTH_KS.name, r.length_impact), "vocabulary": (MAX_OOV_EXCESS.name, r.vocabulary_impact)}
    chosen = [(a, c) for a, (name, c) in axes.items() if name in fired] or list((a, c) for a, (_, c) in axes.items())
    measured = [(a, c) for a, c in chosen if c is not None and c.difference_ci is not None]
    if not measured:
        return None, None
    return max(measured, key=lambda ac: (ac[1].difference_ci[0], ac[0]))


RULES = (
    Rule("distribution-shift", "test texts look like train texts (length, vocabulary)", "shift",
         _distribution_shift, (MAX_LENGTH_KS, SHIFT_ALPHA, MAX_OOV_EXCESS),
         emits=("length_ks", "length_ks_p", "train_mean_length", "test_mean_length", "oov_rate", "expected_oov_rate",
                "oov_excess", "max_length_ks", "max_oov_excess", "shift_alpha", "impact_axis", *IMPACT_KEYS)),
)
