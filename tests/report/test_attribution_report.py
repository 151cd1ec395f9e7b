"""The attribution section: hostile dataset text in heatmaps is shown as text; JSON round trip; the chart."""

from __future__ import annotations

import dataclasses
import json

from ftaudit.probes.registry import result_kinds
from ftaudit.probes.attribution import Heatmap, ShortcutCandidate
from ftaudit.probes.attribution.chart import charts
from ftaudit.report.html import render_html
from ftaudit.results import (AuditResult, Diagnosis, GateResult, ProbeOutcome, RootCause, RunInfo, _decode_dataclass,
                             _encode, from_json, to_json)
from tests.rules.test_attribution_rules import deletion, result, word

HOSTILE = '<script>alert("x")</script>'


def audit(r) -> AuditResult:
    run = RunInfo(ftaudit_version="0", started="", seconds=1.0, device="cpu", seed=0, mode="existing-model",
                  model="m", base=None, train="t", test="t", labels=("negative", "positive"))
    return AuditResult(run=run, probes=(ProbeOutcome(name="attribution", status="ok", result=r),), findings=(),
                       diagnosis=Diagnosis(verdict="v", root_causes=(RootCause("healthy", 1.0, "ok"),)), gate=GateResult(fail_on="fail", passed=True))


def hostile_result():
    r = result(ShortcutCandidate(word(HOSTILE), (deletion(), deletion(split="train", n=40))),
               ShortcutCandidate(word("none-contain-it", ratio=1.2), ()))
    heat = Heatmap("negative", "positive", 0.97, False, ("fine", HOSTILE, "<b>bold</b>"), (0.3, 1.0, -0.5),
                   (0.1, -1.0, 0.2))
    return dataclasses.replace(r, heatmaps=(heat,))


def test_hostile_text_is_escaped_in_heatmaps_and_tables():
    html = render_html(audit(hostile_result()))
    assert "<script>alert" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert 'class="tok"' in html and "rgba(0,114,178, 0.85)" in html and "rgba(213,94,0, 0.42)" in html
    assert "no input contains it" in html and "40 train inputs" in html


def test_result_round_trips_through_json_and_renders_again():
    r = hostile_result()
    assert _decode_dataclass(type(r), json.loads(json.dumps(_encode(r), allow_nan=False))) == r
    back = from_json(to_json(audit(r)), kinds=result_kinds())
    assert back.probe("attribution") == r and render_html(back) == render_html(audit(r))


def test_chart_is_inline_svg_and_empty_without_words():
    out = charts(hostile_result())
    assert set(out) == {"words"} and out["words"].startswith("<svg") and "<script>" not in out["words"]
    assert charts(dataclasses.replace(hostile_result(), words=())) == {}


def test_the_section_says_which_attributions_ran_in_fp32_and_why_with_the_recorded_cut():
    r = dataclasses.replace(hostile_result(), precision="bf16", fp32_redone=3, reduced_min_delta=0.03)
    text = render_html(audit(r))
    assert "3 attributions ran in fp32: their output changed by under 0.03 nats" in text
    assert "ran in fp32" not in render_html(audit(dataclasses.replace(r, precision="fp32", fp32_redone=0)))
