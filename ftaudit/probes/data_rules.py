"""Rules over the data checks: leakage, duplicates, conflicting labels, imbalance, shift, truncation, calibration.

Each data rule also emits what its defect measurably cost (`impact`, `impact_ci_low`, `impact_ci_high`: the
accuracy difference that supports the cause, positive when it does), for the diagnosis to require.
"""

from __future__ import annotations

from typing import Callable

from ftaudit.probes.balance import BalanceResult
from ftaudit.probes.calibration import CalibrationResult
from ftaudit.probes.duplicates import DuplicatesResult
from ftaudit.probes.leakage import LeakageResult
from ftaudit.probes.shift import ShiftResult
from ftaudit.probes.truncation import TruncationResult
from ftaudit.results import Severity
from ftaudit.stats import Contrast
from ftaudit.probes.duplicates import SplitDuplicates
from ftaudit.rules.base import IMPACT_KEYS, Judgement, Rule, Threshold, impact_numbers, impact_text, pct

Limit = Callable[[str], float]

WARN_LEAKED = Threshold("warn_leaked_share", 0.01, "share of test examples with an (exact or near) twin in train "
                                                   "above which leakage warns")
MAX_LEAKED = Threshold("max_leaked_share", 0.05, "share of test examples with a twin in train above which leakage "
                                                 "fails: the test score is inflated")
MAX_DUPLICATES = Threshold("max_duplicate_share", 0.05, "largest share of rows in a split that repeat an earlier "
                                                        "row (after normalisation)")
MAX_CONFLICTS = Threshold("max_conflicting_share", 0.005, "largest share of rows in a split whose text also "
                                                          "occurs with a different label")
MIN_CLASS_RATIO = Threshold("min_class_ratio", 0.2, "the rarest train class's share divided by the uniform share "
                                                    "(1/classes) must reach this")
MAX_LABEL_SHIFT = Threshold("max_label_shift", 0.1, "largest total variation distance between the train and test "
                                                    "label distributions (when significant)")
SHIFT_ALPHA = Threshold("shift_alpha", 0.01, "significance level of the shift tests (chi-squared for labels, "
                                             "Kolmogorov-Smirnov for lengths)")
MAX_LENGTH_KS = Threshold("max_length_ks", 0.2, "largest Kolmogorov-Smirnov statistic between train and test "
                                                "example lengths (when significant)")
MAX_OOV_EXCESS = Threshold("max_oov_excess", 0.05, "largest excess of the test out-of-vocabulary rate over that of "
                                                   "held-out train text")
MAX_TRUNCATED = Threshold("max_truncated_share", 0.05, "largest share of examples in a split longer than "
                                                       "--max-length before warning")
MAX_TOKENS_CUT = Threshold("max_truncated_tokens_share", 0.2, "largest share of a split's tokens cut by "
                                                              "--max-length before failing")
MAX_ECE = Threshold("max_ece", 0.05, "largest expected calibration error on test (Desai & Durrett 2020: a few "
                                     "percent for in-domain fine-tuned BERT)")


def _leakage(r: LeakageResult, threshold: Limit) -> Judgement:
    warn, fail = threshold(WARN_LEAKED.name), threshold(MAX_LEAKED.name)
    numbers = {"leaked_share": r.leaked_share, "exact": r.exact, "near": r.near, "n_test": r.n_test,
               "label_disagreements": r.label_disagreements, "leaked_accuracy": r.leaked_accuracy,
               "clean_accuracy": r.clean_accuracy, "warn_leaked_share": warn, "max_leaked_share": fail,
               "near_checked": r.near_checked, "near_rejected": r.near_rejected,
               **impact_numbers(r.impact, sign=-1)}
    text = (f"{r.exact + r.near} of {r.n_test} test examples ({pct(r.leaked_share)}) have a twin in train "
            f"({r.exact} exact, {r.near} near-duplicates at Jaccard >= {r.similarity:g}")
    text += f"; {r.near_rejected} MinHash candidates fell below it exactly)" if r.near_rejected else ")"
    if r.impact is not None and r.impact.difference is not None:
        text += "; " + impact_text(r.impact, "leaked examples", "clean ones")
    if r.leaked_share > fail:
        return Judgement(Severity.FAIL, f"{text}, above the {pct(fail)} limit", numbers, MAX_LEAKED.name)
    if r.leaked_share > warn:
        return Judgement(Severity.WARN, f"{text}, above {pct(warn)}", numbers, WARN_LEAKED.name)
    return Judgement(Severity.PASS, f"{text}, within {pct(warn)}", numbers, WARN_LEAKED.name)


def _duplicates(r: DuplicatesResult, threshold: Limit) -> Judgement | None:
    if not r.splits:
        return None
    limit = threshold(MAX_DUPLICATES.name)
    worst = max(r.splits, key=lambda s: (s.duplicate_share, s.split))
    numbers = {"split": worst.split, "duplicate_rows": worst.duplicate_rows, "n": worst.n,
               "duplicate_share": worst.duplicate_share, "largest_group": worst.largest_group,
               "max_duplicate_share": limit, "repeated_share": worst.repeated_rows / worst.n if worst.n else 0.0,
               "error_share": _error_share(worst, worst.errors_on_repeated)}
    text = (f"{worst.duplicate_rows} of {worst.n} {worst.split} rows ({pct(worst.duplicate_share)}) repeat an "
            f"earlier row")
    if worst.largest_group > 1:
        text += f"; the most repeated text occurs {worst.largest_group} times"
    if worst.errors and worst.repeated_rows:
        text += (f"; the repeated rows ({pct(numbers['repeated_share'])} of {worst.split}) hold "
                 f"{worst.errors_on_repeated} of its {worst.errors} errors")
    if worst.duplicate_share > limit:
        return Judgement(Severity.WARN, f"{text} (limit {pct(limit)})", numbers, MAX_DUPLICATES.name)
    return Judgement(Severity.PASS, f"{text}; every split is within {pct(limit)}", numbers, MAX_DUPLICATES.name)


def _error_share(s: SplitDuplicates, errors_on: int | None) -> float | None:
    """The share of the split's errors that fall on the rows in question (None without a model or errors)."""
    return errors_on / s.errors if s.errors and errors_on is not None else None


def _conflicts(r: DuplicatesResult, threshold: Limit) -> Judgement | None:
    if not r.splits:
        return None
    limit = threshold(MAX_CONFLICTS.name)
    worst = max(r.splits, key=lambda s: (s.conflicting_share, s.split))
    numbers = {"split": worst.split, "conflicting_groups": worst.conflicting_groups,
               "conflicting_rows": worst.conflicting_rows, "n": worst.n, "conflicting_share": worst.conflicting_share,
               "max_conflicting_share": limit, "error_share": _error_share(worst, worst.errors_on_conflicting)}
    text = (f"{worst.conflicting_groups} texts in {worst.split} occur with different labels, "
            f"{worst.conflicting_rows} of {worst.n} rows ({pct(worst.conflicting_share)})")
    if worst.errors and worst.conflicting_rows:
        text += f", holding {worst.errors_on_conflicting} of the model's {worst.errors} errors there"
    if worst.conflicting_share > limit:
        return Judgement(Severity.WARN, f"{text}, above {pct(limit)}: the labels contradict each other",
                         numbers, MAX_CONFLICTS.name)
    return Judgement(Severity.PASS, f"{text}; within {pct(limit)}", numbers, MAX_CONFLICTS.name)


def _imbalance(r: BalanceResult, threshold: Limit) -> Judgement:
    limit = threshold(MIN_CLASS_RATIO.name)
    numbers = {"rarest_class": r.rarest_class, "rarest_share": r.rarest_share, "uniform_share": r.uniform_share,
               "rarest_ratio": r.rarest_ratio, "min_class_ratio": limit, **impact_numbers(r.rarest_recall)}
    text = (f"the rarest train class {r.rarest_class!r} has {pct(r.rarest_share)} of the rows, "
            f"{r.rarest_ratio:.2f}x the uniform {pct(r.uniform_share)}")
    if r.rarest_recall is not None and r.rarest_recall.difference is not None:
        text += "; test " + impact_text(r.rarest_recall, "its examples", "the other classes' examples", "recall")
    if r.rarest_share == 0:
        return Judgement(Severity.FAIL, f"{text}: the model cannot learn a class it never sees", numbers,
                         MIN_CLASS_RATIO.name)
    if r.rarest_ratio < limit:
        return Judgement(Severity.WARN, f"{text}, below {limit:g}x: a majority-class model scores well on accuracy",
                         numbers, MIN_CLASS_RATIO.name)
    return Judgement(Severity.PASS, f"{text} (limit {limit:g}x)", numbers, MIN_CLASS_RATIO.name)


def _label_shift(r: BalanceResult, threshold: Limit) -> Judgement:
    limit, alpha = threshold(MAX_LABEL_SHIFT.name), threshold(SHIFT_ALPHA.name)
    train = next(s for s in r.splits if s.split == "train")
    test = next(s for s in r.splits if s.split == "test")
    moved = max(range(len(r.labels)), key=lambda k: abs(test.shares[k] - train.shares[k]))
    numbers = {"total_variation": r.label_tv, "chi2_p": r.label_chi2_p, "class": r.labels[moved],
               "train_share": train.shares[moved], "test_share": test.shares[moved], "max_label_shift": limit,
               "shift_alpha": alpha}
    text = (f"label distributions differ by {r.label_tv:.3f} (total variation, chi-squared p = "
            f"{r.label_chi2_p:.2g}); {r.labels[moved]!r} is {pct(train.shares[moved])} of train vs "
            f"{pct(test.shares[moved])} of test")
    if r.label_tv > limit and r.label_chi2_p < alpha:
        return Judgement(Severity.WARN, f"{text}: above {limit:g}, test's classes are not train's", numbers,
                         MAX_LABEL_SHIFT.name)
    return Judgement(Severity.PASS, f"{text} (limit {limit:g} at p < {alpha:g})", numbers, MAX_LABEL_SHIFT.name)


def _truncation(r: TruncationResult, threshold: Limit) -> Judgement | None:
    if not r.splits:
        return None
    warn, fail = threshold(MAX_TRUNCATED.name), threshold(MAX_TOKENS_CUT.name)
    worst = max(r.splits, key=lambda s: (s.tokens_cut_share, s.truncated_share, s.split))
    numbers = {"split": worst.split, "max_length": r.max_length, "truncated": worst.truncated, "n": worst.n,
               "truncated_share": worst.truncated_share, "tokens_cut_share": worst.tokens_cut_share,
               "max_truncated_share": warn, "max_truncated_tokens_share": fail,
               "impact_basis": r.impact_basis or None, **impact_numbers(r.impact)}
    text = (f"--max-length {r.max_length} cuts {worst.truncated} of {worst.n} {worst.split} examples "
            f"({pct(worst.truncated_share)}) and {pct(worst.tokens_cut_share)} of their tokens")
    cost = ""
    if r.impact is not None:
        names = {"cut-vs-uncut": ("cut test examples", "uncut ones"),
                 "more-vs-less-cut": ("the more-cut half of test", "the less-cut half")}[r.impact_basis]
        cost = "; " + impact_text(r.impact, *names)
    if worst.tokens_cut_share > fail:
        return Judgement(Severity.FAIL, f"{text}: over {pct(fail)} of the text never reaches the model{cost}",
                         numbers, MAX_TOKENS_CUT.name)
    if max(s.truncated_share for s in r.splits) > warn:
        worst = max(r.splits, key=lambda s: (s.truncated_share, s.split))
        return Judgement(Severity.WARN, f"--max-length {r.max_length} cuts {pct(worst.truncated_share)} of "
                                        f"{worst.split} examples, above {pct(warn)}{cost}", numbers,
                         MAX_TRUNCATED.name)
    return Judgement(Severity.PASS, f"{text}; within {pct(warn)} of examples{cost}", numbers, MAX_TRUNCATED.name)


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


def _calibration(r: CalibrationResult, threshold: Limit) -> Judgement:
    limit = threshold(MAX_ECE.name)
    numbers = {"ece": r.ece, "ece_noise": r.ece_noise, "n": r.n, "bins": r.n_bins, "accuracy": r.accuracy,
               "mean_confidence": r.mean_confidence, "max_ece": limit}
    text = (f"ECE {pct(r.ece)} on {r.n} {r.split} examples ({r.n_bins} equal-mass bins; a calibrated model would "
            f"score up to {pct(r.ece_noise)} by chance); mean confidence {pct(r.mean_confidence)} vs accuracy "
            f"{pct(r.accuracy)}")
    if r.ece > limit and r.ece > r.ece_noise:
        side = "over" if r.mean_confidence > r.accuracy else "under"
        return Judgement(Severity.WARN, f"{text}: {side}-confident, above the {pct(limit)} limit", numbers,
                         MAX_ECE.name)
    return Judgement(Severity.PASS, f"{text} (limit {pct(limit)})", numbers, MAX_ECE.name)


RULES = (
    Rule("train-test-leakage", "test examples do not reappear in train", "leakage", _leakage,
         (WARN_LEAKED, MAX_LEAKED),
         emits=("leaked_share", "exact", "near", "n_test", "label_disagreements", "leaked_accuracy", "clean_accuracy",
                "warn_leaked_share", "max_leaked_share", "near_checked", "near_rejected", *IMPACT_KEYS)),
    Rule("duplicates-within-split", "no split is full of repeated rows", "duplicates", _duplicates, (MAX_DUPLICATES,),
         emits=("split", "duplicate_rows", "n", "duplicate_share", "largest_group", "max_duplicate_share",
                "error_share", "repeated_share")),
    Rule("conflicting-labels", "a repeated text carries one label", "duplicates", _conflicts, (MAX_CONFLICTS,),
         emits=("split", "conflicting_groups", "conflicting_rows", "n", "conflicting_share", "max_conflicting_share",
                "error_share")),
    Rule("class-imbalance", "the rarest train class is not far below a uniform share", "balance", _imbalance,
         (MIN_CLASS_RATIO,),
         emits=("rarest_class", "rarest_share", "uniform_share", "rarest_ratio", "min_class_ratio", *IMPACT_KEYS)),
    Rule("label-shift", "test's label distribution matches train's", "balance", _label_shift,
         (MAX_LABEL_SHIFT, SHIFT_ALPHA),
         emits=("total_variation", "chi2_p", "class", "train_share", "test_share", "max_label_shift", "shift_alpha")),
    Rule("truncation-heavy", "--max-length keeps most of every split's text", "truncation", _truncation,
         (MAX_TRUNCATED, MAX_TOKENS_CUT),
         emits=("split", "max_length", "truncated", "n", "truncated_share", "tokens_cut_share", "max_truncated_share",
                "max_truncated_tokens_share", "impact_basis", *IMPACT_KEYS)),
    Rule("distribution-shift", "test texts look like train texts (length, vocabulary)", "shift",
         _distribution_shift, (MAX_LENGTH_KS, SHIFT_ALPHA, MAX_OOV_EXCESS),
         emits=("length_ks", "length_ks_p", "train_mean_length", "test_mean_length", "oov_rate", "expected_oov_rate",
                "oov_excess", "max_length_ks", "max_oov_excess", "shift_alpha", "impact_axis", *IMPACT_KEYS)),
    Rule("calibration-poor", "the model's confidence matches its test accuracy", "calibration", _calibration,
         (MAX_ECE,),
         emits=("ece", "ece_noise", "n", "bins", "accuracy", "mean_confidence", "max_ece")),
)
