"""Rules over the training dynamics, judged on hand-made DynamicsResults with known answers."""

from __future__ import annotations

import dataclasses
import math

import pytest

from ftaudit.probes.dynamics import DynamicsResult, LayerGradient
from ftaudit.probes.registry import result_kinds
from ftaudit.training_run import SeedRun, TrainingRun
from ftaudit.results import ProbeOutcome, Severity, from_json, to_json
from ftaudit.probes.dynamics.rules import RULES
from ftaudit.probes.registry import threshold_defaults

BY_CODE = {r.code: r for r in RULES}
LN2 = math.log(2)


RUN_FIELDS = {f.name for f in dataclasses.fields(TrainingRun)}


def healthy(**changes) -> DynamicsResult:
    """A healthy run's result; a change of a TrainingRun field (e.g. nonfinite_step) goes into `run`."""
    run = TrainingRun(source="fine-tune", seed=0, epochs=3, steps=90, batch_size=32, lr=5e-5, seconds=12.0)
    run = dataclasses.replace(run, **{k: v for k, v in changes.items() if k in RUN_FIELDS})
    changes = {k: v for k, v in changes.items() if k not in RUN_FIELDS}
    # n_flagged examples with an area under the margin far below the -0.5 x 2.0 threshold
    changes.setdefault("negative_aum", (-5.0,) * changes.pop("n_flagged", 30))
    r = DynamicsResult(
        run=run, n_classes=2,
        label_entropy=LN2, loss_steps=(1, 2, 3), loss=(0.7, 0.4, 0.1), lr_curve=(1e-5, 5e-5, 1e-5),
        initial_loss=0.70, final_loss=0.10, late_drop=0.05, max_loss_ratio=1.02,
        grad_steps=(1, 11), layers=(LayerGradient("embeddings", 0.5, (0.5, 0.5)), LayerGradient("layer 0", 1.0, (1.0, 1.0)),
                                    LayerGradient("layer 1", 2.0, (2.0, 2.0)), LayerGradient("head", 3.0, (3.0, 3.0))),
        lower_to_top_ratio=0.5, train_accuracy=0.97, train_majority_share=0.51,
        test_accuracy=0.88, test_majority_share=0.52, majority_baseline=0.5, n_tracked=1000, cartography=(),
        seed_metric="", seeds=(), positive_aum_median=2.0)
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
        assert judge(code, dataclasses.replace(collapsed, late_drop=0.5)).severity is Severity.SKIP


def test_one_class_at_the_majority_baseline_is_a_collapse_whatever_the_loss():
    # sms_spam/B/truncation: the training loss left H(y) (0.318 vs 0.418) but every test prediction is 'ham', at the
    # 87.0% majority baseline: the run learned nothing that transfers (the failed-run definition of Mosbach et al.)
    failed = healthy(final_loss=0.318, label_entropy=0.418, test_accuracy=0.87, test_majority_share=1.0,
                     majority_baseline=0.87)
    f = judge("training-collapsed", failed)
    assert f.severity is Severity.FAIL and f.threshold_name == "collapse_class_share"
    # one class but clearly above the baseline (a skewed test set predicted well), or spread predictions at the
    # baseline: not collapsed when the loss left chance level
    for changes in ({"test_accuracy": 0.95}, {"test_majority_share": 0.7}):
        assert judge("training-collapsed", dataclasses.replace(failed, **changes)).severity is Severity.PASS


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


def test_still_improving_reports_what_the_last_third_bought_on_test():
    rising = healthy(final_loss=0.4, late_drop=0.3, checkpoint_step=60, checkpoint_rows=500, checkpoint_accuracy=0.7,
                     end_accuracy=0.76, late_gain=0.06, late_gain_ci=(0.035, 0.085))
    f = judge("still-improving", rising)
    assert f.severity is Severity.WARN
    assert "on 500 test rows, accuracy went from 70.0% after step 60 to 76.0% at the end" in f.message
    assert "+6.0 points (90% CI +3.5 to +8.5)" in f.message
    assert f.numbers["late_gain_ci_low"] == 0.035 and f.numbers["checkpoint_rows"] == 500
    bare = judge("still-improving", healthy(final_loss=0.4, late_drop=0.3))
    assert bare.numbers["late_gain_ci_low"] is None and "no test checkpoint was recorded" in bare.message


def test_loss_barely_fell():
    f = judge("loss-barely-fell", healthy(final_loss=0.65, test_accuracy=0.7, test_majority_share=0.6))
    assert f.severity is Severity.WARN and "0.700 to 0.650" in f.message


def test_label_noise_share_and_message():
    f = judge("label-noise-suspected", healthy(n_flagged=280, final_loss=0.4))
    assert f.severity is Severity.WARN and "280 of 1000" in f.message and "28.0%" in f.message


def test_label_noise_is_judged_on_a_model_that_learned_even_when_the_loss_stays_high():
    # 30% flipped labels on 600 reviews: the loss ends at 0.661 (0.95 H(y)), test accuracy 60.5% vs 50.3%
    noisy = healthy(final_loss=0.661, initial_loss=0.695, test_accuracy=0.605, majority_baseline=0.503,
                    n_flagged=144, n_tracked=600)
    assert judge("label-noise-suspected", noisy).severity is Severity.WARN
    clean = healthy(n_flagged=60, n_tracked=600)  # a healthy run flags the hardest 10%
    assert judge("label-noise-suspected", clean).severity is Severity.PASS
    nothing = healthy(final_loss=0.69, test_accuracy=0.52, majority_baseline=0.5)
    f = judge("label-noise-suspected", nothing)
    assert f.severity is Severity.SKIP and "learned nothing" in f.message
    no_test = healthy(final_loss=0.68, test_accuracy=None)
    assert judge("label-noise-suspected", no_test).severity is Severity.SKIP


def test_learning_something_is_a_share_of_the_majority_baselines_error_not_fixed_points():
    # bench.noise on sms_spam (87.3% ham, 28% of training labels flipped): test accuracy 92.0% is 4.7 points above
    # the baseline but removes 37% of its error, and the flagged examples were 99% flipped ones
    spam = healthy(final_loss=0.514, test_accuracy=0.92, majority_baseline=0.873, n_flagged=214, n_tracked=1000)
    f = judge("label-noise-suspected", spam)
    assert f.severity is Severity.WARN and f.numbers["noise_rate"] == pytest.approx(0.214)
    # a balanced binary task needs what it needed before: 10% of a 50% baseline's error is 5 points
    assert judge("label-noise-suspected", healthy(test_accuracy=0.549, majority_baseline=0.5)).severity is Severity.SKIP
    assert judge("label-noise-suspected", healthy(test_accuracy=0.551, majority_baseline=0.5,
                                                  n_flagged=280)).severity is Severity.WARN
    # nine classes, a 23% majority: 28% accuracy removes 6.5% of its error, too little to read the margins
    f = judge("label-noise-suspected", healthy(test_accuracy=0.28, majority_baseline=0.23, n_flagged=280))
    assert f.severity is Severity.SKIP and f.numbers["skill"] == pytest.approx(0.05 / 0.77)
    assert "6.5% of the majority baseline's error" in f.message


def test_seed_instability_from_failed_share_or_spread():
    seeds = (SeedRun(0, 0.88, 0.5, 0.1, False), SeedRun(1, 0.5, 1.0, 0.69, False),
             SeedRun(2, 0.87, 0.5, 0.1, False))
    f = judge("seed-instability", healthy(seeds=seeds, seed_metric="test accuracy"))
    assert f.severity is Severity.WARN and f.numbers["failed"] == 1 and "3 seeds" in f.message
    spread = (SeedRun(0, 0.80, 0.5, 0.1, False), SeedRun(1, 0.88, 0.5, 0.1, False))
    assert judge("seed-instability", healthy(seeds=spread)).severity is Severity.WARN
    stable = (SeedRun(0, 0.88, 0.5, 0.1, False), SeedRun(1, 0.87, 0.5, 0.1, False))
    assert judge("seed-instability", healthy(seeds=stable)).severity is Severity.PASS
    assert judge("seed-instability", healthy()).severity is Severity.SKIP  # one seed


def test_result_round_trips_through_json():
    from ftaudit.results import AuditResult, Diagnosis, GateResult, ProbeOutcome, RunInfo

    r = healthy(seeds=(SeedRun(0, 0.88, 0.5, None, False),))
    run = RunInfo(ftaudit_version="x", started="", seconds=0.0, device="cpu", seed=0, mode="fine-tune", model="m",
                  base=None, train="", test="", labels=("a", "b"), config={}, phases={}, notes=())
    result = AuditResult(run=run, probes=(ProbeOutcome(name="dynamics", status="ok", result=r),), findings=(),
                         diagnosis=Diagnosis(verdict=""), gate=GateResult(fail_on="fail", passed=True, failing=()))
    back = from_json(to_json(result), kinds=result_kinds()).probe("dynamics")
    assert back == r


@pytest.mark.parametrize("scale, flagged", [(0.0, 3), (0.5, 2), (2.0, 1)])
def test_the_rule_flags_examples_below_the_scaled_typical_margin(scale, flagged):
    r = healthy(n_tracked=10, positive_aum_median=2.0, negative_aum=(-5.0, -1.5, -0.5))
    thresholds = {name: t.default for name, t in threshold_defaults().items()} | {"dynamics_aum_scale": scale}
    f = BY_CODE["label-noise-suspected"].evaluate(ProbeOutcome(name="dynamics", status="ok", result=r),
                                                  thresholds.__getitem__)
    assert f.numbers["flagged"] == flagged and f.numbers["aum_threshold"] == -scale * 2.0
    assert f.numbers["noise_rate"] == flagged / 10


def test_a_negative_aum_scale_is_a_usage_error(tmp_path):
    from ftaudit.pipeline import plan
    from ftaudit.config import load_config
    from ftaudit.errors import UsageError

    with pytest.raises(UsageError, match="dynamics_aum_scale must be at least 0"):
        plan(load_config(None, {"thresholds": {"dynamics_aum_scale": -1.0}}, cwd=tmp_path))


def test_the_result_embeds_the_training_run_and_keeps_its_json_flat():
    from ftaudit.results import _encode

    run_fields = {f.name for f in dataclasses.fields(TrainingRun)}
    assert not run_fields & {f.name for f in dataclasses.fields(DynamicsResult)}  # embedded, not repeated
    data = _encode(healthy(nonfinite_step=17))
    assert "run" not in data and data["steps"] == 90 and data["nonfinite_step"] == 17 and data["source"] == "fine-tune"


def test_a_schema_1_0_result_still_reads_with_its_listed_examples():
    from ftaudit.results import _decode, _encode

    example = {"index": 3, "text": "t", "given": "a", "predicted": "b", "confidence": 0.1, "variability": 0.05,
               "aum": -4.0}
    old = {k: v for k, v in _encode(healthy()).items() if k not in ("positive_aum_median", "negative_aum", "lowest")}
    old.update(aum_threshold=-1.0, n_flagged=1, noise_rate=0.001, flagged=[example])  # what 1.0 wrote
    r = _decode(DynamicsResult, old, result_kinds())
    assert isinstance(r, DynamicsResult) and r.lowest[0].index == 3 and r.run.steps == 90
