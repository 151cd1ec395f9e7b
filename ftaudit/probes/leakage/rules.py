"""Rules over the leakage probe: do test examples reappear in train?

It also emits what the defect measurably cost (`impact`, `impact_ci_low`, `impact_ci_high`: the accuracy
difference that supports the cause, positive when it does), for the diagnosis to require.
"""

from __future__ import annotations

from ftaudit.probes.leakage import LeakageResult
from ftaudit.results import Severity
from ftaudit.rules.base import IMPACT_KEYS, Judgement, Limit, Rule, Threshold, impact_numbers, impact_text, pct

WARN_LEAKED = Threshold("warn_leaked_share", 0.01, "share of test examples with an (exact or near) twin in train "
                                                   "above which leakage warns")
MAX_LEAKED = Threshold("max_leaked_share", 0.05, "share of test examples with a twin in train above which leakage "
                                                 "fails: the test score is inflated")


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


RULES = (
    Rule("train-test-leakage", "test examples do not reappear in train", "leakage", _leakage,
         (WARN_LEAKED, MAX_LEAKED),
         emits=("leaked_share", "exact", "near", "n_test", "label_disagreements", "leaked_accuracy", "clean_accuracy",
                "warn_leaked_share", "max_leaked_share", "near_checked", "near_rejected", *IMPACT_KEYS)),
)
