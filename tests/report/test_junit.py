"""junit.xml: a testcase per finding with its numbers as <properties> and its probe's time."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from ftaudit.report.junit import render_junit
from ftaudit.probes.registry import result_kinds
from ftaudit.results import from_json

RESULT = Path(__file__).parent / "data" / "overfit.result.json"


@pytest.fixture(scope="module")
def result():
    return from_json(RESULT.read_text(encoding="utf-8"), kinds=result_kinds())


def test_each_finding_has_its_numbers_as_properties(result):
    suite = ET.fromstring(render_junit(result))
    cases = suite.findall("testcase")
    assert len(cases) == len(result.findings)
    for case, finding in zip(cases, result.findings):
        props = {p.get("name"): p.get("value") for p in case.find("properties")}
        assert props["ftaudit.severity"] == finding.severity.value
        for key, value in finding.numbers.items():
            if isinstance(value, float):
                assert float(props[key]) == pytest.approx(value, rel=1e-5)
            else:
                assert props[key] == ("" if value is None else str(value))
        if finding.threshold_name:
            assert float(props[f"threshold.{finding.threshold_name}"]) == pytest.approx(finding.threshold)


def test_testcase_time_is_the_probe_time_shared_among_its_findings(result):
    suite = ET.fromstring(render_junit(result))
    by_probe: dict[str, float] = {}
    for case in suite.findall("testcase"):
        probe = case.get("classname").removeprefix("ftaudit.")
        by_probe[probe] = by_probe.get(probe, 0.0) + float(case.get("time"))
        props = {p.get("name"): p.get("value") for p in case.find("properties")}
        outcome = result.outcome(probe)
        expected = outcome.seconds if outcome is not None else 0.0  # a finding of a probe that did not run
        assert float(props["ftaudit.probe_seconds"]) == pytest.approx(expected, abs=1e-3)
    slow = max(result.probes, key=lambda o: o.seconds)
    assert slow.seconds > 0.1
    assert by_probe[slow.name] == pytest.approx(slow.seconds, abs=0.01)


def test_markup_in_numbers_is_escaped_by_the_xml_library(result):
    import dataclasses

    f = dataclasses.replace(result.findings[0], numbers={"token": '<b>"&amp;\'', "n": 3})
    xml = render_junit(dataclasses.replace(result, findings=(f,)))
    props = {p.get("name"): p.get("value") for p in ET.fromstring(xml).find("testcase/properties")}
    assert props["token"] == '<b>"&amp;\'' and props["n"] == "3"
    assert "<b>" not in xml
