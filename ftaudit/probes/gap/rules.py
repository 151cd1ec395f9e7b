"""Rules over the generalization gap: too large a gap, no better than the majority class, a class left behind."""

from __future__ import annotations

from typing import Callable

from ftaudit.probes.gap import GapResult
from ftaudit.results import Severity
from ftaudit.rules.base import Judgement, Rule, Threshold, pct

MAX_GAP = Threshold("max_gap", 0.10, "largest train-minus-test accuracy gap that passes; fails when the gap's "
                                     "95% CI lower bound is above it, warns when only the estimate is")
MIN_LIFT = Threshold("min_lift_over_baseline", 0.02, "test accuracy must beat the majority-class baseline by at "
                                                     "least this much")
MAX_CLASS_GAP = Threshold("max_class_recall_gap", 0.25, "largest train-minus-test recall gap of any one class")
MAX_LOSS_GAP = Threshold("max_loss_gap", 0.5, "largest test-minus-train mean cross-entropy (nats) before warning")


def gap_at_test_mix(r: GapResult) -> tuple[float, float, float] | None:
    """The gap with train's per-class recall weighted by test's class shares, with a 95% normal interval.

    The part of the gap a shift in class shares between train and test cannot explain: a model that favours a class
    that is 33% of train and 20% of test scores higher on train without having memorised anything. Over the classes
    present in both splits; None when there are none.
    """
    both = [(tr, te) for tr, te in zip(r.train.per_class, r.test.per_class) if tr.support and te.support]
    total = sum(te.support for _, te in both)
    if not total:
        return None
    gap = var = 0.0
    for tr, te in both:
        w = te.support / total
        gap += w * (tr.recall - te.recall)
        var += w * w * (tr.recall * (1 - tr.recall) / tr.support + te.recall * (1 - te.recall) / te.support)
    half = 1.96 * var ** 0.5
    return gap, gap - half, gap + half


def _gap(r: GapResult, threshold: Callable[[str], float]) -> Judgement:
    limit = threshold(MAX_GAP.name)
    lo, hi = r.accuracy_gap_ci
    # Train accuracy at the train majority share means the gap is the class prior, not memorisation; test accuracy
    # above train accuracy (test_lead_ci_low > 0) is the signature of wrong training labels.
    numbers = {"train_accuracy": r.train.accuracy, "test_accuracy": r.test.accuracy, "gap": r.accuracy_gap,
               "gap_ci_low": lo, "gap_ci_high": hi, "max_gap": limit,
               "train_accuracy_ci_low": r.train.accuracy_ci[0], "train_majority_share": r.train.majority_baseline,
               "test_lead": -r.accuracy_gap, "test_lead_ci_low": -hi}
    text = (f"train accuracy {pct(r.train.accuracy)} vs test {pct(r.test.accuracy)}: gap {pct(r.accuracy_gap)} "
            f"(95% CI {pct(lo)} to {pct(hi)})")
    prior = ""
    if (mixed := gap_at_test_mix(r)) is not None:
        numbers.update(gap_at_test_mix=mixed[0], gap_at_test_mix_ci_low=mixed[1], gap_at_test_mix_ci_high=mixed[2])
        if abs(mixed[0] - r.accuracy_gap) >= 0.01:
            prior = (f"; at test's class shares (train's recall per class weighted by test's class shares) the gap "
                     f"is {pct(mixed[0])} (95% CI {pct(mixed[1])} to {pct(mixed[2])}): the rest comes from the "
                     "classes' shares differing between train and test")
    if r.train.accuracy_ci[0] <= r.train.majority_baseline:
        prior += f"; train accuracy is no higher than the train majority share {pct(r.train.majority_baseline)}"
    if lo > limit:
        return Judgement(Severity.FAIL, f"{text} is above the {pct(limit)} limit{prior}", numbers, MAX_GAP.name)
    if r.accuracy_gap > limit:
        return Judgement(Severity.WARN, f"{text}; the estimate is above the {pct(limit)} limit but the interval "
                                        f"reaches below it{prior}", numbers, MAX_GAP.name)
    return Judgement(Severity.PASS, f"{text} is within the {pct(limit)} limit{prior}", numbers, MAX_GAP.name)


def _baseline(r: GapResult, threshold: Callable[[str], float]) -> Judgement:
    lift = threshold(MIN_LIFT.name)
    base = r.test.majority_baseline
    lo, hi = r.test.accuracy_ci
    numbers = {"test_accuracy": r.test.accuracy, "test_accuracy_ci_low": lo, "test_accuracy_ci_high": hi,
               "majority_baseline": base, "majority_class": r.majority_class, "min_lift": lift,
               "test_balanced_accuracy": r.test.balanced_accuracy,
               "top_predicted_share": max(r.test.predicted_share)}
    text = (f"test accuracy {pct(r.test.accuracy)} (95% CI {pct(lo)} to {pct(hi)}) vs {pct(base)} for always "
            f"predicting {r.majority_class!r}")
    if hi < base + lift:
        return Judgement(Severity.FAIL, f"{text}: no better than the majority-class baseline", numbers, MIN_LIFT.name)
    if lo < base + lift:
        return Judgement(Severity.WARN, f"{text}: not clearly better than the baseline", numbers, MIN_LIFT.name)
    return Judgement(Severity.PASS, f"{text}: clearly better than the baseline", numbers, MIN_LIFT.name)


def _class_gap(r: GapResult, threshold: Callable[[str], float]) -> Judgement:
    limit = threshold(MAX_CLASS_GAP.name)
    gaps = [(tr.recall - te.recall, tr.label, tr.recall, te.recall)
            for tr, te in zip(r.train.per_class, r.test.per_class) if te.support > 0 and tr.support > 0]
    if not gaps:
        return None  # type: ignore[return-value]
    worst = max(gaps)
    numbers = {"class": worst[1], "train_recall": worst[2], "test_recall": worst[3], "recall_gap": worst[0],
               "max_class_recall_gap": limit}
    text = f"class {worst[1]!r}: recall {pct(worst[2])} on train vs {pct(worst[3])} on test"
    if worst[0] > limit:
        return Judgement(Severity.WARN, f"{text}, a gap of {pct(worst[0])} (limit {pct(limit)})", numbers,
                         MAX_CLASS_GAP.name)
    return Judgement(Severity.PASS, f"{text}; every class's recall gap is within {pct(limit)}", numbers,
                     MAX_CLASS_GAP.name)


def _loss_gap(r: GapResult, threshold: Callable[[str], float]) -> Judgement:
    limit = threshold(MAX_LOSS_GAP.name)
    numbers = {"train_loss": r.train.loss, "test_loss": r.test.loss, "loss_gap": r.loss_gap, "max_loss_gap": limit}
    text = f"mean loss {r.train.loss:.3f} nats on train vs {r.test.loss:.3f} on test"
    if r.loss_gap > limit:
        return Judgement(Severity.WARN, f"{text}: the test loss is {r.loss_gap:.2f} higher (limit {limit:.2f}), "
                                        "a sign of over-confident memorisation", numbers, MAX_LOSS_GAP.name)
    return Judgement(Severity.PASS, f"{text}", numbers, MAX_LOSS_GAP.name)


RULES = (
    Rule("gap-too-large", "train/test accuracy gap within max_gap", "gap", _gap, (MAX_GAP,),
         emits=("train_accuracy", "test_accuracy", "gap", "gap_ci_low", "gap_ci_high", "max_gap", "train_majority_share",
                "train_accuracy_ci_low", "test_lead", "test_lead_ci_low", "gap_at_test_mix", "gap_at_test_mix_ci_low",
                "gap_at_test_mix_ci_high")),
    Rule("no-better-than-baseline", "test accuracy beats the majority-class baseline", "gap", _baseline, (MIN_LIFT,),
         emits=("test_accuracy", "test_accuracy_ci_low", "test_accuracy_ci_high", "majority_baseline", "majority_class",
                "min_lift", "test_balanced_accuracy", "top_predicted_share")),
    Rule("class-gap-too-large", "no class generalizes much worse than the others", "gap", _class_gap,
         (MAX_CLASS_GAP,),
         emits=("class", "train_recall", "test_recall", "recall_gap", "max_class_recall_gap")),
    Rule("loss-gap-too-large", "test loss close to train loss", "gap", _loss_gap, (MAX_LOSS_GAP,),
         emits=("train_loss", "test_loss", "loss_gap", "max_loss_gap")),
)
