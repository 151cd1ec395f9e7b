"""Rules over the training dynamics, judged on hand-made DynamicsResults with known answers."""

from __future__ import annotations

import dataclasses
import math

import pytest

from ftaudit.probes.registry import result_kinds
from ftaudit.probes.dynamics import DynamicsResult, LayerGradient, SeedSummary
from ftaudit.results import ProbeOutcome, Severity, from_json, to_json
from ftaudit.rules.dynamics import RULES
from ftaudit.rules.registry import threshold_defaults

BY_CODE = {r.code: r for r in RULES}
LN2 = math.log(2)


def healthy(**changes) -> DynamicsResult:
    r = DynamicsResult(
        source="fine-tune", seed=0, epochs=3, steps=90, batch_size=32, lr=5e-5, seconds=12.0, n_classes=2,
        label_entropy=LN2, loss_steps=(1, 2, 3), loss=(0.7, 0.4, 0.1), lr_curve=(1e-5, 5e-5, 1e-5),
        initial_loss=0.70, final_loss=0.10, late_drop=0.05, nonfinite_step=None, max_loss_ratio=1.02,
        grad_steps=(1, 11), layers=(LayerGradient("embeddings", 0.5, (0.5, 0.5)), LayerGradient("layer 0", 1.0, (1.0, 1.0)),
                                    LayerGradient("layer 1", 2.0, (2.0, 2.0)), LayerGradient("head", 3.0, (3.0, 3.0))),
        lower_to_top_ratio=0.5, frozen_encoder=False, train_accuracy=0.97, train_majority_share=0.51,
        test_accuracy=0.88, test_majority_share=0.52, majority_baseline=0.5, n_tracked=1000, aum_threshold=0.0,
        n_flagged=30, noise_rate=0.03, flagged=(), cartography=(), seed_metric="", seeds=())
    return dataclasses.replace(r, **changes)


def judge(code: str, result: DynamicsResult):
    defaults = {name: t.default for name, t in threshold_defaults().items()}
    return BY_CODE[code].evaluate(ProbeOutcome(name="dynamics", status="ok", result=result), defaults.__getitem__)


@pytest.mark.parametrize("code", sorted(BY_CODE))
def test_a_healthy_run_passes_every_rule(code):
    assert judge(code, healthy()).severity in (Severity.PASS, Severity.SKIP)


def test_collapse_needs_chance_loss_and_one_class():
    collapsed = healthy(final_loss=0.69, test_accuracy=0.5, test_majority_share=1.0)
    f = judge("training-collapsed", collapsed)
    assert f.severity is Severity.FAIL
    assert "0.690" in f.message and "100.0%" in f.message and f.numbers["label_entropy"] == pytest.approx(LN2)
    # near-chance loss but predictions spread and accuracy above baseline: a weak run, not a collapse
    assert judge("training-collapsed", healthy(final_loss=0.68, test_accuracy=0.8)).severity is Severity.PASS
    # a collapsed run is not also called under-trained, lr-too-low or noisy
    for code in ("loss-barely-fell", "still-improving", "label-noise-suspected"):
        assert judge(code, dataclasses.replace(collapsed, noise_rate=0.5, late_drop=0.5)).severity is Severity.SKIP


def test_divergence_from_nan_or_a_rising_loss():
    f = judge("training-diverged", healthy(nonfinite_step=17))
    assert f.severity is Severity.FAIL and "step 17" in f.message
    assert judge("training-collapsed", healthy(nonfinite_step=17)).severity is Severity.SKIP
    f = judge("training-diverged", healthy(final_loss=1.4, initial_loss=0.7))
    assert f.severity is Severity.FAIL and "2.0x" in f.message
    assert judge("training-diverged", healthy(max_loss_ratio=25.0)).severity is Severity.FAIL


def test_vanishing_gradients_compare_lowest_and_top_encoder_layers():
    layers = (LayerGradient("layer 0", 1e-5, ()), LayerGradient("layer 1", 1e-1, ()), LayerGradient("head", 1.0, ()))
    f = judge("vanishing-gradients", healthy(layers=layers, lower_to_top_ratio=1e-4))
    assert f.severity is Severity.WARN and "layer 0" in f.message and "1.00e-04" in f.message
    assert judge("vanishing-gradients", healthy(layers=layers, lower_to_top_ratio=1e-4,
                                                frozen_encoder=True)).severity is Severity.SKIP


def test_still_improving_only_when_the_loss_is_not_yet_fitted():
    assert judge("still-improving", healthy(final_loss=0.4, late_drop=0.3)).severity is Severity.WARN
    assert judge("still-improving", healthy(final_loss=0.05, late_drop=0.3)).severity is Severity.PASS


def test_loss_barely_fell():
    f = judge("loss-barely-fell", healthy(final_loss=0.65, test_accuracy=0.7, test_majority_share=0.6))
    assert f.severity is Severity.WARN and "0.700 to 0.650" in f.message


def test_label_noise_share_and_message():
    f = judge("label-noise-suspected", healthy(n_flagged=280, noise_rate=0.28, final_loss=0.4))
    assert f.severity is Severity.WARN and "280 of 1000" in f.message and "28.0%" in f.message


def test_label_noise_is_judged_on_a_model_that_learned_even_when_the_loss_stays_high():
    # 30% flipped labels on 600 reviews: the loss ends at 0.661 (0.95 H(y)), test accuracy 60.5% vs 50.3%
    noisy = healthy(final_loss=0.661, initial_loss=0.695, test_accuracy=0.605, majority_baseline=0.503,
                    n_flagged=144, noise_rate=0.24, n_tracked=600)
    assert judge("label-noise-suspected", noisy).severity is Severity.WARN
    clean = healthy(n_flagged=60, noise_rate=0.10, n_tracked=600)  # a healthy run flags the hardest 10%
    assert judge("label-noise-suspected", clean).severity is Severity.PASS
    nothing = healthy(final_loss=0.69, test_accuracy=0.52, majority_baseline=0.5, noise_rate=0.4)
    f = judge("label-noise-suspected", nothing)
    assert f.severity is Severity.SKIP and "learned nothing" in f.message
    no_test = healthy(final_loss=0.68, test_accuracy=None, noise_rate=0.4)
    assert judge("label-noise-suspected", no_test).severity is Severity.SKIP


def test_seed_instability_from_failed_share_or_spread():
    seeds = (SeedSummary(0, 0.88, 0.5, 0.1, False), SeedSummary(1, 0.5, 1.0, 0.69, False),
             SeedSummary(2, 0.87, 0.5, 0.1, False))
    f = judge("seed-instability", healthy(seeds=seeds, seed_metric="test accuracy"))
    assert f.severity is Severity.WARN and f.numbers["failed"] == 1 and "3 seeds" in f.message
    spread = (SeedSummary(0, 0.80, 0.5, 0.1, False), SeedSummary(1, 0.88, 0.5, 0.1, False))
    assert judge("seed-instability", healthy(seeds=spread)).severity is Severity.WARN
    stable = (SeedSummary(0, 0.88, 0.5, 0.1, False), SeedSummary(1, 0.87, 0.5, 0.1, False))
    assert judge("seed-instability", healthy(seeds=stable)).severity is Severity.PASS
    assert judge("seed-instability", healthy()).severity is Severity.SKIP  # one seed


def test_result_round_trips_through_json():
    from ftaudit.results import AuditResult, Diagnosis, GateResult, ProbeOutcome, RunInfo

    r = healthy(seeds=(SeedSummary(0, 0.88, 0.5, None, False),))
    run = RunInfo(ftaudit_version="x", started="", seconds=0.0, device="cpu", seed=0, mode="fine-tune", model="m",
                  base=None, train="", test="", labels=("a", "b"), config={}, phases={}, notes=())
    result = AuditResult(run=run, probes=(ProbeOutcome(name="dynamics", status="ok", result=r),), findings=(),
                         diagnosis=Diagnosis(verdict=""), gate=GateResult(fail_on="fail", passed=True, failing=()))
    back = from_json(to_json(result), kinds=result_kinds()).probe("dynamics")
    assert back == r
