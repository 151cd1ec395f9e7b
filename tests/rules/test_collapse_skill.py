"""Collapse and failed seeds against "learned something" (collapse_max_skill), on hand-built dynamics results."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ftaudit.probes.dynamics import DynamicsResult
from ftaudit.probes.dynamics.rules import RULES, learned_something, skill
from ftaudit.probes.registry import threshold_defaults
from ftaudit.results import Severity
from ftaudit.training_run import SeedRun, TrainingRun

DEFAULTS = {name: float(t.default) for name, t in threshold_defaults().items()}
RULE = {r.code: r for r in RULES}


def judge(code: str, result: DynamicsResult, **overrides: float) -> tuple[Severity, str, dict]:
    j = RULE[code].judge(result, lambda name: overrides.get(name, DEFAULTS[name]))
    assert j is not None
    return j.severity, j.message, j.numbers


def noisy_spam(**changes) -> DynamicsResult:
    """sms_spam/B/label-noise as stored: 30% flips hold the loss at 0.92 H(y); 96.8% of test predicted 'ham' on a
    test set that is 87.0% ham, at 90.2% accuracy; 231 of 800 tracked examples below the AUM threshold."""
    run = TrainingRun(source="fine-tune", seed=0, epochs=2, steps=50, batch_size=32, lr=5e-5, seconds=60.0)
    base = DynamicsResult(
        run=run, n_classes=2, label_entropy=0.651, loss_steps=(1, 50), loss=(0.70, 0.60), lr_curve=(5e-5, 0.0),
        initial_loss=0.70, final_loss=0.599, late_drop=0.02, max_loss_ratio=1.0, grad_steps=(), layers=(),
        lower_to_top_ratio=None, train_accuracy=0.66, train_majority_share=0.9, test_accuracy=0.902,
        test_majority_share=0.968, majority_baseline=0.870, n_tracked=800, cartography=(), seed_metric="",
        seeds=(), positive_aum_median=1.0, negative_aum=tuple([-2.0] * 231 + [-0.1] * 20))
    return replace(base, **changes)


def test_skill_is_the_share_of_the_baseline_error_removed():
    assert skill(0.902, 0.870) == pytest.approx(0.2462, abs=1e-4)
    assert skill(0.55, 0.5) == pytest.approx(0.1)
    assert skill(None, 0.5) is None and skill(0.9, 1.0) is None
    assert not learned_something(None, 0.5, DEFAULTS.get)


def test_a_noisy_run_that_beat_the_baseline_has_not_collapsed_and_its_noise_is_judged():
    severity, message, numbers = judge("training-collapsed", noisy_spam())
    assert severity is Severity.PASS and "it learned something" in message
    assert numbers["skill"] == pytest.approx(0.2462, abs=1e-4)
    severity, message, numbers = judge("label-noise-suspected", noisy_spam())
    assert severity is Severity.WARN and numbers["flagged"] == 231


def test_the_same_loss_and_share_at_the_baseline_is_a_collapse():
    stuck = noisy_spam(test_accuracy=0.875)  # removes 3.8% of the baseline's error
    severity, message, _ = judge("training-collapsed", stuck)
    assert severity is Severity.FAIL and message.startswith("training collapsed")
    assert judge("training-collapsed", noisy_spam(), collapse_max_skill=0.3)[0] is Severity.FAIL
    assert RULE["label-noise-suspected"].judge(stuck, DEFAULTS.get) is None  # a failed run's margins are not read


def test_a_collapse_without_a_test_split_still_reads_the_loss_and_the_share():
    blind = noisy_spam(test_accuracy=None, test_majority_share=None, train_majority_share=0.97)
    assert judge("training-collapsed", blind)[0] is Severity.FAIL


def test_a_seed_fails_only_when_it_predicts_one_class_and_learned_nothing():
    seeds = (SeedRun(0, 0.902, 0.968, 0.6, False), SeedRun(1, 0.87, 1.0, 0.65, False),
             SeedRun(2, 0.91, 0.95, 0.6, False))
    severity, _, numbers = judge("seed-instability", noisy_spam(seeds=seeds))
    assert numbers["failed"] == 1 and severity is Severity.WARN


def test_near_a_95_percent_baseline_a_tenth_of_its_error_is_no_proof_of_learning():
    # 95.5% against a 95.0% baseline removes 10% of its error, but that is 3 rows of 600: still the fixed lift's
    tiny_lift = noisy_spam(test_accuracy=0.955, majority_baseline=0.95, test_majority_share=0.99)
    assert judge("training-collapsed", tiny_lift)[0] is Severity.FAIL
