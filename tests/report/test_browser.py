"""The report in a real browser: headless Chromium opens it from a file, offline, and nothing runs or loads.

Dataset text with a planted <script> (and <img onerror>) goes through a real `ftaudit run`; a label name with
the same payload goes through `ftaudit report` from an edited result.json. Screenshots are saved next to each
report for people to look at.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from tests.report.cdp import Browser, find_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = find_chromium()
if CHROMIUM is None:
    pytestmark.append(pytest.mark.skip(reason="no Chromium on PATH (CI installs Debian's `chromium`; "
                                              "apt-get install chromium to run this test)"))

SCRIPT = '<script>window.__pwned = "script"; document.title = "pwned"</script>'
IMG = "<img src=x onerror=\"window.__pwned = 'img'\">"
PAYLOAD = f"good film {SCRIPT} {IMG}"
LABEL = f'positive{SCRIPT}'


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def reports(tiny, tmp_path_factory) -> dict[str, Any]:
    """Two reports: planted dataset text (a real run) and a planted label name (re-rendered from result.json)."""
    from tests.conftest import run_cli

    root = tmp_path_factory.mktemp("browser")
    planted = {"text": PAYLOAD, "label": "positive"}
    train = _write(root / "train.csv", _rows(tiny["train"]) + [planted, planted])  # a duplicate within train
    test = _write(root / "test.csv", _rows(tiny["test"]) + [planted])  # and a test row leaked from train
    res = run_cli("run", "--model", tiny["good"], "--train", train, "--test", test, "--out", root / "text",
                  "--probes", "gap,drift,leakage,duplicates")
    assert res.code in (0, 1), res.err
    data = json.loads((root / "text" / "result.json").read_text(encoding="utf-8"))

    def rename(value: Any) -> Any:  # every label-valued string "positive" becomes the payload
        if isinstance(value, dict):
            return {k: rename(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rename(v) for v in value]
        return LABEL if value == "positive" else value

    (root / "label").mkdir()
    (root / "label" / "result.json").write_text(json.dumps(rename(data)), encoding="utf-8")
    res = run_cli("report", root / "label" / "result.json", "--quiet")
    assert res.code in (0, 1), res.err
    return {"text": root / "text" / "report.html", "label": root / "label" / "report.html", "root": root,
            "verdict": data["diagnosis"]["verdict"]}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile")) as b:
        yield b


def visit(browser: Browser, report: Path) -> dict[str, Any]:
    page = browser.page()
    url = report.resolve().as_uri()
    page.open(url)
    facts = page.evaluate("""({
        verdict: (document.getElementById('verdict') || {}).textContent || '',
        text: document.body.textContent,
        scripts: document.scripts.length,
        images: document.images.length,
        handlers: [...document.querySelectorAll('*')]
            .filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
        pwned: window.__pwned === undefined ? null : String(window.__pwned),
        title: document.title,
        sections: [...document.querySelectorAll('main > section')].map(s => s.id),
        svgs: document.querySelectorAll('svg').length,
        width: document.documentElement.scrollWidth,
    })""")
    facts["console_errors"] = (
        [e for e in page.events("Runtime.consoleAPICalled") if e["type"] in ("error", "assert")]
        + page.events("Runtime.exceptionThrown")
        + [e["entry"] for e in page.events("Log.entryAdded") if e["entry"]["level"] == "error"])
    facts["requests"] = [e["request"]["url"] for e in page.events("Network.requestWillBeSent")
                         if e["request"]["url"] != url and not e["request"]["url"].startswith("data:")]
    facts["screenshot"] = page.screenshot(report.with_name("screenshot.png"))
    return facts


@pytest.mark.parametrize("which", ["text", "label"])
def test_report_renders_offline_and_runs_nothing_planted(browser, reports, which):
    facts = visit(browser, reports[which])
    assert facts["verdict"].strip() == reports["verdict"]
    assert {"diagnosis", "findings", "run", "probe-gap"} <= set(facts["sections"])
    assert facts["svgs"] >= 2  # the gap probe's charts, inline
    assert facts["console_errors"] == []
    assert facts["requests"] == [], "the report must not touch the network (or the disk beyond itself)"
    assert facts["scripts"] == 0 and facts["images"] == 0 and facts["handlers"] == 0
    assert facts["pwned"] is None and facts["title"] != "pwned"
    assert facts["width"] <= 1280, "no horizontal scrolling on a laptop-sized window"
    shot = facts["screenshot"]
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_planted_markup_is_shown_as_text(browser, reports):
    text = visit(browser, reports["text"])["text"]
    assert SCRIPT in text and IMG in text  # the leaked / duplicated row, escaped and readable
    label = visit(browser, reports["label"])["text"]
    assert LABEL in label
