"""The console summary: verdict, root causes and the gate in under 25 lines, however many checks fail."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from rich.console import Console

from ftaudit.probes.registry import result_kinds
from ftaudit.diagnosis import diagnose
from ftaudit.report.console import render_summary
from ftaudit.results import Finding, GateResult, Severity, from_json

RESULT = Path(__file__).parent / "data" / "overfit.result.json"


def summary(result, width: int) -> list[str]:
    buf = io.StringIO()
    render_summary(result, Console(file=buf, width=width, highlight=False, soft_wrap=False, color_system=None),
                   out="out/report.html")
    return buf.getvalue().splitlines()


@pytest.fixture(scope="module")
def result():
    return from_json(RESULT.read_text(encoding="utf-8"), kinds=result_kinds())


@pytest.fixture(scope="module")
def worst_case(result):
    """Every check failing with a long message: many causes, many findings."""
    codes = ["gap-too-large", "train-test-leakage", "class-imbalance", "truncation-heavy", "encoder-frozen",
             "distribution-shift", "label-noise-suspected", "seed-instability", "shortcut-token", "still-improving",
             "training-diverged", "data-limited", "conflicting-labels", "calibration-poor"]
    findings = tuple(Finding(code=c, severity=Severity.FAIL, message=f"{c}: " + "a long explanation " * 12,
                             probe="x") for c in codes)
    return dataclasses.replace(result, findings=findings, diagnosis=diagnose(findings),
                               gate=GateResult(fail_on="fail", passed=False, failing=tuple(codes)))


@pytest.mark.parametrize("width", [80, 120, 200])
def test_summary_fits_in_under_25_lines(result, worst_case, width):
    for r in (result, worst_case):
        lines = summary(r, width)
        assert len(lines) < 25, "\n".join(lines)
        assert all(len(line) <= width for line in lines)


def test_summary_says_verdict_causes_and_gate(result, worst_case):
    text = " ".join(summary(result, 300))
    assert result.diagnosis.verdict in text
    for cause in result.diagnosis.root_causes[:3]:
        assert f"{cause.code} ({cause.confidence:.2f})" in text
    assert "gate --fail-on fail: FAILED (gap-too-large, shortcut-token)" in text
    assert "report: out/report.html" in text
    lines = summary(worst_case, 120)
    assert any("more root cause(s) in the report" in line for line in lines)
    assert any("more check(s) did not pass" in line for line in lines)


def test_rich_markup_in_messages_is_printed_literally(result):
    f = Finding(code="gap-too-large", severity=Severity.FAIL, message="label [bold]x[/bold] and [red]", probe="gap")
    r = dataclasses.replace(result, findings=(f,), diagnosis=diagnose((f,)))
    assert "label [bold]x[/bold] and [red]" in " ".join(summary(r, 200))


def test_summary_lists_what_was_also_noticed(worst_case):
    # the worst case's findings carry no impact numbers: the impact-gated causes are only noticed
    noticed = [n.code for n in worst_case.diagnosis.also_noticed]
    assert {"leakage", "truncation", "class-imbalance", "distribution-shift"} <= set(noticed)
    line = next(l for l in summary(worst_case, 300) if "also noticed" in l)
    assert line.strip() == "also noticed, without a measured cost: " + ", ".join(noticed)
