"""The self-contained HTML report: one Jinja environment (autoescape, StrictUndefined), inline CSS and SVG."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2

from ftaudit.diagnosis import cause_title
from ftaudit.report.charts import charts_for
from ftaudit.results import AuditResult, Severity


def template_dir() -> Any:
    return resources.files("ftaudit.templates")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        autoescape=True,  # every string from a dataset is escaped; only our own SVG is marked safe
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda x, d=1: "n/a" if x is None else f"{100 * x:.{d}f}%"
    env.filters["num"] = _num
    env.filters["cause_title"] = cause_title
    env.globals["section_exists"] = lambda kind: (template_dir() / "sections" / f"{kind}.html.j2").is_file()
    return env


def _num(x: Any, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
            return f"{x:.2e}"
        return f"{x:.{digits}f}"
    return str(x)


def render_html(result: AuditResult) -> str:
    env = environment()
    css = (template_dir() / "report.css").read_text(encoding="utf-8")
    sections = []
    for outcome in result.probes:
        kind = type(outcome.result).kind if outcome.result is not None else outcome.name
        sections.append({
            "outcome": outcome,
            "kind": kind,
            "charts": charts_for(kind, outcome.result) if outcome.status == "ok" else {},
            "findings": [f for f in result.findings if f.probe == outcome.name],
        })
    problems = [f for f in result.findings if f.severity in (Severity.WARN, Severity.FAIL, Severity.ERROR)]
    return env.get_template("report.html.j2").render(
        r=result, css=css, sections=sections, problems=problems, Severity=Severity,
    )
