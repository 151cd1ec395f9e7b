"""End to end through the CLI on the tiny fixture models: files written, exit codes 0/1/2, re-rendering."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def audit(cli, tiny, out: Path, model: str = "good", train: str = "train", *extra: str):
    return cli("run", "--model", tiny[model], "--train", tiny[train], "--test", tiny["test"], "--out", out, *extra)


def test_good_model_passes_and_writes_three_files(cli, tiny, tmp_path):
    res = audit(cli, tiny, tmp_path / "rep")
    assert res.code == 0, res.err
    assert sorted(p.name for p in (tmp_path / "rep").iterdir()) == ["junit.xml", "report.html", "result.json"]
    data = json.loads((tmp_path / "rep" / "result.json").read_text())
    gap = next(p for p in data["probes"] if p["name"] == "gap")["result"]
    assert gap["test"]["accuracy"] > 0.9
    assert data["gate"]["passed"] is True
    assert data["diagnosis"]["root_causes"][0]["code"] == "healthy"
    assert "report:" in res.out
    assert not list(tmp_path.glob(".rep.ftaudit-*")), "staging folder left behind"


def test_overfit_model_fails_the_gate(cli, tiny, tmp_path):
    res = audit(cli, tiny, tmp_path / "rep", "overfit", "train_random")
    assert res.code == 1, res.err
    data = json.loads((tmp_path / "rep" / "result.json").read_text())
    finding = next(f for f in data["findings"] if f["code"] == "gap-too-large")
    assert finding["severity"] == "fail"
    assert finding["numbers"]["gap_ci_low"] > 0.10
    assert data["diagnosis"]["root_causes"][0]["code"] == "overfitting"
    assert "gap-too-large" in data["gate"]["failing"]


def test_threshold_flag_changes_the_gate(cli, tiny, tmp_path):
    res = audit(cli, tiny, tmp_path / "rep", "overfit", "train_random", "--max-gap", "0.9")
    data = json.loads((tmp_path / "rep" / "result.json").read_text())
    assert next(f for f in data["findings"] if f["code"] == "gap-too-large")["severity"] == "pass"
    assert data["run"]["config"]["thresholds"] == {"max_gap": 0.9}
    assert res.code in (0, 1)


def test_fail_on_warn_turns_warnings_into_failures(cli, tiny, tmp_path):
    res = audit(cli, tiny, tmp_path / "rep", "good", "train", "--fail-on", "warn", "--max-layer-drift", "0.0001")
    assert res.code == 1
    data = json.loads((tmp_path / "rep" / "result.json").read_text())
    assert "drift-too-large" in data["gate"]["failing"]


def test_missing_column_is_a_one_line_usage_error(cli, tiny, tmp_path):
    res = audit(cli, tiny, tmp_path / "rep", "good", "train", "--text-column", "sentence")
    assert res.code == 2
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "no column 'sentence'" in lines[0] and "--text-column" in lines[0]
    assert "Traceback" not in res.err
    assert not (tmp_path / "rep").exists()
    assert not list(tmp_path.iterdir()), "nothing may be half-written"


@pytest.mark.parametrize("args, needle", [
    (["--train", "nope.csv"], "does not exist"),
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--fail-on", "maybe"], "invalid choice"),
    (["--probes", "gap,nonsense"], "unknown probe 'nonsense'"),
    (["--max-gap", "abc"], "invalid float value"),
])
def test_bad_options_exit_2(cli, tiny, tmp_path, args, needle):
    base = ["run", "--model", tiny["good"], "--train", tiny["train"], "--test", tiny["test"], "--out", tmp_path / "r"]
    res = cli(*base, *args)
    assert res.code == 2, res.err
    assert needle in res.err and len(res.err.strip().splitlines()) == 1


def test_earlier_report_is_moved_aside_not_lost(cli, tiny, tmp_path):
    out = tmp_path / "rep"
    assert audit(cli, tiny, out).code == 0
    (out / "result.json").write_text((out / "result.json").read_text())  # the user's earlier report
    first = (out / "result.json").read_bytes()
    res = audit(cli, tiny, out)
    assert res.code == 0 and "kept the earlier report" in res.err  # a log line: stderr
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("rep.previous-")]
    assert len(aside) == 1 and (aside[0] / "result.json").read_bytes() == first
    res = audit(cli, tiny, out, "good", "train", "--overwrite")
    assert "replaced the earlier report" in res.err
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("rep.previous-")]) == 1


def test_out_that_is_a_file_is_refused(cli, tiny, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("mine")
    res = audit(cli, tiny, target)
    assert res.code == 2 and "is a file" in res.err
    assert target.read_text() == "mine"


def test_report_rerenders_without_torch(cli, tiny, tmp_path):
    out = tmp_path / "rep"
    assert audit(cli, tiny, out).code == 0
    original = (out / "report.html").read_text()
    (out / "report.html").unlink()
    (out / "junit.xml").unlink()
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nfor m in ('torch', 'transformers', 'captum', 'safetensors'):\n    sys.modules[m] = None\n")
    env = dict(os.environ, PYTHONPATH=str(blocker))
    proc = subprocess.run([sys.executable, "-m", "ftaudit", "report", str(out / "result.json")],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (out / "report.html").read_text() == original
    assert (out / "junit.xml").exists()


def test_report_on_a_bad_file_is_a_usage_error(cli, tmp_path):
    bad = tmp_path / "result.json"
    bad.write_text('{"not": "ours"}')
    res = cli("report", bad)
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1


def test_help_documents_every_option_with_its_default(capsys):
    from ftaudit.cli import build_parser

    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices["run"]
    for action in sub._actions:
        if action.option_strings and action.dest not in ("help", "config"):
            assert "default" in (action.help or "").lower(), action.option_strings
    probes = next(a for a in sub._actions if "--probes" in a.option_strings)
    assert "every probe that applies" in probes.help and "(default: none)" not in probes.help
    quiet = next(a for a in sub._actions if "--quiet" in a.option_strings)
    assert "-q" in quiet.option_strings and "(default: off)" in quiet.help
