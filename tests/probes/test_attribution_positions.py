"""Integrated gradients gets the model's own position ids at both ends of the path (RoBERTa's are padding-aware)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

import ftaudit.probes.attribution.ig as ig
from fixtures.tiny import make_rows
from ftaudit.inference import encode


def _run(model, tokenizer, n: int = 16):
    enc = encode(tokenizer, [r["text"] for r in make_rows(n, seed=2)], None, 32)
    return ig.integrated_gradients(model, enc, np.arange(n), np.zeros(n, dtype=np.int64), device=torch.device("cpu"),
                                   pad_id=tokenizer.pad_token_id, keep=ig.special_ids(tokenizer), n_steps=16,
                                   max_steps=16, tolerance=0.05, batch_size=16, max_tokens=8192)


def _models_own_positions(monkeypatch):
    """As before the table: no position ids passed, so the model derives them from x' for F(x')."""
    table = ig.architecture_of
    monkeypatch.setattr(ig, "architecture_of", lambda model: replace(table(model), positions="own"))


@pytest.mark.parametrize("name", ["roberta", "xlm-roberta"])
def test_roberta_completeness_holds_at_the_first_step_count(arch_bases, monkeypatch, name):
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(arch_bases[name]))
    config = AutoConfig.from_pretrained(str(arch_bases[name]), num_labels=2, initializer_range=0.3)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config).eval()  # large weights: F moves far
    run = _run(model, tokenizer)
    assert np.median(np.abs(run.output_change)) > 0.05
    assert np.mean(run.relative_error <= 0.05) == 1.0  # measured: 16 of 16 at 16 steps (both)
    _models_own_positions(monkeypatch)
    assert np.mean(_run(model, tokenizer).relative_error <= 0.05) < 0.5  # measured: 3 and 0 of 16


def test_bert_attributions_are_bit_identical_with_explicit_positions(tiny, monkeypatch):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny["good"]))
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny["good"])).eval()
    explicit = _run(model, tokenizer)
    _models_own_positions(monkeypatch)
    own = _run(model, tokenizer)
    assert all(np.array_equal(a, b) for a, b in zip(explicit.attributions, own.attributions))
    assert np.array_equal(explicit.output_change, own.output_change)
    assert np.array_equal(explicit.relative_error, own.relative_error)
