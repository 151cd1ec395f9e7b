"""A new probe is one folder (probe, result, rules, chart, section) behind one registry entry, and nothing else.

The toy folder below is written to tmp_path and registered by a single `ftaudit.probes` entry point, the way a plugin
(or, in DEFAULT_SPECS, a built-in probe) is; a whole audit then runs its probe, fires its rule into the findings and
shows its section and chart in the report, and `ftaudit report` re-renders the same page from result.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

FOLDER = {
    "__init__.py": '''
"""ToyProbe: counts the test examples."""
from dataclasses import dataclass

from ftaudit.probes.base import Need, Probe
from ftaudit.results import ProbeResult


@dataclass(frozen=True)
class ToyResult(ProbeResult):
    kind = "toy"
    n_test: int


class ToyProbe(Probe):
    """Counts the test examples."""

    name = "toy"
    summary = "a toy probe from a folder in tmp_path"
    needs = frozenset({Need.TEST})
    result_type = ToyResult

    def run(self, ctx):
        return ToyResult(n_test=int(ctx.splits["test"].labels.size))
''',
    "rules.py": '''
from ftaudit.results import Severity
from ftaudit.rules.base import Judgement, Rule, Threshold
from toy_probe import ToyResult

MIN_TEST = Threshold("toy_min_test", 1e9, "fewest test examples the toy accepts")


def _enough(r: ToyResult, threshold):
    limit = threshold(MIN_TEST.name)
    severity = Severity.WARN if r.n_test < limit else Severity.PASS
    return Judgement(severity, f"toy counted {r.n_test} test examples (limit {limit:g})",
                     {"n_test": r.n_test, "toy_min_test": limit}, MIN_TEST.name)


RULES = (Rule("toy-too-few", "the toy counts enough test examples", "toy", _enough, (MIN_TEST,),
              emits=("n_test", "toy_min_test")),)
''',
    "chart.py": '''
from ftaudit.charts import PALETTE, figure, to_svg
from toy_probe import ToyResult


def charts(r: ToyResult) -> dict[str, str]:
    fig = figure(2.0, 1.5)
    fig.add_subplot().bar([0], [r.n_test], color=PALETTE[0])
    return {"count": to_svg(fig, "toy chart of the test count")}
''',
    "section.html.j2": '''<p class="toy-section">The toy probe counted {{ s.outcome.result.n_test }} test examples.</p>
<div class="charts">{% for name, svg in s.charts.items() %}<figure class="chart-{{ name }}">{{ svg|safe }}</figure>{% endfor %}</div>
''',
    "spec.py": '''
from ftaudit.probes.spec import ProbeSpec
from toy_probe import ToyProbe
from toy_probe.chart import charts
from toy_probe.rules import RULES

SPEC = ProbeSpec(ToyProbe, rules=RULES, charts=charts, section="section.html.j2")
''',
}


def install(site: Path) -> None:
    """The folder, and the one registry entry: an entry point naming its ProbeSpec."""
    folder = site / "toy_probe"
    folder.mkdir(parents=True)
    for name, text in FOLDER.items():
        (folder / name).write_text(text.lstrip("\n"), encoding="utf-8")
    info = site / "toy_probe-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-probe\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[ftaudit.probes]\ntoy = toy_probe.spec:SPEC\n")


def ftaudit(site: Path, *args: object) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "ftaudit", *map(str, args)], cwd=site, env=env,
                          capture_output=True, text=True, timeout=600)


def test_a_probe_folder_behind_one_entry_runs_judges_and_renders(tiny, tmp_path):
    site = tmp_path / "site"
    install(site)
    listed = ftaudit(site, "probes")
    assert listed.returncode == 0, listed.stderr
    assert "toy: a toy probe from a folder in tmp_path" in listed.stdout
    assert "toy-too-few: the toy counts enough test examples  [toy_min_test=1e+09]" in listed.stdout

    out = tmp_path / "out"
    run = ftaudit(site, "run", "--model", tiny["good"], "--train", tiny["train"], "--test", tiny["test"],
                  "--probes", "gap,toy", "--out", out, "--quiet")
    assert run.returncode in (0, 1), run.stderr[-3000:]
    result = json.loads((out / "result.json").read_text(encoding="utf-8"))
    toy = next(p for p in result["probes"] if p["name"] == "toy")
    n_test = toy["result"]["n_test"]
    assert toy["status"] == "ok" and toy["result"]["kind"] == "toy" and n_test > 0
    finding = next(f for f in result["findings"] if f["code"] == "toy-too-few")
    assert finding["severity"] == "warn" and finding["probe"] == "toy"
    assert finding["numbers"] == {"n_test": n_test, "toy_min_test": 1e9} and finding["threshold_name"] == "toy_min_test"

    html = (out / "report.html").read_text(encoding="utf-8")
    section = html[html.index('<section class="probe" id="probe-toy">'):]
    section = section[:section.index("</section>")]
    assert f'<p class="toy-section">The toy probe counted {n_test} test examples.</p>' in section
    assert '<figure class="chart-count"><svg role="img" aria-label="toy chart of the test count"' in section
    assert "toy-too-few" in section

    # the JSON alone re-renders the same page, and its threshold is a flag like any other
    again = ftaudit(site, "report", out / "result.json", "--out", tmp_path / "again", "--quiet")
    assert again.returncode in (0, 1), again.stderr[-3000:]
    assert (tmp_path / "again" / "report.html").read_text(encoding="utf-8") == html
    strict = ftaudit(site, "run", "--model", tiny["good"], "--train", tiny["train"], "--test", tiny["test"],
                     "--probes", "toy", "--toy-min-test", "1", "--out", tmp_path / "low", "--quiet")
    assert strict.returncode == 0, strict.stderr[-3000:]
    low = json.loads((tmp_path / "low" / "result.json").read_text(encoding="utf-8"))
    assert [(f["code"], f["severity"]) for f in low["findings"]] == [("toy-too-few", "pass")]
