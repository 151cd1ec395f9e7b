"""Cross-probe reasoning: findings -> ranked root causes, driven by the evidence table in causes.toml.

A cause's score is the sum of the weights of the evidence rows that fire (see the header of causes.toml);
confidence = 1 - exp(-score). A cause with `impact` conditions is named a root cause only when they all hold (its
measured cost on accuracy); otherwise it is listed under `also_noticed`. The engine knows no cause by name except
`healthy`: all the medicine is data.
"""

from __future__ import annotations

import math
import operator
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Callable, Iterable, Mapping

from ftaudit.results import Diagnosis, Finding, Noticed, Remedy, RootCause, Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

JUDGED = (Severity.PASS, Severity.WARN, Severity.FAIL)  # skipped and errored findings are never evidence
PROBLEMS = (Severity.WARN, Severity.FAIL, Severity.ERROR)
_SEVERITY_COND = re.compile(r"^(?P<code>[a-z0-9][a-z0-9-]*)\s*(?P<op>>=|=)\s*(?P<sev>pass|warn|fail)$")
_NUMBER_COND = re.compile(r"^(?P<code>[a-z0-9][a-z0-9-]*)\s*:\s*(?P<left>\w+)\s*(?P<op><=|>=|<|>)\s*"
                          r"(?P<right>[\w.+-]+)$")
_OPS: dict[str, Callable[[float, float], bool]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt,
                                                   ">=": operator.ge}


@dataclass(frozen=True)
class CauseSpec:
    code: str
    title: str
    summary: str
    next: str  # the imperative the verdict ends with
    remedies: tuple[Remedy, ...]
    impact: tuple["Condition | AnyOf", ...] = ()  # all must hold for the cause to be named (its measured impact)
    no_impact: str = ""  # what it means when they do not, for the "also noticed" list
    # its impact compares the model's accuracy between groups of test examples, which a model that learned nothing
    # scores alike: on such a model the note says the cost could not be shown (Table.unlearned)
    group_contrast: bool = False


@dataclass(frozen=True)
class Condition:
    """One clause of a `when` list: a finding's severity, or a comparison between its numbers."""

    text: str
    finding: str
    severity: Severity | None = None  # severity clause: finding == severity, or >= when at_least
    at_least: bool = False
    left: str = ""  # number clause: numbers[left] OP (numbers[right], else the constant `right`, else float(right))
    op: str = ""
    right: str = ""
    constant: float | None = None  # the value of `right` when it names one of the table's [constants]

    @classmethod
    def parse(cls, text: str, constants: Mapping[str, float] | None = None) -> "Condition":
        m = _SEVERITY_COND.match(text.strip())
        if m:
            return cls(text=text, finding=m["code"], severity=Severity(m["sev"]), at_least=m["op"] == ">=")
        m = _NUMBER_COND.match(text.strip())
        if m:
            value = (constants or {}).get(m["right"])
            return cls(text=text, finding=m["code"], left=m["left"], op=m["op"], right=m["right"],
                       constant=None if value is None else float(value))
        raise ValueError(f"cannot read the condition {text!r}: write 'CODE = SEVERITY', 'CODE >= SEVERITY' or "
                         "'CODE: NUMBER OP NUMBER'")

    def holds(self, findings: Mapping[str, Finding], constants: Mapping[str, float] | None = None) -> bool:
        f = findings.get(self.finding)
        if f is None or f.severity not in JUDGED:
            return False
        if self.severity is not None:
            return f.severity.rank >= self.severity.rank if self.at_least else f.severity is self.severity
        left = _number(f.numbers.get(self.left))
        right = self._right(f, constants or {})
        return left is not None and right is not None and _OPS[self.op](left, right)

    def _right(self, f: Finding, constants: Mapping[str, float]) -> float | None:
        """The right side: one of the finding's numbers, else a named constant of the table, else a literal."""
        if self.right in f.numbers:
            return _number(f.numbers[self.right])
        if self.constant is not None:  # resolved when the table was parsed
            return self.constant
        return _number(constants[self.right]) if self.right in constants else _number(self.right)

    def explain(self, findings: Mapping[str, Finding]) -> str:
        """Why the condition does not hold, in the words of the finding's numbers."""
        f = findings.get(self.finding)
        if f is None or f.severity not in JUDGED:
            return f"{self.finding} was not checked"
        if self.severity is not None:
            return f"{self.finding} is {f.severity.value}"
        value = _number(f.numbers.get(self.left))
        if value is None:
            return f"{self.finding} could not measure {self.left} (no model predictions, or no examples to compare)"
        return f"{self.finding}: {self.left} = {value:.3g}, needs {self.op} {self.right}"


@dataclass(frozen=True)
class AnyOf:
    """An `impact` clause met by any of its conditions: one cost measured two ways (in causes.toml, a list inside
    the list)."""

    options: tuple[Condition, ...]

    @property
    def findings(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.finding for c in self.options))

    def holds(self, findings: Mapping[str, Finding], constants: Mapping[str, float] | None = None) -> bool:
        return any(c.holds(findings, constants) for c in self.options)

    def explain(self, findings: Mapping[str, Finding]) -> str:
        return " nor ".join(c.explain(findings) for c in self.options)


def _impact_clause(item: Any, constants: Mapping[str, float]) -> Condition | AnyOf:
    if isinstance(item, str):
        return Condition.parse(item, constants)
    return AnyOf(tuple(Condition.parse(t, constants) for t in item))


def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Evidence:
    """One row of the table: severity weights of `finding`, a conjunction `when` worth `weight`, or both."""

    cause: str
    finding: str | None
    weights: Mapping[str, float]  # severity value -> weight (rows with a finding)
    when: tuple[Condition, ...] = ()
    weight: float | None = None  # rows without a finding
    why: str = ""

    def contribution(self, findings: Mapping[str, Finding],
                     constants: Mapping[str, float] | None = None) -> float | None:
        """The row's weight on these findings, or None when it does not fire."""
        if not all(c.holds(findings, constants) for c in self.when):
            return None
        if self.finding is None:
            return self.weight
        f = findings.get(self.finding)
        if f is None or f.severity not in JUDGED:
            return None
        return self.weights.get(f.severity.value)

    @property
    def codes(self) -> tuple[str, ...]:
        named = ((self.finding,) if self.finding else ()) + tuple(c.finding for c in self.when)
        return tuple(dict.fromkeys(named))


@dataclass(frozen=True)
class Table:
    causes: Mapping[str, CauseSpec]
    evidence: tuple[Evidence, ...]
    min_score: float
    neutral: Mapping[str, str]  # rule code -> why it is not evidence for any cause
    constants: Mapping[str, float] = field(default_factory=dict)  # named numbers the conditions compare with
    # rule code -> why its warning is a way to improve a model that works, not a failure: with no root cause, the
    # verdict says "no problem found" and names it as an opportunity instead of a check that did not pass
    opportunities: Mapping[str, str] = field(default_factory=dict)
    # when all hold, the model learned nothing: the notes of `group_contrast` causes add `unlearned_note`
    unlearned: tuple["Condition", ...] = ()
    unlearned_note: str = ""

    def finding_codes(self) -> set[str]:
        return ({code for ev in self.evidence for code in ev.codes} | {c.finding for c in self.unlearned}
                | {code for spec in self.causes.values() for c in spec.impact
                   for code in (c.findings if isinstance(c, AnyOf) else (c.finding,))})


@lru_cache(maxsize=1)
def load_table() -> Table:
    text = resources.files("ftaudit").joinpath("causes.toml").read_text(encoding="utf-8")
    return parse_table(tomllib.loads(text))


def parse_table(raw: Mapping[str, Any]) -> Table:
    constants = {str(k): float(v) for k, v in raw.get("constants", {}).items()}
    causes = {}
    for code, spec in raw["causes"].items():
        remedies = tuple(Remedy(action=r["action"], reason=r["reason"], reference=r.get("reference", ""))
                         for r in spec.get("remedies", ()))
        impact = tuple(_impact_clause(t, constants) for t in spec.get("impact", ()))
        if impact and not spec.get("no_impact"):
            raise ValueError(f"the cause {code!r} has `impact` conditions but no `no_impact` text for the report")
        causes[code] = CauseSpec(code=code, title=spec["title"], summary=spec["summary"], next=spec["next"],
                                 remedies=remedies, impact=impact, no_impact=spec.get("no_impact", ""),
                                 group_contrast=bool(spec.get("group_contrast", False)))
    if "healthy" not in causes:
        raise ValueError("causes.toml must define the `healthy` cause")
    evidence = []
    for row in raw.get("evidence", ()):
        if row["cause"] not in causes:
            raise ValueError(f"evidence names unknown cause {row['cause']!r}")
        when = tuple(Condition.parse(t, constants) for t in row.get("when", ()))
        finding = row.get("finding")
        weights = {s.value: float(row[s.value]) for s in JUDGED if s.value in row}
        if finding is None and (not when or "weight" not in row or weights):
            raise ValueError(f"an evidence row for {row['cause']!r} needs `finding` with severity weights, or "
                             "`when` with `weight`")
        if finding is not None and (not weights or "weight" in row):
            raise ValueError(f"the evidence row {row['cause']!r} <- {finding!r} needs severity weights, not `weight`")
        if finding is None and not row.get("why"):
            raise ValueError(f"the conjunction for {row['cause']!r} needs a `why` for the report")
        evidence.append(Evidence(cause=row["cause"], finding=finding, weights=weights, when=when,
                                 weight=float(row["weight"]) if "weight" in row else None, why=row.get("why", "")))
    unlearned = raw.get("unlearned", {})
    if unlearned and not (unlearned.get("when") and unlearned.get("note")):
        raise ValueError("[unlearned] needs `when` (the model learned nothing) and `note` (for the report)")
    return Table(causes=causes, evidence=tuple(evidence), min_score=float(raw.get("min_score", 0.5)),
                 neutral=dict(raw.get("neutral", {})), constants=constants,
                 opportunities=dict(raw.get("opportunities", {})),
                 unlearned=tuple(Condition.parse(t, constants) for t in unlearned.get("when", ())),
                 unlearned_note=str(unlearned.get("note", "")))


@dataclass
class _Tally:
    """Running score of one cause: contributions by finding code (single rows) and by conjunction."""

    score: float = 0.0
    by_finding: dict[str, float] = field(default_factory=dict)
    conjunctions: list[tuple[float, Evidence]] = field(default_factory=list)

    def add(self, ev: Evidence, w: float) -> None:
        self.score += w
        if ev.finding is not None:
            self.by_finding[ev.finding] = self.by_finding.get(ev.finding, 0.0) + w
        else:
            self.conjunctions.append((w, ev))

    def supporting(self) -> list[str]:
        """Finding codes that argue for the cause, strongest first (conjunctions' findings after single rows)."""
        single = sorted(((w, c) for c, w in self.by_finding.items() if w > 0), key=lambda t: (-t[0], t[1]))
        codes = [c for _, c in single]
        for w, ev in sorted(self.conjunctions, key=lambda t: -t[0]):
            if w > 0:
                codes.extend(c for c in ev.codes if c not in codes)
        return codes


def diagnose(findings: Iterable[Finding], table: Table | None = None) -> Diagnosis:
    """Score every cause by the evidence rows that fire; name those supported, above min_score and of measured
    impact, best first; list the supported ones without measured impact under also_noticed."""
    table = table or load_table()
    by_code = {f.code: f for f in findings}
    tallies: dict[str, _Tally] = {}
    for ev in table.evidence:
        w = ev.contribution(by_code, table.constants)
        if w is not None and w != 0:
            tallies.setdefault(ev.cause, _Tally()).add(ev, w)
    ranked = sorted((c for c, t in tallies.items() if t.score >= table.min_score and t.supporting()),
                    key=lambda c: (-tallies[c].score, c))
    missing = {c: [cond for cond in table.causes[c].impact if not cond.holds(by_code, table.constants)]
               for c in ranked}
    causes = tuple(_root_cause(table.causes[c], tallies[c], by_code) for c in ranked if not missing[c])
    unlearned = bool(table.unlearned) and all(c.holds(by_code, table.constants) for c in table.unlearned)
    unshown = {c for c in ranked if missing[c] and unlearned and table.causes[c].group_contrast}
    noticed = tuple(_noticed(table.causes[c], tallies[c], by_code, missing[c],
                             table.unlearned_note if c in unshown else "") for c in ranked if missing[c])
    if not causes:
        return _healthy(table, by_code, noticed, unshown)
    return Diagnosis(verdict=_verdict(table, causes, by_code), root_causes=causes, also_noticed=noticed)


def _noticed(spec: CauseSpec, tally: _Tally, by_code: Mapping[str, Finding],
             missing: list[Condition | AnyOf], note: str = "") -> Noticed:
    support = tally.supporting()
    why = f"{spec.no_impact} ({'; '.join(c.explain(by_code) for c in missing)})" + (f"; {note}" if note else "")
    return Noticed(code=spec.code, title=spec.title, why=why, evidence=tuple(_line(by_code[c]) for c in support),
                   findings=tuple(support))


def _line(f: Finding) -> str:
    return f"{f.code} ({f.severity.value}): {f.message}"


def _root_cause(spec: CauseSpec, tally: _Tally, by_code: Mapping[str, Finding]) -> RootCause:
    support = tally.supporting()
    evidence = [_line(by_code[c]) for c in support]
    against = []
    for code, w in sorted(tally.by_finding.items(), key=lambda t: t[1]):
        if w < 0:
            against.append(_line(by_code[code]))
    for w, ev in sorted(tally.conjunctions, key=lambda t: -abs(t[0])):
        (evidence if w > 0 else against).append(f"{' + '.join(ev.codes)}: {ev.why}")
    return RootCause(code=spec.code, title=spec.title, confidence=round(1 - math.exp(-tally.score), 3),
                     summary=spec.summary, evidence=tuple(evidence), against=tuple(against),
                     remedies=spec.remedies, findings=tuple(support))


def _verdict(table: Table, causes: tuple[RootCause, ...], by_code: Mapping[str, Finding]) -> str:
    """One sentence: the most likely cause, the finding that shows it best, what to do next, what else is likely."""
    top = causes[0]
    spec = table.causes[top.code]
    lead = by_code[top.findings[0]]
    verdict = f"{spec.title}: {lead.message.rstrip('.')}; next, {spec.next}"
    others = [c.title.lower() for c in causes[1:3]]
    if others:
        verdict += f" (also likely: {' and '.join(others)})"
    return verdict + "."


def _healthy(table: Table, by_code: Mapping[str, Finding], noticed: tuple[Noticed, ...] = (),
             unshown: set[str] | frozenset[str] = frozenset()) -> Diagnosis:
    spec = table.causes["healthy"]
    raised = sorted((f for f in by_code.values() if f.severity in PROBLEMS), key=lambda f: -f.severity.rank)
    chances = [f for f in raised if f.code in table.opportunities and f.severity is Severity.WARN]
    problems = [f for f in raised if f not in chances]
    gap = by_code.get("gap-too-large")
    if not problems:
        detail = f": {gap.message}" if gap is not None and gap.severity is Severity.PASS else ""
        chance = "".join(f"; opportunity: {f.message.rstrip('.')}" for f in chances)
        verdict = f"{spec.title}{detail}{chance}; {spec.next}."
        summary = spec.summary + (" An opportunity remains (see the findings)." if chances else "")
    else:
        first = problems[0]
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        chance = "".join(f" (opportunity: {f.code}, {f.message.rstrip('.')})" for f in chances)
        verdict = (f"No root cause stands out, but {len(problems)} check(s) did not pass: {first.code} "
                   f"({first.message.rstrip('.')}){more}; read those findings before trusting the model{chance}.")
        summary = (f"No cause in the diagnosis table is supported strongly enough; {len(problems)} check(s) still "
                   "raised a warning, a failure or an error (see the findings).")
        if noticed:
            summary = summary.replace("strongly enough", "strongly enough and of measured impact")
            parts = []
            for label, group in (("without a measured cost", [n for n in noticed if n.code not in unshown]),
                                 ("of a cost a model that learned nothing cannot show",
                                  [n for n in noticed if n.code in unshown])):
                if group:
                    parts.append(f"{label}: {', '.join(n.title.lower() for n in group)}")
            verdict = verdict[:-1] + f" (also noticed, {'; '.join(parts)})."
    # With unexplained problems "healthy" is only the best reading of the table, not a clean bill of health.
    confidence = 0.5 if problems else 1.0
    return Diagnosis(verdict=verdict, root_causes=(RootCause(code="healthy", title=spec.title, confidence=confidence,
                                                             summary=summary),), also_noticed=noticed)


def cause_title(code: str) -> str:
    spec = load_table().causes.get(code)
    return spec.title if spec else code
