"""Integrated gradients in bf16: close to fp32, checked in its own precision, stalled items redone in fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ftaudit.probes.attribution.ig import integrated_gradients, special_ids
from ftaudit.modeling import resolve_precision


@pytest.fixture(scope="module")
def setting(tiny):
    from transformers import AutoTokenizer, BertForSequenceClassification

    from fixtures.tiny import make_rows
    from ftaudit.inference import encode

    tok = AutoTokenizer.from_pretrained(str(tiny["base"]))
    model = BertForSequenceClassification.from_pretrained(str(tiny["good"])).eval()
    enc = encode(tok, [r["text"] for r in make_rows(12, seed=5)], None, 64)
    kw = dict(device=torch.device("cpu"), pad_id=0, keep=special_ids(tok), batch_size=5, max_tokens=100)
    return model, enc, np.arange(12), np.arange(12) % 2, kw


@pytest.fixture(scope="module")
def fp32_tight(setting):
    """The fp32 reference at a tolerance below bf16 rounding, shared by the fall-back tests."""
    model, enc, rows, targets, kw = setting
    return integrated_gradients(model, enc, rows, targets, n_steps=4, max_steps=32, tolerance=1e-3,
                                precision="fp32", **kw)


@pytest.fixture
def bf16_everywhere(monkeypatch):
    """Every item starts in bf16: the tiny model's outputs change too little for most items to start there."""
    import ftaudit.probes.attribution.ig as ig

    monkeypatch.setattr(ig, "REDUCED_MIN_DELTA", 0.0)


def test_bf16_attributions_match_fp32(setting, bf16_everywhere):
    model, enc, rows, targets, kw = setting
    full = integrated_gradients(model, enc, rows, targets, n_steps=16, max_steps=16, tolerance=0.05,
                                precision="fp32", **kw)
    half = integrated_gradients(model, enc, rows, targets, n_steps=16, max_steps=16, tolerance=0.05,
                                precision="bf16", **kw)
    assert (full.precision, half.precision) == ("fp32", "bf16")
    assert not full.fp32_redone.any()
    kept = np.flatnonzero(~half.fp32_redone)
    assert len(kept) >= 8
    x = np.concatenate([full.attributions[i] for i in kept])
    y = np.concatenate([half.attributions[i] for i in kept])
    assert np.linalg.norm(x - y) / np.linalg.norm(x) < 0.02
    # completeness is checked against the bf16 model's own F(x) − F(x'), which is within rounding of fp32's
    np.testing.assert_allclose(half.output_change[kept], full.output_change[kept], atol=0.05)
    # what missed at the most steps (16 here) was redone in fp32 at 16: the same numbers as the fp32 run
    for i in np.flatnonzero(half.fp32_redone):
        assert full.relative_error[i] > 0.05
        np.testing.assert_allclose(half.attributions[i], full.attributions[i], atol=1e-5)
    assert next(model.parameters()).dtype == torch.float32  # the user's model is left as it was


def test_items_whose_bf16_error_stalls_are_redone_in_fp32(setting, fp32_tight):
    model, enc, rows, targets, kw = setting
    full = fp32_tight
    # a tolerance below bf16 rounding: doubling the steps stops helping, so those items go to fp32
    run = integrated_gradients(model, enc, rows, targets, n_steps=4, max_steps=32, tolerance=1e-3,
                               precision="bf16", **kw)
    assert run.fp32_redone.any()
    assert (run.relative_error[run.fp32_redone] < run.initial_error[run.fp32_redone]).all()
    assert not full.fp32_redone.any()
    # with the fallback, bf16 meets the tolerance about as often as fp32 does (what misses is quadrature at 32)
    assert (run.relative_error <= 1e-3).sum() >= (full.relative_error <= 1e-3).sum() - 1 >= 6


def test_an_autocast_pass_falls_back_to_fp32_as_the_bf16_copy_does(setting, fp32_tight, monkeypatch):
    """On CUDA bf16 is the model itself under autocast: emulated here with CPU bf16 autocast in place of a copy."""
    import ftaudit.probes.attribution.ig as ig
    import ftaudit.modeling as modeling

    model, enc, rows, targets, kw = setting
    monkeypatch.setattr(ig, "uses_bf16_copy", lambda precision, device: False)
    autocast_used = []

    def cpu_autocast(device):
        autocast_used.append(device)
        return torch.autocast("cpu", dtype=torch.bfloat16)

    monkeypatch.setattr(modeling, "autocast", cpu_autocast)
    run = integrated_gradients(model, enc, rows, targets, n_steps=4, max_steps=32, tolerance=1e-3,
                               precision="bf16", **kw)
    assert autocast_used, "the bf16 pass ran under autocast"
    assert run.fp32_redone.any()  # without the fall-back these items doubled their steps to the most, in bf16
    full = fp32_tight
    for i in np.flatnonzero(run.fp32_redone):  # redone in true fp32: the fp32 run's numbers at the same steps
        if run.steps[i] == full.steps[i]:
            np.testing.assert_allclose(run.attributions[i], full.attributions[i], atol=1e-5)
    assert (run.relative_error <= 1e-3).sum() >= (full.relative_error <= 1e-3).sum() - 1


def test_precision_choice(monkeypatch):
    import ftaudit.modeling as modeling

    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("bf16", cpu) == "bf16"
    # on a GPU auto is fp32: as fast as bf16 autocast once warm on an H100, without bf16's warm-up
    assert resolve_precision("auto", torch.device("cuda")) == "fp32"
    monkeypatch.setattr(modeling, "fast_bf16_cpu", lambda: False)
    assert resolve_precision("auto", cpu) == "fp32"  # emulated bf16 is slower than fp32
    monkeypatch.setattr(modeling, "fast_bf16_cpu", lambda: True)
    assert resolve_precision("auto", cpu) == "bf16"


def test_the_bf16_copy_attends_eagerly_and_matches_sdpa(setting, bf16_everywhere):
    """The copy switches to eager attention (SDPA's CPU kernels are slow in bf16 backward); the numbers agree."""
    from ftaudit.probes.attribution.ig import bf16_copy

    model, enc, rows, targets, kw = setting
    twin = bf16_copy(model)
    assert twin.config._attn_implementation == "eager"
    assert model.config._attn_implementation != "eager"  # the user's model is untouched
    on_sdpa = bf16_copy(model)
    on_sdpa.set_attn_implementation("sdpa")
    args = dict(n_steps=16, max_steps=16, tolerance=0.05, precision="bf16", **kw)
    eager = integrated_gradients(model, enc, rows, targets, half=twin, **args)
    sdpa = integrated_gradients(model, enc, rows, targets, half=on_sdpa, **args)
    both = ~(eager.fp32_redone | sdpa.fp32_redone)
    assert both.sum() >= 8
    x = np.concatenate([sdpa.attributions[i] for i in np.flatnonzero(both)])
    y = np.concatenate([eager.attributions[i] for i in np.flatnonzero(both)])
    assert np.linalg.norm(x - y) / np.linalg.norm(x) < 0.02


def test_items_whose_output_barely_changes_run_in_fp32_from_the_start(setting, monkeypatch):
    """Below REDUCED_MIN_DELTA nats of |F(x) − F(x')| bf16 rounding alone misses completeness: those go to fp32."""
    import ftaudit.probes.attribution.ig as ig

    model, enc, rows, targets, kw = setting
    full = integrated_gradients(model, enc, rows, targets, n_steps=16, max_steps=16, tolerance=0.05,
                                precision="fp32", **kw)
    monkeypatch.setattr(ig, "REDUCED_MIN_DELTA", float("inf"))  # every item counts as barely changing
    routed = ig.integrated_gradients(model, enc, rows, targets, n_steps=16, max_steps=16, tolerance=0.05,
                                     precision="bf16", **kw)
    assert routed.fp32_redone.all() and (routed.steps == 16).all()
    for i in range(len(rows)):
        np.testing.assert_allclose(routed.attributions[i], full.attributions[i], atol=1e-5)
    monkeypatch.setattr(ig, "REDUCED_MIN_DELTA", 0.0)  # none does: every item starts in bf16
    started = ig.integrated_gradients(model, enc, rows, targets, n_steps=16, max_steps=16, tolerance=0.05,
                                      precision="bf16", **kw)
    assert (~started.fp32_redone).sum() >= 8


@pytest.mark.parametrize("amx, avx512_bf16, onednn_bf16, fast", [
    (True, False, True, True),  # Intel Sapphire Rapids and later
    (False, True, True, True),  # AMD Zen 4 and later, Intel Cooper Lake
    (False, False, True, False),  # AVX-512 without bf16 instructions: oneDNN would emulate bf16
    (True, True, False, False),  # ONEDNN_MAX_CPU_ISA=AVX2: oneDNN will not use them
])
def test_bf16_is_fast_where_the_cpu_multiplies_bf16_in_hardware(monkeypatch, amx, avx512_bf16, onednn_bf16, fast):
    import ftaudit.modeling as modeling

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn_bf16)
    assert modeling.fast_bf16_cpu() is fast
