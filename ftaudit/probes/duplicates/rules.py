"""Rules over the duplicates probe: repeated rows within a split, and repeated texts with different labels."""

from __future__ import annotations

from ftaudit.probes.duplicates import DuplicatesResult, SplitDuplicates
from ftaudit.results import Severity
from ftaudit.rules.base import Judgement, Limit, Rule, Threshold, pct

MAX_DUPLICATES = Threshold("max_duplicate_share", 0.05, "largest share of rows in a split that repeat an earlier "
                                                        "row (after normalisation)")
MAX_CONFLICTS = Threshold("max_conflicting_share", 0.005, "largest share of rows in a split whose text also "
                                                          "occurs with a different label")


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


RULES = (
    Rule("duplicates-within-split", "no split is full of repeated rows", "duplicates", _duplicates, (MAX_DUPLICATES,),
         emits=("split", "duplicate_rows", "n", "duplicate_share", "largest_group", "max_duplicate_share",
                "error_share", "repeated_share")),
    Rule("conflicting-labels", "a repeated text carries one label", "duplicates", _conflicts, (MAX_CONFLICTS,),
         emits=("split", "conflicting_groups", "conflicting_rows", "n", "conflicting_share", "max_conflicting_share",
                "error_share")),
)
