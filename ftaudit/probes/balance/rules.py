"""Rules over the balance probe: class imbalance in train, and label shift between train and test.

It also emits what the defect measurably cost (`impact`, `impact_ci_low`, `impact_ci_high`: the accuracy
difference that supports the cause, positive when it does), for the diagnosis to require.
"""

from __future__ import annotations

from ftaudit.probes.balance import BalanceResult
from ftaudit.results import Severity
from ftaudit.rules.base import IMPACT_KEYS, Judgement, Limit, Rule, Threshold, impact_numbers, impact_text, pct
from ftaudit.rules.shared import SHIFT_ALPHA

MIN_CLASS_RATIO = Threshold("min_class_ratio", 0.2, "the rarest train class's share divided by the uniform share "
                                                    "(1/classes) must reach this")
MAX_LABEL_SHIFT = Threshold("max_label_shift", 0.1, "largest total variation distance between the train and test "
                                                    "label distributions (when significant)")


def _imbalance(r: BalanceResult, threshold: Limit) -> Judgement:
    limit = threshold(MIN_CLASS_RATIO.name)
    numbers = {"rarest_class": r.rarest_class, "rarest_share": r.rarest_share, "uniform_share": r.uniform_share,
               "rarest_ratio": r.rarest_ratio, "min_class_ratio": limit, **impact_numbers(r.rarest_recall)}
    text = (f"the rarest train class {r.rarest_class!r} has {pct(r.rarest_share)} of the rows, "
            f"{r.rarest_ratio:.2f}x the uniform {pct(r.uniform_share)}")
    if r.rarest_recall is not None and r.rarest_recall.difference is not None:
        others = "the other minority classes' examples" if len(r.labels) > 2 else "the other classes' examples"
        text += "; test " + impact_text(r.rarest_recall, "its examples", others, "recall")
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


RULES = (
    Rule("class-imbalance", "the rarest train class is not far below a uniform share", "balance", _imbalance,
         (MIN_CLASS_RATIO,),
         emits=("rarest_class", "rarest_share", "uniform_share", "rarest_ratio", "min_class_ratio", *IMPACT_KEYS)),
    Rule("label-shift", "test's label distribution matches train's", "balance", _label_shift,
         (MAX_LABEL_SHIFT, SHIFT_ALPHA),
         emits=("total_variation", "chi2_p", "class", "train_share", "test_share", "max_label_shift", "shift_alpha")),
)
