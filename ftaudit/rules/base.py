"""The Rule contract: a stable code, a one-line summary, declared thresholds and a judge over one probe's result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ftaudit.results import Finding, ProbeOutcome, Severity
from ftaudit.stats import Contrast


@dataclass(frozen=True)
class Threshold:
    """A configurable number a rule judges against; `name` is the key in [thresholds] and --threshold."""

    name: str
    default: float
    help: str
    minimum: float | None = None  # smallest value that makes sense; a lower configured value is a usage error


@dataclass(frozen=True)
class Judgement:
    """What a judge returns: severity, a message that states the fact, and the numbers behind it."""

    severity: Severity
    message: str
    numbers: Mapping[str, float | int | str | None] = field(default_factory=dict)
    threshold: str | None = None  # the name of the threshold that decided, if any


Limit = Callable[[str], float]  # how a judge reads a threshold: its name -> the configured value
Judge = Callable[[Any, Limit], "Judgement | None"]


@dataclass(frozen=True)
class Rule:
    """Judges one probe's result. `judge(result, threshold)` returns a Judgement, or None when it does not apply.

    `emits` names every key its findings' `numbers` may hold: the keys `causes.toml` conditions can compare
    (tests/test_rule_contracts.py checks both directions).
    """

    code: str
    summary: str
    probe: str
    judge: Judge
    thresholds: tuple[Threshold, ...] = ()
    emits: tuple[str, ...] = ()

    def evaluate(self, outcome: ProbeOutcome | None, threshold: Callable[[str], float]) -> Finding:
        def make(severity: Severity, message: str, numbers: Mapping[str, Any] | None = None,
                 threshold_name: str | None = None) -> Finding:
            return Finding(code=self.code, severity=severity, message=message, probe=self.probe,
                           summary=self.summary, numbers=dict(numbers or {}),
                           threshold=threshold(threshold_name) if threshold_name else None,
                           threshold_name=threshold_name)

        if outcome is None:
            return make(Severity.SKIP, f"not checked: the {self.probe} probe was not selected")
        if outcome.status == "skipped":
            return make(Severity.SKIP, f"not checked: the {self.probe} probe was skipped ({outcome.reason})")
        if outcome.status == "error":
            return make(Severity.ERROR, f"not checked: the {self.probe} probe failed ({outcome.reason})")
        judgement = self.judge(outcome.result, threshold)
        if judgement is None:
            return make(Severity.SKIP, "not applicable to this run")
        return make(judgement.severity, judgement.message, judgement.numbers, judgement.threshold)


def pct(x: float | None) -> str:
    """0.1234 -> '12.3%'; None -> 'n/a'."""
    return "n/a" if x is None else f"{100 * x:.1f}%"


# what impact_numbers() emits: rules that use it add these to `emits`
IMPACT_KEYS = ("impact", "impact_ci_low", "impact_ci_high", "impact_n", "impact_n_rest", "impact_accuracy",
               "impact_rest_accuracy", "impact_strata", "impact_unadjusted")


def impact_numbers(c: Contrast | None, *, sign: int = 1) -> dict[str, float | int | None]:
    """A contrast as finding numbers: impact = sign * (rest - group accuracy), positive where it supports the
    cause, with its interval (lower end: a one-sided bound at (1 + level) / 2) and the group sizes."""
    if c is None or c.difference is None or c.difference_ci is None:
        return {"impact": None, "impact_ci_low": None, "impact_ci_high": None,
                "impact_n": c.n if c else None, "impact_n_rest": c.n_rest if c else None}
    lo, hi = c.difference_ci if sign > 0 else (-c.difference_ci[1], -c.difference_ci[0])
    unadjusted = None if c.unadjusted_difference is None else sign * c.unadjusted_difference
    return {"impact": sign * c.difference, "impact_ci_low": lo, "impact_ci_high": hi, "impact_n": c.n,
            "impact_n_rest": c.n_rest, "impact_accuracy": c.accuracy, "impact_rest_accuracy": c.rest_accuracy,
            "impact_strata": c.strata, "impact_unadjusted": unadjusted}


def impact_text(c: Contrast | None, group: str, rest: str, measure: str = "accuracy") -> str:
    """'accuracy 62.0% on cut examples (n=120) vs 81.0% on uncut ones (n=80): -19.0 points (90% CI -31.2 to -6.1)';
    within class, the rest's accuracy is said to be weighted to the group's class mix (or, with one class on both
    sides, that only that class is compared), next to the unweighted gap."""
    if c is None:
        return ""
    if c.difference is None or c.difference_ci is None:
        return f"no {rest if c.n else group} to compare {measure} with"
    lo, hi = -c.difference_ci[1], -c.difference_ci[0]
    within = ""
    unadjusted = c.unadjusted_difference
    if unadjusted is not None and (c.strata >= 2 or abs(unadjusted - c.difference) > 1e-12):
        # one shared class: the others were held by one side only and left out, which the reader must see
        scope = (f"the rest weighted to the group's mix of {c.strata} classes" if c.strata >= 2 else
                 "only the one class both sides hold")
        within = f", within class ({scope}; {-100 * unadjusted:+.1f} points unweighted)"
    return (f"{measure} {pct(c.accuracy)} on {group} (n={c.n}) vs {pct(c.rest_accuracy)} on {rest} (n={c.n_rest})"
            f"{within}: {-100 * c.difference:+.1f} points ({100 * c.level:.0f}% CI {100 * lo:+.1f} to {100 * hi:+.1f})")
