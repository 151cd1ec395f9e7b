"""Fine-tune mode end to end through the CLI on the tiny fixture model, and its input checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FAST = ("--epochs", "2", "--batch-size", "16", "--max-length", "32", "--lr", "3e-3")


def findings(out):
    data = json.loads((out / "result.json").read_text())
    return data, {f["code"]: f for f in data["findings"]}


def test_fine_tune_saves_and_audits_the_model(tiny, cli, tmp_path):
    out = tmp_path / "report"
    r = cli("run", "--fine-tune", "--base", tiny["base"], "--train", tiny["train"], "--test", tiny["test"], *FAST,
            "--validation", "0.1", "--probes", "gap,drift,dynamics", "--out", out, "--quiet")
    assert r.code == 0, r.out + r.err
    data, by_code = findings(out)
    assert data["run"]["mode"] == "fine-tune"
    model = out / "model"
    assert (model / "model.safetensors").is_file() and (model / "tokenizer.json").is_file()
    assert json.loads((model / "config.json").read_text())["ftaudit_base_model"] == str(tiny["base"])
    assert by_code["training-collapsed"]["severity"] == "pass"
    assert by_code["training-diverged"]["severity"] == "pass"
    assert by_code["encoder-frozen"]["severity"] == "pass"  # drift ran against the base
    dyn = next(p for p in data["probes"] if p["name"] == "dynamics")["result"]
    assert dyn["source"] == "fine-tune" and dyn["n_tracked"] == 360  # 10% held out for validation
    assert dyn["test_accuracy"] > 0.8
    # the checkpoint after 2/3 of the steps: what the last third bought on a stratified sample of test
    n_test = len(Path(tiny["test"]).read_text().splitlines()) - 1
    assert dyn["checkpoint_rows"] == min(512, n_test) and dyn["checkpoint_step"] == round(2 / 3 * dyn["steps"])
    assert dyn["late_gain"] == pytest.approx(dyn["end_accuracy"] - dyn["checkpoint_accuracy"])
    low, high = dyn["late_gain_ci"]
    assert low <= dyn["late_gain"] <= high and by_code["still-improving"]["numbers"]["late_gain_ci_low"] == low
    phases = data["run"]["phases"]  # the checkpoint's pass is the audit's time, not the fine-tune's
    assert 0 < phases["probe dynamics checkpoint"] < phases["fine-tune"]
    if n_test <= 512:
        assert dyn["end_accuracy"] == pytest.approx(dyn["test_accuracy"])
    assert any("held out" in n for n in data["run"]["notes"])
    html = (out / "report.html").read_text()
    assert "Label-noise candidates" in html and "What the last third of training bought: on " in html
    # the saved model is audited again later, with its recorded training and its base found from config.json
    again = tmp_path / "again"
    r = cli("run", "--model", model, "--train", tiny["train"], "--test", tiny["test"], "--probes", "drift,dynamics",
            "--out", again, "--quiet")
    assert r.code == 0, r.out + r.err
    data2, by_code2 = findings(again)
    assert by_code2["training-collapsed"]["severity"] == "pass" and data2["run"]["base"] == str(tiny["base"])
    dyn2 = next(p for p in data2["probes"] if p["name"] == "dynamics")["result"]
    assert dyn2["checkpoint_rows"] == 0 and dyn2["late_gain"] is None  # the checkpoint belongs to its own audit


def test_a_huge_learning_rate_collapses_and_is_diagnosed(tiny, cli, tmp_path):
    out = tmp_path / "collapsed"
    r = cli("run", "--fine-tune", "--base", tiny["base"], "--train", tiny["train"], "--test", tiny["test"],
            "--epochs", "2", "--batch-size", "16", "--max-length", "32", "--lr", "0.5", "--warmup-ratio", "0",
            "--probes", "dynamics", "--out", out, "--quiet")
    data, by_code = findings(out)
    failed = {c for c, f in by_code.items() if f["severity"] == "fail"}
    assert failed & {"training-collapsed", "training-diverged"}, by_code
    assert r.code == 1
    assert by_code["label-noise-suspected"]["severity"] in ("skip", "pass")


def test_seeds_are_compared_and_the_first_is_audited(tiny, cli, tmp_path):
    out = tmp_path / "seeds"
    r = cli("run", "--fine-tune", "--base", tiny["base"], "--train", tiny["train"], "--test", tiny["test"],
            "--epochs", "1", "--batch-size", "32", "--max-length", "32", "--lr", "3e-3", "--seeds", "2",
            "--seed", "7", "--probes", "dynamics", "--out", out, "--quiet")
    assert r.code in (0, 1), r.err
    data, by_code = findings(out)
    dyn = next(p for p in data["probes"] if p["name"] == "dynamics")["result"]
    assert [s["seed"] for s in dyn["seeds"]] == [7, 8] and dyn["seed"] == 7
    assert dyn["seed_metric"] == "test accuracy"
    assert by_code["seed-instability"]["severity"] in ("pass", "warn")
    assert any("first seed, 7" in n for n in data["run"]["notes"])


def test_batch_larger_than_the_data_is_noted(tiny, cli, tmp_path):
    out = tmp_path / "big-batch"
    r = cli("run", "--fine-tune", "--base", tiny["base"], "--train", tiny["train"], "--test", tiny["test"],
            "--epochs", "1", "--batch-size", "1000", "--max-length", "32", "--probes", "gap", "--out", out,
            "--quiet")
    assert r.code in (0, 1), r.err
    data, _ = findings(out)
    assert any("larger than the 400 training rows" in n for n in data["run"]["notes"])


@pytest.mark.parametrize("args, words", [
    (("--lr", "-1"), "--lr must be positive"),
    (("--epochs", "0"), "--epochs must be at least 1"),
    (("--batch-size", "0"), "--batch-size must be at least 1"),
    (("--warmup-ratio", "1.5"), "--warmup-ratio"),
    (("--max-grad-norm", "-1"), "--max-grad-norm"),
    (("--seeds", "0"), "--seeds"),
])
def test_bad_hyperparameters_exit_2(tiny, cli, tmp_path, args, words):
    r = cli("run", "--fine-tune", "--base", tiny["base"], "--train", tiny["train"], "--test", tiny["test"], *args,
            "--out", tmp_path / "bad")
    assert r.code == 2 and words in r.err, r.err


def test_fine_tune_without_a_base_exits_2(tiny, cli, tmp_path):
    r = cli("run", "--fine-tune", "--train", tiny["train"], "--test", tiny["test"], "--out", tmp_path / "x")
    assert r.code == 2 and "--base" in r.err


def test_new_options_are_in_help():
    from ftaudit.cli import build_parser

    run = build_parser()._subparsers._group_actions[0].choices["run"]
    text = run.format_help()
    for flag in ("--fine-tune", "--epochs", "--lr", "--batch-size", "--warmup-ratio", "--weight-decay",
                 "--freeze-encoder", "--seeds", "--grad-norm-every", "--max-grad-norm", "--validation",
                 "--max-length", "--dynamics-aum-scale"):
        assert flag in text, flag


def test_freeze_encoder_trains_only_the_head(tiny, cli, tmp_path):
    out = tmp_path / "frozen"
    cli("run", "--fine-tune", "--base", tiny["base"], "--train", tiny["train"], "--test", tiny["test"],
        "--epochs", "1", "--batch-size", "32", "--max-length", "32", "--freeze-encoder", "--probes", "drift,dynamics",
        "--out", out, "--quiet")
    data, by_code = findings(out)
    dyn = next(p for p in data["probes"] if p["name"] == "dynamics")["result"]
    assert [g["layer"] for g in dyn["layers"]] == ["head"] and dyn["frozen_encoder"]
    assert by_code["encoder-frozen"]["severity"] == "warn"
    assert by_code["vanishing-gradients"]["severity"] == "skip"


def test_data_parallel_fine_tune_in_two_processes(tiny, tmp_path):
    """`torchrun --nproc_per_node 2` (the launcher under `accelerate launch`): two CPU processes (gloo) share the
    batches, gather every example's dynamics, and rank 0 saves and audits the model."""
    import math
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        torchrun = shutil.which("torchrun")
    out = tmp_path / "ddp"
    proc = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "--master_port", "29533", "-m", "ftaudit", "run", "--fine-tune",
         "--base", str(tiny["base"]), "--train", str(tiny["train"]), "--test", str(tiny["test"]), "--epochs", "4",
         "--batch-size", "16", "--max-length", "32", "--lr", "3e-3", "--probes", "gap,drift,dynamics",
         "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data, by_code = findings(out)
    dyn = next(p for p in data["probes"] if p["name"] == "dynamics")["result"]
    assert dyn["steps"] == 4 * math.ceil(400 / (2 * 16))  # each step: one batch of 16 per process
    assert dyn["n_tracked"] == 400  # margins gathered from both processes
    assert dyn["checkpoint_rows"] > 0 and dyn["checkpoint_step"] == round(2 / 3 * dyn["steps"])
    assert by_code["training-collapsed"]["severity"] == "pass" and dyn["test_accuracy"] > 0.8
    assert (out / "model" / "model.safetensors").is_file()
