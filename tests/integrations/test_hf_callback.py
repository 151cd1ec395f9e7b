"""FtauditCallback in a real transformers Trainer on the tiny model; `ftaudit run --model CHECKPOINT` reads it."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    from transformers import (AutoTokenizer, BertForSequenceClassification, DataCollatorWithPadding, Trainer,
                              TrainingArguments)

    from fixtures.tiny import LABELS, tiny_config
    from ftaudit.integrations.hf import FtauditCallback
    from ftaudit.modeling import quiet_transformers

    quiet_transformers()
    out = tmp_path_factory.mktemp("trainer")
    tok = AutoTokenizer.from_pretrained(str(tiny["base"]))
    model = BertForSequenceClassification.from_pretrained(str(tiny["base"]), config=tiny_config())
    with open(tiny["train"], encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    data = [dict(tok(r["text"]), labels=LABELS.index(r["label"])) for r in rows]
    args = TrainingArguments(output_dir=str(out), num_train_epochs=2, per_device_train_batch_size=16,
                             learning_rate=3e-3, warmup_steps=5, logging_steps=5, save_strategy="epoch",
                             report_to=[], use_cpu=True, seed=0, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=DataCollatorWithPadding(tok),
                      processing_class=tok, callbacks=[FtauditCallback(base_model=str(tiny["base"]),
                                                                       grad_norm_every=5)])
    trainer.train()
    trainer.save_model()
    return out, rows


def test_callback_records_the_run_next_to_each_checkpoint(trained):
    from ftaudit.finetune import load_recorded_training

    out, rows = trained
    record = load_recorded_training(out / "checkpoint-50")
    assert record.run.source == "trainer callback" and record.run.steps == 50 and record.run.epochs == 2
    assert len(record.step_loss) == 50 and np.isfinite(record.step_loss).all()
    assert record.step_lr[5] == pytest.approx(3e-3) and record.step_lr[0] < record.step_lr[4] < record.step_lr[5]  # warm-up seen
    assert record.grad_layers == ("embeddings", "layer 0", "layer 1", "pooler", "head")
    assert record.grad_norms.shape == (10, 5) and (record.grad_norms > 0).all()
    assert record.gold_prob.shape == (2, 400)  # every example keyed by its tokens, once per epoch
    assert set(record.texts) == {r["text"] for r in rows}
    assert record.label_names == ("negative", "positive")
    assert json.loads((out / "checkpoint-50" / "config.json").read_text())["ftaudit_base_model"]


def test_ftaudit_run_model_checkpoint_picks_it_up(trained, tiny, cli, tmp_path):
    out, _ = trained
    r = cli("run", "--model", out / "checkpoint-50", "--train", tiny["train"], "--test", tiny["test"],
            "--probes", "drift,dynamics", "--out", tmp_path / "rep", "--quiet")
    assert r.code in (0, 1), r.err
    data = json.loads((tmp_path / "rep" / "result.json").read_text())
    dyn = next(p for p in data["probes"] if p["name"] == "dynamics")
    assert dyn["status"] == "ok" and dyn["result"]["source"] == "trainer callback"
    assert dyn["result"]["n_tracked"] == 400 and len(dyn["result"]["layers"]) == 5
    assert data["run"]["base"] == str(tiny["base"])  # drift found the base the callback recorded


def test_trainer_state_alone_gives_a_loss_only_record(trained, tmp_path):
    from ftaudit.finetune import load_recorded_training

    out, _ = trained
    bare = tmp_path / "ckpt"
    shutil.copytree(out / "checkpoint-50", bare / "checkpoint-50")
    for name in ("ftaudit_training.json", "ftaudit_training.npz"):
        (bare / "checkpoint-50" / name).unlink()
    record = load_recorded_training(bare / "checkpoint-50")
    assert record.run.source == "trainer log history" and record.gold_prob is None
    assert list(record.loss_steps) == [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
    assert record.grad_layers == ("all",) and record.grad_norms.shape == (10, 1)
