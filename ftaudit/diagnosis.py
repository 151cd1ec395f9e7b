"""Cross-probe reasoning: findings -> ranked root causes, driven by the evidence table in causes.toml."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable, Mapping

from ftaudit.results import Diagnosis, Finding, Remedy, RootCause, Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class CauseSpec:
    code: str
    title: str
    summary: str
    remedies: tuple[Remedy, ...]


@dataclass(frozen=True)
class Evidence:
    """How much a finding at each severity counts for (positive) or against (negative) a cause."""

    cause: str
    finding: str
    weights: Mapping[str, float]  # severity value -> weight


@dataclass(frozen=True)
class Table:
    causes: Mapping[str, CauseSpec]
    evidence: tuple[Evidence, ...]
    min_score: float


@lru_cache(maxsize=1)
def load_table() -> Table:
    text = resources.files("ftaudit").joinpath("causes.toml").read_text(encoding="utf-8")
    return parse_table(tomllib.loads(text))


def parse_table(raw: Mapping[str, Any]) -> Table:
    causes = {
        code: CauseSpec(code=code, title=spec["title"], summary=spec["summary"],
                        remedies=tuple(Remedy(**r) for r in spec.get("remedies", ())))
        for code, spec in raw["causes"].items()
    }
    evidence = []
    for row in raw.get("evidence", ()):
        if row["cause"] not in causes:
            raise ValueError(f"evidence names unknown cause {row['cause']!r}")
        weights = {s.value: float(row[s.value]) for s in Severity if s.value in row}
        evidence.append(Evidence(cause=row["cause"], finding=row["finding"], weights=weights))
    return Table(causes=causes, evidence=tuple(evidence), min_score=float(raw.get("min_score", 0.5)))


def diagnose(findings: Iterable[Finding], table: Table | None = None) -> Diagnosis:
    """Score every cause by the findings that support or oppose it; report those above min_score, best first."""
    table = table or load_table()
    by_code = {f.code: f for f in findings}
    scores: dict[str, float] = {}
    support: dict[str, list[Finding]] = {}
    against: dict[str, list[Finding]] = {}
    for ev in table.evidence:
        f = by_code.get(ev.finding)
        if f is None or f.severity.value not in ev.weights:
            continue
        w = ev.weights[f.severity.value]
        scores[ev.cause] = scores.get(ev.cause, 0.0) + w
        (support if w > 0 else against).setdefault(ev.cause, []).append(f)
    ranked = sorted(
        (c for c, s in scores.items() if s >= table.min_score and support.get(c)),
        key=lambda c: (-scores[c], c),
    )
    causes = []
    for code in ranked:
        spec = table.causes[code]
        sup = sorted(support[code], key=lambda f: -f.severity.rank)
        causes.append(RootCause(
            code=code,
            confidence=round(1 - math.exp(-scores[code]), 3),
            summary=spec.summary,
            evidence=tuple(f"{f.code}: {f.message}" for f in sup),
            against=tuple(f"{f.code}: {f.message}" for f in against.get(code, ())),
            remedies=spec.remedies,
            findings=tuple(f.code for f in sup),
        ))
    if not causes:
        spec = table.causes["healthy"]
        problems = [f for f in by_code.values() if f.severity in (Severity.WARN, Severity.FAIL, Severity.ERROR)]
        summary = spec.summary if not problems else (
            f"No root cause stands out; {len(problems)} check(s) still raised a warning or failure (see findings).")
        return Diagnosis(verdict=_healthy_verdict(by_code, problems),
                         root_causes=(RootCause(code="healthy", confidence=1.0, summary=summary),))
    top = causes[0]
    spec = table.causes[top.code]
    first = support[top.code][0]
    others = ", ".join(table.causes[c.code].title.lower() for c in causes[1:3])
    verdict = f"{spec.title}: {first.message}."
    if others:
        verdict += f" Also likely: {others}."
    return Diagnosis(verdict=verdict, root_causes=tuple(causes))


def _healthy_verdict(by_code: Mapping[str, Finding], problems: list[Finding]) -> str:
    gap = by_code.get("gap-too-large")
    detail = f" ({gap.message})" if gap is not None and gap.severity is Severity.PASS else ""
    if problems:
        return f"No root cause identified{detail}, but {len(problems)} check(s) need a look."
    return f"No problem found{detail}."


def cause_title(code: str) -> str:
    spec = load_table().causes.get(code)
    return spec.title if spec else code
