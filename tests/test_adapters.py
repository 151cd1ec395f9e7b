"""LoRA adapters: --fine-tune --lora R, an adapter folder as --model, the adapter probe's numbers and rules."""

from __future__ import annotations

import csv
import json
import math
import shutil

import numpy as np
import pytest

pytest.importorskip("peft")
# the tests' own get_peft_model calls: peft asks transformers 5 a renamed question (ftaudit silences it in its calls)
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")


def _probe(data: dict, name: str) -> dict:
    return next(p for p in data["probes"] if p["name"] == name)


def _finding(data: dict, code: str) -> dict:
    return next(f for f in data["findings"] if f["code"] == code)


@pytest.fixture(scope="module")
def lora_run(tiny, tmp_path_factory):
    """A --lora 4 fine-tune of the tiny base, audited; its saved adapter folder."""
    from tests.conftest import run_cli

    out = tmp_path_factory.mktemp("lora") / "rep"
    r = run_cli("run", "--fine-tune", "--base", tiny["base"], "--train", tiny["train"], "--test", tiny["test"],
                "--lora", "4", "--lr", "1e-2", "--epochs", "6", "--probes", "gap,drift,adapter,dynamics",
                "--out", out, "--quiet")
    assert r.code in (0, 1), r.err
    return out, json.loads((out / "result.json").read_text())


def test_fine_tune_lora_trains_and_saves_an_adapter(lora_run):
    out, data = lora_run
    folder = out / "model"
    assert (folder / "adapter_config.json").is_file() and (folder / "adapter_model.safetensors").is_file()
    assert not (folder / "config.json").exists()  # an adapter folder, not a whole model
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["r"] == 4 and sorted(config["target_modules"]) == ["query", "value"]
    dyn = _probe(data, "dynamics")["result"]
    assert dyn["lora_rank"] == 4
    assert dyn["layers"] and {"layer 0", "layer 1", "head"} <= {g["layer"] for g in dyn["layers"]}
    gap = _probe(data, "gap")["result"]
    assert gap["test"]["accuracy"] > 0.6  # the adapter learned the task
    assert any("LoRA adapter (r = 4" in n for n in data["run"]["notes"])


def test_adapter_table_per_module(lora_run):
    _, data = lora_run
    a = _probe(data, "adapter")["result"]
    assert a["source"] == "--lora" and a["rank"] == 4 and a["alpha"] == 16
    names = [(m["layer"], m["name"]) for m in a["modules"]]
    assert names == [("layer 0", "query"), ("layer 0", "value"), ("layer 1", "query"), ("layer 1", "value")]
    assert sum(m["share"] for m in a["modules"]) == pytest.approx(1.0)
    for m in a["modules"]:
        assert 1.0 <= m["effective_rank"] <= 4.0 and 1 <= m["rank90"] <= 4 and m["relative"] > 0
        assert m["relative"] == pytest.approx(m["update_norm"] / m["base_norm"])
        assert m["update_norm"] == pytest.approx(math.sqrt(sum(v * v for v in m["singular_values"])))
    assert a["adapter_params"] == 2 * 2 * 4 * (32 + 32)  # 2 layers x (query, value) x r (in + out)
    assert {f["code"] for f in data["findings"]} >= {"adapter-rank-underused", "adapter-update-concentrated"}


def test_adapter_folder_audits_like_the_fine_tune(lora_run, tiny, cli, tmp_path):
    """The saved folder as --model: the base from adapter_config.json, the same merged weights and adapter table."""
    out, first = lora_run
    r = cli("run", "--model", out / "model", "--train", tiny["train"], "--test", tiny["test"],
            "--probes", "gap,drift,adapter,dynamics", "--out", tmp_path / "rep", "--quiet")
    assert r.code in (0, 1), r.err
    data = json.loads((tmp_path / "rep" / "result.json").read_text())
    assert data["run"]["mode"] == "existing-model" and data["run"]["base"] == str(tiny["base"])
    assert _probe(data, "gap")["result"]["test"]["accuracy"] == _probe(first, "gap")["result"]["test"]["accuracy"]
    assert _probe(data, "drift")["result"]["encoder_relative"] == pytest.approx(
        _probe(first, "drift")["result"]["encoder_relative"], rel=1e-9)
    again = _probe(data, "adapter")["result"]
    assert [m["relative"] for m in again["modules"]] == pytest.approx(
        [m["relative"] for m in _probe(first, "adapter")["result"]["modules"]], rel=1e-6)
    assert _probe(data, "dynamics")["status"] == "ok"  # the record saved next to the adapter
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "effective rank" in html and "A LoRA adapter" in html


def test_plain_model_skips_the_adapter_probe(tiny, cli, tmp_path):
    r = cli("run", "--model", tiny["good"], "--train", tiny["train"], "--test", tiny["test"], "--probes",
            "gap,adapter", "--out", tmp_path / "rep", "--quiet")
    assert r.code in (0, 1), r.err
    data = json.loads((tmp_path / "rep" / "result.json").read_text())
    assert _probe(data, "adapter")["status"] == "skipped"
    assert "not a LoRA adapter" in _probe(data, "adapter")["reason"]


# --------------------------------------------------------------------------- adapters made by peft itself


def _peft_adapter(tiny, folder, *, r=4, base=None, head=True):
    """An untrained LoRA adapter saved by peft (no ftaudit record next to it); the base path as peft records it."""
    from peft import LoraConfig, get_peft_model
    from transformers import BertForSequenceClassification

    from fixtures.tiny import tiny_config

    model = BertForSequenceClassification.from_pretrained(str(tiny["base"]), config=tiny_config())
    config = LoraConfig(task_type="SEQ_CLS" if head else None, r=r, target_modules=["query", "value"],
                        init_lora_weights="gaussian")  # B != 0, so the update is not zero
    peft_model = get_peft_model(model, config)
    peft_model.save_pretrained(str(folder))
    if base is not None:
        path = folder / "adapter_config.json"
        data = json.loads(path.read_text())
        data["base_model_name_or_path"] = base
        path.write_text(json.dumps(data))
    return folder


def test_adapter_without_a_record_takes_trains_labels_with_a_note(tiny, cli, tmp_path):
    folder = _peft_adapter(tiny, tmp_path / "adapter")
    r = cli("run", "--model", folder, "--train", tiny["train"], "--test", tiny["test"], "--probes", "gap,adapter",
            "--out", tmp_path / "rep", "--quiet")
    assert r.code in (0, 1), r.err
    data = json.loads((tmp_path / "rep" / "result.json").read_text())
    assert any("records no class names" in n for n in data["run"]["notes"])
    assert _probe(data, "adapter")["result"]["source"] == str(folder)


def test_adapter_with_a_hub_base_asks_for_base(tiny, cli, tmp_path):
    folder = _peft_adapter(tiny, tmp_path / "adapter", base="someone/bert-base-uncased")
    r = cli("run", "--model", folder, "--train", tiny["train"], "--test", tiny["test"], "--out", tmp_path / "rep")
    assert r.code == 2 and "pass --base someone/bert-base-uncased" in r.err and "Traceback" not in r.err
    assert not (tmp_path / "rep").exists()
    ok = cli("run", "--model", folder, "--base", tiny["base"], "--train", tiny["train"], "--test", tiny["test"],
             "--probes", "gap", "--out", tmp_path / "rep2", "--quiet")
    assert ok.code in (0, 1), ok.err


@pytest.mark.parametrize("damage, message", [
    ("pickle", "only pickle weights"),
    ("prefix", "peft_type is PREFIX_TUNING"),
    ("no-head", "saved no classification head"),
])
def test_bad_adapter_folders_exit_2(tiny, cli, tmp_path, damage, message):
    folder = _peft_adapter(tiny, tmp_path / "adapter", head=damage != "no-head")
    if damage == "pickle":
        import torch
        from safetensors.torch import load_file

        torch.save(load_file(str(folder / "adapter_model.safetensors")), folder / "adapter_model.bin")
        (folder / "adapter_model.safetensors").unlink()
    if damage == "prefix":
        path = folder / "adapter_config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "peft_type": "PREFIX_TUNING"}))
    r = cli("run", "--model", folder, "--train", tiny["train"], "--test", tiny["test"], "--out", tmp_path / "rep")
    assert r.code == 2 and message in r.err and "Traceback" not in r.err, r.err


def test_pickle_adapter_audits_with_allow_pickle(tiny, cli, tmp_path):
    import torch
    from safetensors.torch import load_file

    folder = _peft_adapter(tiny, tmp_path / "adapter")
    torch.save(load_file(str(folder / "adapter_model.safetensors")), folder / "adapter_model.bin")
    (folder / "adapter_model.safetensors").unlink()
    r = cli("run", "--model", folder, "--allow-pickle", "--train", tiny["train"], "--test", tiny["test"],
            "--probes", "gap,adapter", "--out", tmp_path / "rep", "--quiet")
    assert r.code in (0, 1), r.err
    data = json.loads((tmp_path / "rep" / "result.json").read_text())
    assert len(_probe(data, "adapter")["result"]["modules"]) == 4


def test_class_count_must_match_the_saved_head(tiny, cli, tmp_path):
    folder = _peft_adapter(tiny, tmp_path / "adapter")
    rows = list(csv.DictReader(open(tiny["train"], encoding="utf-8")))
    three = tmp_path / "three.csv"
    with open(three, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["text", "label"])
        w.writeheader()
        for i, row in enumerate(rows):
            w.writerow({"text": row["text"], "label": "neutral" if i % 3 == 0 else row["label"]})
    r = cli("run", "--model", folder, "--train", three, "--test", three, "--out", tmp_path / "rep")
    assert r.code == 2 and "head has 2 outputs but there are 3 classes" in r.err


def test_lora_without_peft_says_how_to_install(tiny, cli, tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_peft(name, *args, **kwargs):
        if name == "peft" or name.startswith("peft."):
            raise ImportError("no peft")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_peft)
    r = cli("run", "--fine-tune", "--base", tiny["base"], "--train", tiny["train"], "--test", tiny["test"],
            "--lora", "4", "--out", tmp_path / "rep")
    assert r.code == 2 and "pip install 'ftaudit[peft]'" in r.err


@pytest.mark.parametrize("flags, message", [
    (["--lora", "-1"], "--lora must be a rank"),
    (["--lora", "4", "--freeze-encoder"], "contradict"),
    (["--lora", "4", "--lora-dropout", "1"], "--lora-dropout must be in [0, 1)"),
    (["--lora", "4", "--lora-target-modules", "nonexistent"], "--lora cannot adapt"),
])
def test_bad_lora_options_exit_2(tiny, cli, tmp_path, flags, message):
    r = cli("run", "--fine-tune", "--base", tiny["base"], "--train", tiny["train"], "--test", tiny["test"], *flags,
            "--out", tmp_path / "rep")
    assert r.code == 2 and message in r.err and "Traceback" not in r.err, r.err


# --------------------------------------------------------------------------- the numbers and the rules


def test_singular_values_without_the_dense_update():
    import torch

    from ftaudit.probes.adapter import effective_rank, rank_for, singular_values

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 40, generator=g), torch.randn(30, 6, generator=g)
    dense = torch.linalg.svdvals(2.0 * b.double() @ a.double()).numpy()[:6]
    assert np.allclose(singular_values(a, b, 2.0), dense, rtol=1e-10)
    assert effective_rank(np.ones(8)) == pytest.approx(8.0)
    assert effective_rank(np.array([3.0, 0, 0, 0])) == pytest.approx(1.0)
    assert effective_rank(np.zeros(4)) == 0.0
    assert rank_for(np.array([3.0, 0.5, 0.1])) == 1 and rank_for(np.array([1.0, 1.0, 1.0])) == 3


def _weights(factors, rank=8):
    from ftaudit.adapters import AdapterWeights, LoraFactors

    names = [f"bert.encoder.layer.{i // 2}.attention.self.{'query' if i % 2 == 0 else 'value'}"
             for i in range(len(factors))]
    modules = tuple(LoraFactors(module=name, a=a, b=b, scaling=2.0, base_norm=10.0)
                    for name, (a, b) in zip(names, factors))
    return AdapterWeights(source="test", rank=rank, alpha=16.0, use_rslora=False, use_dora=False,
                          target_modules=("query", "value"), modules_to_save=("classifier",), modules=modules)


def _model():
    from transformers import BertForSequenceClassification

    from fixtures.tiny import tiny_config

    return BertForSequenceClassification(tiny_config())


def _judge(result, code):
    from ftaudit.probes.registry import all_rules, threshold_defaults

    defaults = threshold_defaults()
    rule = next(r for r in all_rules() if r.code == code)
    return rule.judge(result, lambda name: defaults[name].default)


def test_rank_rule_fires_on_a_rank_one_update_and_not_on_a_full_one():
    import torch

    from ftaudit.probes.adapter import measure_adapter

    model = _model()
    g = torch.Generator().manual_seed(1)
    u, v = torch.randn(32, 1, generator=g), torch.randn(1, 32, generator=g)
    rank_one = [(torch.cat([v] * 8) * torch.rand(8, 1, generator=g), torch.cat([u] * 8, dim=1)) for _ in range(4)]
    full = [(torch.randn(8, 32, generator=g), torch.randn(32, 8, generator=g)) for _ in range(4)]
    low = measure_adapter(_weights(rank_one), model)
    assert low.median_rank_usage < 0.2 and all(m.rank90 == 1 for m in low.modules)
    assert _judge(low, "adapter-rank-underused").severity.value == "warn"
    high = measure_adapter(_weights(full), model)
    assert high.median_rank_usage > 0.6
    assert _judge(high, "adapter-rank-underused").severity.value == "pass"


def test_spread_rule_fires_when_one_module_carries_the_change():
    import torch

    from ftaudit.probes.adapter import measure_adapter

    model = _model()
    g = torch.Generator().manual_seed(2)
    factors = [(torch.randn(8, 32, generator=g), torch.randn(32, 8, generator=g) * (5.0 if i == 2 else 1.0))
               for i in range(4)]
    one = measure_adapter(_weights(factors), model)
    assert one.top_module == "bert.encoder.layer.1.attention.self.query" and one.top_share > 0.8
    assert _judge(one, "adapter-update-concentrated").severity.value == "warn"
    even = measure_adapter(_weights([(a, b / (5.0 if i == 2 else 1.0)) for i, (a, b) in enumerate(factors)]), model)
    assert _judge(even, "adapter-update-concentrated").severity.value == "pass"
    assert [layer.layer for layer in even.layers] == ["layer 0", "layer 1"]


# --------------------------------------------------------------------------- the Trainer callback on a PeftModel


def test_trainer_callback_on_a_peft_model(tiny, cli, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import (AutoTokenizer, BertForSequenceClassification, DataCollatorWithPadding, Trainer,
                              TrainingArguments)

    from fixtures.tiny import LABELS, tiny_config
    from ftaudit.finetune import load_recorded_training
    from ftaudit.integrations.hf import FtauditCallback
    from ftaudit.modeling import quiet_transformers

    quiet_transformers()
    tok = AutoTokenizer.from_pretrained(str(tiny["base"]))
    base = BertForSequenceClassification.from_pretrained(str(tiny["base"]), config=tiny_config())
    model = get_peft_model(base, LoraConfig(task_type="SEQ_CLS", r=4, target_modules=["query", "value"]))
    rows = list(csv.DictReader(open(tiny["train"], encoding="utf-8")))
    data = [dict(tok(r["text"]), labels=LABELS.index(r["label"])) for r in rows]
    out = tmp_path / "trainer"
    args = TrainingArguments(output_dir=str(out), num_train_epochs=2, per_device_train_batch_size=16,
                             learning_rate=1e-2, logging_steps=5, save_strategy="epoch", report_to=[],
                             use_cpu=True, seed=0, disable_tqdm=True)
    Trainer(model=model, args=args, train_dataset=data, data_collator=DataCollatorWithPadding(tok),
            processing_class=tok, callbacks=[FtauditCallback(grad_norm_every=5)]).train()
    checkpoint = out / "checkpoint-50"
    assert (checkpoint / "adapter_config.json").is_file()
    record = load_recorded_training(checkpoint)
    assert record.run.source == "trainer callback" and record.run.steps == 50
    assert record.grad_layers == ("layer 0", "layer 1", "head")  # only the adapter and the head train
    assert (record.grad_norms > 0).all() and record.label_names == ("negative", "positive")
    r = cli("run", "--model", checkpoint, "--train", tiny["train"], "--test", tiny["test"],
            "--probes", "gap,adapter,dynamics", "--out", tmp_path / "rep", "--quiet")
    assert r.code in (0, 1), r.err
    result = json.loads((tmp_path / "rep" / "result.json").read_text())
    assert _probe(result, "dynamics")["result"]["source"] == "trainer callback"
    assert len(_probe(result, "adapter")["result"]["modules"]) == 4
    shutil.rmtree(out)


# --------------------------------------------------------------------------- every architecture


ARCHITECTURES = ("bert", "distilbert", "roberta", "xlm-roberta", "deberta-v2", "electra", "modernbert", "albert")


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_lora_targets_of_every_architecture(arch_bases, arch):
    """The table's default targets exist in every architecture: peft wraps them and only they and the head train."""
    from ftaudit import modeling
    from ftaudit.adapters import LoraSpec, plain_name
    from ftaudit.data import LabelSpace
    from ftaudit.training import new_classifier

    modeling.quiet_transformers()
    files = modeling.locate(str(arch_bases[arch]), "base model", allow_pickle=False)
    model = new_classifier(files, LabelSpace(("a", "b")), trust_remote_code=False, allow_pickle=False,
                           lora=LoraSpec(rank=2, alpha=4.0, dropout=0.0))
    trainable = [plain_name(n) for n, p in model.named_parameters() if p.requires_grad]
    assert any("lora_A" in n for n in trainable)
    assert all("lora_" in n or "classifier" in n or "pre_classifier" in n or n.startswith("head.")
               or "pooler" in n for n in trainable), trainable


def test_api_audits_an_in_memory_peft_model(tiny, tmp_path):
    """ftaudit.audit(model=PeftModel, tokenizer=...): saved as an adapter folder and audited as one."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, BertForSequenceClassification

    import ftaudit
    from fixtures.tiny import tiny_config

    base = BertForSequenceClassification.from_pretrained(str(tiny["base"]), config=tiny_config())
    model = get_peft_model(base, LoraConfig(task_type="SEQ_CLS", r=4, target_modules=["query", "value"],
                                            init_lora_weights="gaussian"))
    result = ftaudit.audit(model=model, tokenizer=AutoTokenizer.from_pretrained(str(tiny["base"])),
                           train=str(tiny["train"]), test=str(tiny["test"]), probes=("gap", "adapter"))
    adapter = next(p for p in result.probes if p.name == "adapter")
    assert adapter.status == "ok" and len(adapter.result.modules) == 4 and adapter.result.rank == 4
