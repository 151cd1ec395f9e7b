"""Inputs that are valid but huge: a 10 MB text is cut before tokenizing, big splits are sampled, both noted."""

from __future__ import annotations

import csv
import json

from ftaudit.data import MAX_TEXT_CHARS, load_raw_split

from .cases import Workspace


def _rows(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_10mb_text_is_cut_before_tokenizing_and_the_audit_runs(cli, tiny, tmp_path):
    w = Workspace(tmp_path, tiny)
    rows = _rows(tiny["test"])
    rows[3]["text"] = "good film " * 1_000_000  # 10 MB on one line; tokenizing it whole took 19 s and 2.7 GB
    test = w.csv("test.csv", rows)
    split = load_raw_split(str(test), "test", text_column="text", label_column="label")
    assert split.clipped == 1 and len(split.texts[3]) == MAX_TEXT_CHARS and len(split.texts) == len(rows)
    res = cli(*w.run_args(test=test, extra=["--probes", "gap,truncation"]))
    assert res.code in (0, 1), res.err
    result = json.loads((w.out / "result.json").read_text())
    assert [o["status"] for o in result["probes"]] == ["ok", "ok"]
    assert any("1 test text(s) longer than 100,000 characters were cut" in n for n in result["run"]["notes"])


def test_splits_larger_than_max_eval_examples_are_sampled_and_the_report_says_so(cli, tiny, tmp_path):
    w = Workspace(tmp_path, tiny)
    res = cli(*w.run_args(extra=["--max-eval-examples", "50"]))
    assert res.code in (0, 1), res.err
    result = json.loads((w.out / "result.json").read_text())
    notes = result["run"]["notes"]
    assert any("the train split has 400 rows; the probes used a stratified sample of 50" in n for n in notes), notes
    assert any("the test split has 200 rows" in n for n in notes), notes
    assert "stratified sample of 50" in (w.out / "report.html").read_text()
