"""DriftProbe: zero for identical weights, located where the change is, prefix and new-head handling."""

from __future__ import annotations

import math

import pytest
import torch

from ftaudit.modeling import BaseWeights
from ftaudit.probes.drift import base_key_for, compute_drift


@pytest.fixture
def pair(tmp_path):
    from transformers import BertForSequenceClassification, BertModel

    from fixtures.tiny import tiny_config

    torch.manual_seed(0)
    base = BertModel(tiny_config())
    base.save_pretrained(tmp_path / "base")
    tuned = BertForSequenceClassification(tiny_config())
    tuned.bert.load_state_dict(base.state_dict())
    return tuned, BaseWeights(ref="base", files=(tmp_path / "base" / "model.safetensors",))


def test_identical_weights_have_zero_drift_and_the_head_is_new(pair):
    tuned, base = pair
    r = compute_drift(tuned, base)
    assert r.encoder_relative == pytest.approx(0.0, abs=1e-12)
    assert all(g.cosine == pytest.approx(1.0) for g in r.groups)
    assert set(r.new_tensors) == {"classifier.weight", "classifier.bias"}
    assert not r.mismatched_tensors and not r.missing_tensors


def test_drift_is_found_in_the_layer_that_changed(pair):
    tuned, base = pair
    with torch.no_grad():
        w = tuned.bert.encoder.layer[1].intermediate.dense.weight
        w.add_(0.1 * w.norm() / math.sqrt(w.numel()) * torch.randn_like(w))
    r = compute_drift(tuned, base)
    moved = {(g.layer, g.part) for g in r.groups if g.relative > 1e-6}
    assert moved == {("layer 1", "ffn")}
    ffn = next(g for g in r.groups if (g.layer, g.part) == ("layer 1", "ffn"))
    assert 0 < ffn.relative < 0.2 and ffn.cosine < 1.0 and ffn.max_abs > 0


def test_shape_mismatch_is_reported_not_compared(pair, tmp_path):
    from safetensors.torch import save_file

    tuned, _ = pair
    state = {k: v.clone() for k, v in tuned.bert.state_dict().items()}
    state["pooler.dense.weight"] = torch.zeros(3, 3)
    save_file(state, tmp_path / "odd.safetensors")
    r = compute_drift(tuned, BaseWeights(ref="odd", files=(tmp_path / "odd.safetensors",)))
    assert r.mismatched_tensors == ("bert.pooler.dense.weight",)


def test_base_key_for_handles_the_missing_prefix():
    keys = {"embeddings.word_embeddings.weight"}
    assert base_key_for("bert.embeddings.word_embeddings.weight", "bert", keys) == "embeddings.word_embeddings.weight"
    assert base_key_for("classifier.weight", "bert", keys) is None
