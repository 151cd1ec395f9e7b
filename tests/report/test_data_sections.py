"""The data checks in the report: JSON round trip, HTML sections with charts, user text escaped, JUnit cases."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.data import data_context, sentences, with_predictions
from fixtures.tiny import write_tokenizer
from ftaudit.probes.registry import result_kinds
from ftaudit.pipeline import gate, judge, plan
from ftaudit.config import AuditConfig
from ftaudit.diagnosis import diagnose
from ftaudit.probes.balance import BalanceProbe
from ftaudit.probes.calibration import CalibrationProbe
from ftaudit.probes.duplicates import DuplicatesProbe
from ftaudit.probes.leakage import LeakageProbe
from ftaudit.probes.shift import ShiftProbe
from ftaudit.probes.truncation import TruncationProbe
from ftaudit.results import AuditResult, ProbeOutcome, RunInfo, from_json, to_json

PROBES = (LeakageProbe, DuplicatesProbe, BalanceProbe, ShiftProbe, TruncationProbe, CalibrationProbe)
EVIL = "<script>alert('x')</script> & <b>bold</b>"


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> AuditResult:
    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("tok")
    write_tokenizer(folder)
    train = sentences(300, 1) + [EVIL, EVIL.upper()]
    test = sentences(100, 2) + [EVIL + " zq"]
    rng = np.random.default_rng(0)
    ctx = data_context((train, [0, 1] * 151), (test, rng.integers(0, 2, 101)), max_length=16,
                       tokenizer=AutoTokenizer.from_pretrained(str(folder)))
    with_predictions(ctx, "test", rng.normal(size=(101, 2)) * 3)
    with_predictions(ctx, "train", rng.normal(size=(302, 2)) * 3)
    outcomes = [ProbeOutcome(name=p.name, status="ok", seconds=0.1, result=p().run(ctx)) for p in PROBES]
    findings = judge(plan(AuditConfig(), probes=PROBES), outcomes)
    run = RunInfo(ftaudit_version="test", started="2026-01-01T00:00:00+00:00", seconds=1.0, device="none", seed=0,
                  mode="existing-model", model="m", base=None, train="train.csv", test="test.csv",
                  labels=("negative", "positive"))
    return AuditResult(run=run, probes=tuple(outcomes), findings=tuple(findings), diagnosis=diagnose(findings),
                       gate=gate(findings, "fail"))


def test_results_round_trip_through_json(result):
    text = to_json(result)
    back = from_json(text, kinds=result_kinds())
    assert to_json(back) == text
    assert [type(o.result) for o in back.probes] == [p.result_type for p in PROBES]
    assert back.probe("leakage").examples[0].test_text.startswith("<script>")


def test_html_has_every_section_and_chart_and_escapes_user_text(result):
    from ftaudit.report.html import render_html

    html = render_html(result)
    for p in PROBES:
        assert f'id="probe-{p.name}"' in html
    for chart in ("chart-reliability", "chart-shares", "chart-lengths"):
        assert chart in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(" in html
    assert "<b>bold</b>" not in html


def test_every_data_rule_is_a_junit_testcase(result):
    from ftaudit.report.junit import render_junit

    xml = render_junit(result)
    for code in ("train-test-leakage", "duplicates-within-split", "conflicting-labels", "class-imbalance",
                 "label-shift", "truncation-heavy", "distribution-shift", "calibration-poor"):
        assert f'name="{code}"' in xml
