"""`ftaudit compare` and `ftaudit run --baseline` on two tiny audits: the good model, and the overfit one (planted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PROBES = "gap,calibration,balance"  # enough for every compared metric; seconds, not minutes


def _audit(cli, tiny, out: Path, model: str, train: str, *extra: str) -> Path:
    res = cli("run", "--model", tiny[model], "--train", tiny[train], "--test", tiny["test"], "--out", out,
              "--probes", PROBES, "-q", *extra)
    assert res.code in (0, 1), res.err
    return out


@pytest.fixture(scope="module")
def audits(tiny, tmp_path_factory):
    from tests.conftest import run_cli

    root = tmp_path_factory.mktemp("audits")
    return {"good": _audit(run_cli, tiny, root / "good", "good", "train"),
            "overfit": _audit(run_cli, tiny, root / "overfit", "overfit", "train_random")}


def _copy(src: Path, dst: Path, edit=None) -> Path:
    data = json.loads((src / "result.json").read_text())
    if edit:
        edit(data)
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "result.json").write_text(json.dumps(data))
    return dst


def _gap(data: dict) -> dict:
    return next(p for p in data["probes"] if p["name"] == "gap")["result"]


def test_planted_regression_exits_1_and_is_named(cli, audits, tmp_path):
    res = cli("compare", audits["good"], audits["overfit"], "--out", tmp_path)
    assert res.code == 1, res.err
    assert "paired: both runs scored the same 200 test rows" in res.out
    assert "REGRESSED" in res.out and "gap-too-large" in res.out
    data = json.loads((tmp_path / "compare.json").read_text())
    assert data["paired"] is True and data["passed"] is False
    acc = next(m for m in data["metrics"] if m["metric"] == "accuracy")
    assert acc["regressed"] and acc["ci"][1] < -0.2 and acc["p_value"] < 1e-6
    assert any("test accuracy went from 98.0% to" in r for r in data["regressions"])
    gap = next(f for f in data["findings"] if f["code"] == "gap-too-large")
    assert (gap["change"], gap["base"], gap["new"], gap["reached_fail_on"]) == ("appeared", None, "fail", True)
    assert {c["code"]: c["change"] for c in data["causes"]}["overfitting"] == "appeared"
    html = (tmp_path / "compare.html").read_text()
    assert "<script" not in html and "Regressed:" in html and "gap-too-large" in html
    assert "compare.html" in res.err and "compare.html" not in res.out  # logs on stderr


def test_an_audit_compared_with_itself_passes(cli, audits, tmp_path):
    res = cli("compare", audits["good"], audits["good"] / "result.json", "--out", tmp_path, "--format", "json")
    assert res.code == 0, res.err
    data = json.loads(res.out)  # stdout holds the JSON document and nothing else
    assert data["passed"] and data["paired"] and not data["findings"] and not data["causes"]
    for m in data["metrics"]:
        assert m["delta"] == 0 and not m["outside_noise"], m


def test_verbose_says_how_each_interval_was_found(cli, audits, tmp_path):
    res = cli("compare", audits["good"], audits["overfit"], "--out", tmp_path, "-v")
    how = "test accuracy: paired bootstrap over the shared test rows (2000 resamples); McNemar's exact test"
    assert how in res.out
    assert "train − test accuracy gap: unpaired" in res.out


def test_improvement_passes_and_findings_disappear(cli, audits, tmp_path):
    res = cli("compare", audits["overfit"], audits["good"], "--out", tmp_path, "-q")
    assert res.code == 0, res.err
    assert res.out.strip() == "compare: no regression against the baseline" and res.err == ""
    data = json.loads((tmp_path / "compare.json").read_text())
    assert {f["code"]: f["change"] for f in data["findings"]}["gap-too-large"] == "disappeared"


def test_tolerance_and_gate_metrics(cli, audits, tmp_path):
    res = cli("compare", audits["good"], audits["overfit"], "--out", tmp_path, "--tolerance", "0.5",
              "--format", "json")
    data = json.loads(res.out)
    assert not any(m["regressed"] for m in data["metrics"])  # -36 points is within a 50-point tolerance
    assert res.code == 1 and all("--fail-on" in r for r in data["regressions"])  # the new failing finding still gates
    res = cli("compare", audits["good"], audits["overfit"], "--out", tmp_path, "--gate-metrics", "recall",
              "--format", "json")
    gated = {m["name"] for m in json.loads(res.out)["metrics"] if m["regressed"]}
    assert gated == {"recall of 'negative'", "recall of 'positive'"}


def test_paired_numbers_agree_with_the_recorded_predictions(audits):
    from scipy.stats import binomtest

    from ftaudit.compare import compare
    from ftaudit.probes.gap import unpack_ids
    from ftaudit.app import read_result

    _, base = read_result(audits["good"])
    _, new = read_result(audits["overfit"])
    c = compare(base, new)
    gb, gn = base.probe("gap"), new.probe("gap")
    gold = unpack_ids(gb.test_labels, 2)
    right_b, right_n = unpack_ids(gb.test_predictions, 2) == gold, unpack_ids(gn.test_predictions, 2) == gold
    assert right_b.mean() == pytest.approx(gb.test.accuracy) and right_n.mean() == pytest.approx(gn.test.accuracy)
    acc = c.metrics[0]
    assert acc.delta == pytest.approx(right_n.mean() - right_b.mean())
    b, n = int((right_b & ~right_n).sum()), int((right_n & ~right_b).sum())
    assert acc.p_value == pytest.approx(binomtest(n, b + n, 0.5).pvalue)
    assert acc.ci[0] < acc.delta < acc.ci[1]
    # the paired interval is narrower than the unpaired one built from the same two runs
    unpaired = compare(base, _without_rows(new))
    assert not unpaired.paired and "unpaired" in unpaired.metrics[0].method
    assert (acc.ci[1] - acc.ci[0]) < (unpaired.metrics[0].ci[1] - unpaired.metrics[0].ci[0])


def _without_rows(result):
    import dataclasses

    outcomes = tuple(dataclasses.replace(o, result=dataclasses.replace(o.result, test_rows="", test_predictions=""))
                     if o.name == "gap" else o for o in result.probes)
    return dataclasses.replace(result, probes=outcomes)


@pytest.mark.parametrize("edit, reason", [
    (lambda d: _gap(d).update(test_rows="0" * 64), "the test sets differ"),
    (lambda d: [_gap(d).pop(k) for k in ("test_rows", "test_labels", "test_predictions")], "older ftaudit"),
])
def test_unpaired_when_the_test_rows_differ_or_are_not_recorded(cli, audits, tmp_path, edit, reason):
    new = _copy(audits["overfit"], tmp_path / "new", edit)
    res = cli("compare", audits["good"], new, "--format", "json")
    data = json.loads(res.out)
    assert not data["paired"] and reason in data["pairing"] and data["pairing"].startswith("unpaired")
    assert all("unpaired" in m["method"] or m["metric"] == "ece" for m in data["metrics"])
    assert res.code == 1  # still a regression far outside noise


def test_dataset_text_is_escaped_in_compare_html(cli, audits, tmp_path):
    def edit(d):
        d["run"]["model"] = "<script>alert(1)</script>"
        d["findings"][0]["message"] = "<img src=x onerror=alert(1)>"
        d["findings"][0]["severity"] = "fail"
    new = _copy(audits["good"], tmp_path / "new", edit)
    cli("compare", audits["good"], new, "--out", tmp_path)
    html = (tmp_path / "compare.html").read_text()
    assert "<script>" not in html and "<img" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize("args, needle", [
    (["missing", "GOOD"], "does not exist"),
    (["NOTOURS", "GOOD"], "is not an ftaudit result"),
    (["GOOD", "GOOD", "--tolerance", "-1"], "--tolerance must be >= 0"),
    (["GOOD", "GOOD", "--gate-metrics", "accuracy,speed"], "unknown --gate-metrics speed"),
    (["GOOD", "GOOD", "--format", "yaml"], "invalid choice"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli, audits, tmp_path, args, needle):
    (tmp_path / "notours.json").write_text('{"schema_version": "1.0", "x": 1}')
    subs = {"GOOD": str(audits["good"]), "NOTOURS": str(tmp_path / "notours.json"), "missing": str(tmp_path / "nope")}
    res = cli("compare", *[subs.get(a, a) for a in args], "--out", tmp_path / "cmp")
    assert res.code == 2, res.err
    assert needle in res.err and len(res.err.strip().splitlines()) == 1 and res.out == ""
    assert not (tmp_path / "cmp").exists()


# An import hook, not sys.modules[name] = None: libraries (scipy's array-API shim) probe sys.modules for torch.
BLOCK_TORCH = """
import sys
BLOCKED = ('torch', 'transformers', 'captum', 'safetensors', 'accelerate')
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ModuleNotFoundError(f'{name} is blocked in this test', name=name)
sys.meta_path.insert(0, Block())
"""


def test_compare_runs_without_torch(audits, tmp_path):
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_TORCH)
    env = dict(os.environ, PYTHONPATH=str(blocker))
    assert subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True).returncode != 0
    code = ("import sys; from ftaudit.cli import main; rc = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, "compare", str(audits["good"]), str(audits["overfit"]),
                           "--out", str(tmp_path / "cmp")], capture_output=True, text=True, env=env)
    assert proc.returncode == 1, proc.stderr
    assert (tmp_path / "cmp" / "compare.html").exists() and "REGRESSED" in proc.stdout


def test_run_with_baseline_gates_on_the_comparison(cli, tiny, audits, tmp_path):
    out = tmp_path / "rep"
    res = cli("run", "--model", tiny["overfit"], "--train", tiny["train"], "--test", tiny["test"], "--out", out,
              "--probes", "gap,calibration", "--baseline", audits["good"], "--max-gap", "0.9",
              "--format", "json")
    assert res.code == 1, res.err
    doc = json.loads(res.out)
    assert doc["result"]["gate"]["passed"] is True  # the audit alone passes with --max-gap 0.9 ...
    assert doc["comparison"]["passed"] is False  # ... the comparison with the baseline does not
    written = {p.name for p in out.iterdir()}
    assert {"compare.html", "compare.json", "result.json", "report.html", "junit.xml"} <= written
    saved = json.loads((out / "compare.json").read_text())
    assert saved == doc["comparison"] and saved["new"]["path"] == str(out / "result.json")


def test_run_with_a_bad_baseline_exits_2_before_any_work(cli, tiny, tmp_path):
    res = cli("run", "--model", tiny["good"], "--train", tiny["train"], "--test", tiny["test"],
              "--out", tmp_path / "rep", "--baseline", tmp_path / "nothing")
    assert res.code == 2 and "--baseline" in res.err and "does not exist" in res.err
    assert not list(tmp_path.iterdir())


def test_run_format_json_pipes_into_json_tool_with_progress_on_stderr(tiny, tmp_path):
    cmd = [sys.executable, "-m", "ftaudit", "run", "--model", str(tiny["good"]), "--train", str(tiny["train"]),
           "--test", str(tiny["test"]), "--out", str(tmp_path / "rep"), "--probes", "gap", "--format", "json"]
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    tool = subprocess.run([sys.executable, "-m", "json.tool"], input=run.stdout, capture_output=True, text=True)
    assert tool.returncode == 0 and json.loads(run.stdout)["gate"]["passed"] is True
    assert "predict test:" in run.stderr  # progress, on stderr only
    assert json.loads(run.stdout) == json.loads((tmp_path / "rep" / "result.json").read_text())


def test_quiet_means_the_same_in_run_and_report(cli, tiny, audits, tmp_path):
    verdict = json.loads((audits["good"] / "result.json").read_text())["diagnosis"]["verdict"]
    res = cli("report", audits["good"], "--out", tmp_path / "r", "-q")
    assert res.code == 0 and res.out.strip() == verdict and res.err == ""
    res = cli("run", "--model", tiny["good"], "--train", tiny["train"], "--test", tiny["test"],
              "--out", tmp_path / "rep", "--probes", "gap", "--quiet")
    assert res.code == 0 and res.out.strip() == verdict and res.err == ""
    res = cli("report", audits["good"], "--out", tmp_path / "r", "-q", "-v")
    assert res.code == 2 and "not allowed with" in res.err


def test_verbose_lists_every_check_and_piped_lines_are_not_wrapped(cli, audits, tmp_path):
    res = cli("report", audits["overfit"], "--out", tmp_path, "-v")
    data = json.loads((audits["overfit"] / "result.json").read_text())
    for f in data["findings"]:
        assert f["code"] in res.out
    verdict = data["diagnosis"]["verdict"]
    assert len(verdict) > 120 and verdict in res.out.splitlines()[1]  # one line, whole, when not a terminal
    assert not any(line.endswith("…") for line in res.out.splitlines())


def test_recorded_rows_are_the_test_split(audits, tiny):
    import csv
    import types

    from ftaudit.probes.curve_points import split_digest

    data = json.loads((audits["good"] / "result.json").read_text())
    gap = _gap(data)
    with open(tiny["test"], encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    names = data["run"]["labels"]
    gold = np.array([names.index(r["label"]) for r in rows])
    assert gap["test_rows"] == split_digest(types.SimpleNamespace(texts=[r["text"] for r in rows], pairs=None,
                                                                  labels=gold))
    assert np.array_equal(np.frombuffer(bytes.fromhex(gap["test_labels"]), dtype=">u1"), gold)
