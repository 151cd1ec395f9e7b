"""train-test-mismatch: the learning curve's largest subset scores test below the train rows it never saw."""

from __future__ import annotations

import dataclasses

import numpy as np

from fixtures import curves
from ftaudit.probes.learning_curve import UnseenTrain
from ftaudit.probes.learning_curve.rules import RULES
from ftaudit.results import ProbeOutcome, Severity
from ftaudit.stats import contrast

RULE = next(r for r in RULES if r.code == "train-test-mismatch")
DEFAULTS = {t.name: t.default for r in RULES for t in r.thresholds}


def unseen(test_right: int, unseen_right: int, n: int = 400, train_accuracy: float = 0.95) -> UnseenTrain:
    """n test rows and n unseen train rows of two balanced classes, with that many right on each side."""
    labels = np.array([0, 1] * n)
    correct = np.concatenate([np.arange(n) < test_right, np.arange(n) < unseen_right])
    group = np.arange(2 * n) < n
    c = contrast(correct, group, labels=np.concatenate([labels[:n], labels[:n]]))
    return UnseenTrain(size=n, repeats=1, train_accuracy=train_accuracy, unseen_accuracy=unseen_right / n,
                       contrast=c)


def judge(u: UnseenTrain | None, **thresholds: float):
    result = dataclasses.replace(curves.learning_curve(0.9, 1.0, 0.5), unseen_train=u)
    table = {**DEFAULTS, **thresholds}
    return RULE.evaluate(ProbeOutcome(name=RULE.probe, status="ok", result=result), table.__getitem__)


def test_a_test_set_drawn_unlike_train_warns_with_its_cost():
    # length split: the subset scores unseen (short) train rows 88%, (long) test 66%
    f = judge(unseen(264, 352))
    assert f.severity is Severity.WARN
    assert f.numbers["impact"] > 0.2 and f.numbers["impact_ci_low"] > 0.02
    assert f.numbers["unseen_accuracy"] == 0.88
    assert f.numbers["in_distribution_gap"] == 0.95 - 0.88
    assert "drawn unlike train" in f.message and "most of its train-test gap is the mismatch" in f.message


def test_a_mismatch_smaller_than_the_in_distribution_gap_is_not_said_to_be_most_of_the_gap():
    f = judge(unseen(264, 300, train_accuracy=1.0))  # 75% unseen, 66% test: 9 of a 34-point gap
    assert f.severity is Severity.WARN and "most of its train-test gap" not in f.message


def test_test_scoring_like_unseen_train_data_passes():
    f = judge(unseen(300, 304))
    assert f.severity is Severity.PASS and "test scores like data drawn as train was" in f.message
    assert f.numbers["impact_ci_low"] < 0.02 < f.numbers["impact_ci_low"] + 0.1


def test_a_mismatch_beyond_noise_but_within_the_limit_passes_and_says_so():
    f = judge(unseen(264, 300), max_train_test_mismatch=0.05)  # 9 points, lower bound about 3.6
    assert f.severity is Severity.PASS and 0 < f.numbers["impact_ci_low"] < 0.05
    assert "below them beyond noise, but not by more than 5.0%" in f.message


def test_unseen_train_rows_below_test_point_at_wrong_training_labels():
    f = judge(unseen(340, 260))  # 30% flipped train labels: the model disagrees with them, not with test's
    assert f.severity is Severity.PASS and f.numbers["impact_ci_high"] < 0
    assert "wrong training labels" in f.message


def test_the_limit_is_configurable_and_no_subset_is_no_finding():
    assert judge(unseen(264, 320)).severity is Severity.WARN  # 14 points
    assert judge(unseen(264, 320), max_train_test_mismatch=0.2).severity is Severity.PASS
    assert judge(None).severity is Severity.SKIP


def test_a_subset_that_learned_nothing_is_not_judged():
    # a constant prediction of class 0: recall 1 and 0 on both sides, so within class the sides cannot differ
    f = judge(unseen(200, 200))
    assert f.severity is Severity.SKIP and f.message.startswith("not judged")
    assert f.numbers["skill"] == 0.0 and f.numbers["chance"] == 0.5
    assert "removing 0.0% of the error of always predicting test's largest class (50.0%)" in f.message


def test_the_learning_threshold_decides_when_the_comparison_is_judged():
    u = unseen(216, 216)  # 54% on both sides: removes 8% of the majority class's error
    assert judge(u).severity is Severity.SKIP
    assert judge(u, collapse_max_skill=0.05).severity is Severity.PASS
