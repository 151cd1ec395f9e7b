"""The self-contained HTML report: one Jinja environment (autoescape, StrictUndefined), inline CSS and SVG."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2
from markupsafe import escape

from ftaudit.diagnosis import cause_title
from ftaudit.probes.registry import spec_of_kind
from ftaudit.results import AuditResult, Finding, ProbeOutcome, Severity


def template_dir() -> Any:
    return resources.files("ftaudit.templates")


def section_name(kind: str) -> str:
    """The name under which the environment loads the section of the probe whose result has this kind."""
    return f"sections/{kind}.html.j2"


def _load_section(name: str) -> str | None:
    """A probe's section template, read from its folder through its registry entry (None: not a section)."""
    if not (name.startswith("sections/") and name.endswith(".html.j2")):
        return None
    spec = spec_of_kind(name[len("sections/"):-len(".html.j2")])
    return spec.section_source() if spec is not None else None


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(template_dir())), jinja2.FunctionLoader(_load_section)]),
        autoescape=True,  # every string from a dataset is escaped; only our own SVG is marked safe
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda x, d=1: "n/a" if x is None else f"{100 * x:.{d}f}%"
    env.filters["num"] = _num
    env.filters["points"] = lambda x, d=1: "n/a" if x is None else f"{100 * x:+.{d}f} pts"
    env.filters["cause_title"] = cause_title
    # JSON, not repr: a tuple in memory is a list after result.json, and both must render the same bytes
    env.filters["json"] = lambda v: json.dumps(v, ensure_ascii=False, default=str)
    return env


def _num(x: Any, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
            return f"{x:.2e}"
        return f"{x:.{digits}f}"
    return str(x)


@dataclass(frozen=True)
class Section:
    """One probe's part of the page: its outcome, charts, findings and the worst of their severities."""

    outcome: ProbeOutcome
    kind: str
    anchor: str
    title: str
    charts: dict[str, str]
    template: str | None  # the probe's section, by its name in the environment (None: the probe has none)
    findings: tuple[Finding, ...]
    status: str  # worst finding severity, or the outcome's status when it did not run


def _status(outcome: ProbeOutcome, findings: tuple[Finding, ...]) -> str:
    if outcome.status == "error":
        return "error"
    if outcome.status == "skipped":
        return "skip"
    judged = [f for f in findings if f.severity is not Severity.SKIP]
    return max(judged, key=lambda f: f.severity.rank).severity.value if judged else "pass"


def _drawn(draw: Any, outcome: ProbeOutcome) -> dict[str, str]:
    """The probe's charts; a chart that fails to draw becomes a note in its place, so a plotting bug costs a picture,
    not the report and result.json of an audit that may have taken an hour (the numbers stay in the section)."""
    try:
        return dict(draw(outcome.result))
    except Exception as e:  # noqa: BLE001 - any plotting error; the note names it
        note = (f"Chart not drawn ({type(e).__name__}: {e}); the numbers are in this section and in result.json. "
                "This is a bug in ftaudit: please report it.")
        return {"error": f'<p class="chart-failed">{escape(note)}</p>'}


def sections_of(result: AuditResult) -> list[Section]:
    sections = []
    for outcome in result.probes:
        kind = type(outcome.result).kind if outcome.result is not None else outcome.name
        spec = spec_of_kind(kind)
        findings = tuple(f for f in result.findings if f.probe == outcome.name)
        draw = spec.charts if spec is not None and outcome.status == "ok" else None
        sections.append(Section(
            outcome=outcome, kind=kind, anchor=f"probe-{outcome.name}",
            title=outcome.name.replace("-", " ").capitalize(),
            charts=_drawn(draw, outcome) if draw is not None else {},
            template=section_name(kind) if spec is not None and spec.section is not None else None,
            findings=findings, status=_status(outcome, findings),
        ))
    return sections


def render_html(result: AuditResult) -> str:
    env = environment()
    css = (template_dir() / "report.css").read_text(encoding="utf-8")
    problems = [f for f in result.findings if f.severity in (Severity.WARN, Severity.FAIL, Severity.ERROR)]
    tally = [(s.value, n) for s in (Severity.FAIL, Severity.ERROR, Severity.WARN, Severity.PASS, Severity.SKIP)
             if (n := sum(f.severity is s for f in result.findings))]
    order = {s: -s.rank for s in Severity}
    findings = sorted(result.findings, key=lambda f: (order[f.severity], f.probe, f.code))
    return env.get_template("report.html.j2").render(
        r=result, css=css, sections=sections_of(result), problems=problems, tally=tally, findings=findings,
        gap=result.probe("gap"), healthy=[c.code for c in result.diagnosis.root_causes] == ["healthy"],
    )
