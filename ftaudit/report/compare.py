"""Render a Comparison: a console table, compare.html (the report's style and escaping) and compare.json."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ftaudit.compare import Comparison

SCHEMA_VERSION = "1.0"


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def comparison_to_dict(comparison: Comparison) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "kind": "ftaudit-comparison", **_plain(comparison)}


def comparison_to_json(comparison: Comparison) -> str:
    return json.dumps(comparison_to_dict(comparison), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def render_compare_html(comparison: Comparison) -> str:
    from ftaudit.report.html import environment, template_dir

    css = (template_dir() / "report.css").read_text(encoding="utf-8")
    return environment().get_template("compare.html.j2").render(c=comparison, css=css)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _pts(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}"


def render_compare_console(comparison: Comparison, console: Console, *, verbose: bool = False) -> None:
    """The metric table, the findings and causes that changed, and the gate line; `verbose`: how each interval
    was found."""
    c = comparison
    console.print(f"[bold]ftaudit compare[/] {escape(c.new.path or c.new.model)} against baseline "
                  f"{escape(c.base.path or c.base.model)}; {escape(c.pairing)}", no_wrap=True, overflow="ellipsis")
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for name, justify in (("metric", "left"), ("base", "right"), ("new", "right"), ("change", "right"),
                          ("95% CI (points)", "right"), ("noise?", "left"), ("gate", "left")):
        table.add_column(name, justify=justify, no_wrap=True)
    for m in c.metrics:
        ci = f"{_pts(m.ci[0])} to {_pts(m.ci[1])}" if m.ci else "n/a"
        if m.p_value is not None:
            ci += f" (p={m.p_value:.2g})"
        gate = "[bold red]REGRESSED[/]" if m.regressed else ("gated" if m.gated else "-")
        table.add_row(escape(m.name), _pct(m.base), _pct(m.new), _pts(m.delta), ci,
                      "outside" if m.outside_noise else "within", gate)
    console.print(table)
    if verbose:
        for m in c.metrics:
            console.print(f"  {escape(m.name)}: {escape(m.method)}", no_wrap=True, overflow="ellipsis")
    for f in c.findings:
        mark = " [bold red](reached --fail-on)[/]" if f.reached_fail_on else ""
        console.print(f"  finding {f.change:<11} {f.code} ({f.probe}): {f.base or 'absent'} -> {f.new or 'absent'}"
                      f"{mark}", no_wrap=True, overflow="ellipsis")
    for k in c.causes:
        b = "absent" if k.base is None else f"{k.base:.2f}"
        n = "absent" if k.new is None else f"{k.new:.2f}"
        console.print(f"  cause   {k.change:<11} {k.code}: {b} -> {n}", no_wrap=True, overflow="ellipsis")
    if c.passed:
        console.print(f"compare gate (tolerance {100 * c.tolerance:.1f} points, --fail-on {c.fail_on}): "
                      "[green]passed[/]", no_wrap=True)
    else:
        console.print(f"compare gate (tolerance {100 * c.tolerance:.1f} points, --fail-on {c.fail_on}): "
                      f"[bold red]FAILED[/] ({len(c.regressions)} reason(s))", no_wrap=True)
        for reason in c.regressions:
            console.print(f"  - {escape(reason)}")
