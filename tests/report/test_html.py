"""The HTML report from a stored result.json (a real audit of the tiny overfit model, gap and drift probes):
self-contained, verdict first, every number traceable to result.json, and a golden copy of its structure.

Regenerate the golden file after an intended change with FTAUDIT_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

import pytest
from markupsafe import escape

from ftaudit.probes.registry import result_kinds
from ftaudit.report.html import render_html
from ftaudit.results import AuditResult, from_json, to_dict

DATA = Path(__file__).parent / "data"
RESULT = DATA / "overfit.result.json"
GOLDEN = DATA / "overfit.report.golden.html"
SVG = re.compile(r"<svg\b.*?</svg>", re.S)
NUMBER = re.compile(r"(?<![\w.])[-+−]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


@pytest.fixture(scope="module")
def result() -> AuditResult:
    return from_json(RESULT.read_text(encoding="utf-8"), kinds=result_kinds())


@pytest.fixture(scope="module")
def page(result) -> str:
    return render_html(result)


def visible_text(page: str) -> str:
    body = SVG.sub(" ", page.split("<body>", 1)[1])
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def test_self_contained_and_inert(page):
    without_svg_namespaces = re.sub(r'xmlns(:\w+)?="http://www\.w3\.org/[^"]+"', "", page)
    assert "http://" not in without_svg_namespaces and "https://" not in without_svg_namespaces
    assert "<script" not in page.lower() and "<link" not in page.lower() and "<img" not in page.lower()
    assert not re.search(r"\s(src|srcset|action|formaction)=", page)
    assert all(h.startswith("#") for h in re.findall(r'\shref="([^"]*)"', page))
    assert all(u.startswith(("data:", "#")) for u in re.findall(r'url\(\s*["\']?([^)"\']*)', page))
    assert "default-src 'none'" in page  # CSP: even an injected script would be blocked
    assert len(page.encode()) < 2_000_000


def test_verdict_comes_first_and_every_anchor_resolves(page, result):
    verdict = re.search(r'<p class="verdict[^"]*" id="verdict">(.*?)</p>', page, re.S)
    assert verdict and html.unescape(verdict.group(1)) == result.diagnosis.verdict
    assert page.index('id="verdict"') < page.index('id="diagnosis"') < page.index('id="probe-gap"')
    ids = set(re.findall(r'\sid="([^"]+)"', page))
    targets = {h[1:] for h in re.findall(r'\shref="(#[^"]*)"', page)}
    assert targets and targets <= ids
    assert {"probe-gap", "probe-drift", "findings", "run"} <= ids
    for cause in result.diagnosis.root_causes:
        assert f'id="cause-{cause.code}"' in page
        for remedy in cause.remedies:
            assert str(escape(remedy.action)) in page


def test_every_finding_is_listed_with_its_threshold(page, result):
    table = page[page.index('id="findings"'):]
    for f in result.findings:
        assert str(escape(f.message)) in table
        if f.threshold_name:
            assert f"<code>{f.threshold_name}</code>" in table


def _json_numbers(value, out: set[str]) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _json_numbers(v, out)
    elif isinstance(value, list):
        for v in value:
            _json_numbers(v, out)
    elif isinstance(value, str):
        out.update(m.lstrip("+−-") for m in NUMBER.findall(value))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        x = float(value)
        out.update({str(value), f"{x:g}"})
        for digits in range(6):
            out.update({f"{x:.{digits}f}", f"{100 * x:.{digits}f}", f"{x:.{digits}e}"})
        out.update(s.lstrip("-") for s in list(out))


def test_every_number_shown_is_in_result_json(page, result):
    known: set[str] = set()
    _json_numbers(to_dict(result), known)
    shown = {m.lstrip("+−-") for m in NUMBER.findall(visible_text(page))}
    # small integers are ordinals and fixed wording ("1.", "95% CI", "2 labels" are also in the JSON)
    unexplained = sorted(n for n in shown - known if not (n.isdigit() and int(n) <= 20))
    assert not unexplained, f"numbers in the report that result.json does not hold: {unexplained}"


def normalised(page: str) -> str:
    """The page with chart bodies and the ftaudit version taken out: what the templates decide."""
    page = SVG.sub("<svg/>", page)
    page = re.sub(r"<style>.*?</style>", "<style/>", page, flags=re.S)
    return re.sub(r"ftaudit \d+\.\d+\.\d+\S*", "ftaudit VERSION", page)


def test_golden_html(page):
    got = normalised(page)
    if os.environ.get("FTAUDIT_UPDATE_GOLDEN") or not GOLDEN.exists():
        GOLDEN.write_text(got, encoding="utf-8")
        pytest.skip(f"wrote {GOLDEN.name}; commit it")
    assert got == GOLDEN.read_text(encoding="utf-8"), (
        "the report's HTML changed; if intended, rerun with FTAUDIT_UPDATE_GOLDEN=1 and review the diff")


def test_result_json_round_trips_and_keeps_its_shape(result):
    data = json.loads(RESULT.read_text(encoding="utf-8"))
    assert to_dict(result) == data
    assert list(data) == ["run", "probes", "findings", "diagnosis", "gate", "schema_version"]
    assert list(data["diagnosis"]) == ["verdict", "root_causes", "also_noticed"]
    assert list(data["diagnosis"]["root_causes"][0]) == ["code", "confidence", "summary", "evidence", "against",
                                                         "remedies", "findings", "title"]
    assert list(data["findings"][0]) == ["code", "severity", "message", "probe", "summary", "numbers", "threshold",
                                         "threshold_name"]


def test_a_healthy_result_reads_as_healthy(result):
    import dataclasses

    from ftaudit.diagnosis import diagnose
    from ftaudit.results import GateResult, Severity

    passing = tuple(dataclasses.replace(f, severity=Severity.PASS) for f in result.findings)
    ok = dataclasses.replace(result, findings=passing, diagnosis=diagnose(passing),
                             gate=GateResult(fail_on="fail", passed=True))
    page = render_html(ok)
    assert '<p class="verdict ok" id="verdict">No problem found' in page
    assert 'id="cause-healthy"' in page and "<details class=\"all-checks\">" in page  # closed: nothing to see


def test_also_noticed_causes_are_listed_in_the_diagnosis_section(result):
    import dataclasses

    from ftaudit.results import Noticed

    evil = "<b>cut</b> & more"
    noticed = (Noticed(code="truncation", title="Inputs truncated", why=f"no cost beyond noise ({evil})",
                       evidence=(f"truncation-heavy (warn): {evil}",), findings=("truncation-heavy",)),)
    page = render_html(dataclasses.replace(result, diagnosis=dataclasses.replace(result.diagnosis,
                                                                                 also_noticed=noticed)))
    section = page[page.index('<section id="diagnosis">'):page.index("</section>", page.index('id="diagnosis"'))]
    assert 'id="also-noticed"' in section and 'id="noticed-truncation"' in section
    assert "Inputs truncated" in section and "&lt;b&gt;cut&lt;/b&gt; &amp; more" in section
    assert "<b>cut</b>" not in page
    assert '<a href="#also-noticed">also noticed</a>' in page
    assert 'id="also-noticed"' not in render_html(result)  # nothing noticed: no list


def test_a_chart_that_fails_to_draw_costs_the_picture_not_the_report(result, monkeypatch):
    import dataclasses

    import ftaudit.report.html as html

    real = html.spec_of_kind

    def boom(r):
        raise ValueError("'yerr' must not contain negative values <script>")

    def broken(kind):
        spec = real(kind)
        return dataclasses.replace(spec, charts=boom) if spec is not None and spec.charts is not None else spec

    monkeypatch.setattr(html, "spec_of_kind", broken)
    page = html.render_html(result)
    drawn = sum(1 for o in result.probes if o.status == "ok" and real(type(o.result).kind).charts is not None)
    assert drawn and page.count('class="chart-failed"') == drawn
    assert "Chart not drawn (ValueError: &#39;yerr&#39; must not contain negative values &lt;script&gt;)" in page
    assert "<script>)" not in page
