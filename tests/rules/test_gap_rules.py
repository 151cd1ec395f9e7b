"""Gap rules: the numbers that tell memorisation from the class prior, and wrong training labels from a gap."""

from __future__ import annotations

import numpy as np
import pytest

from ftaudit.probes.gap import GapResult, split_metrics
from ftaudit.results import ProbeOutcome, Severity
from ftaudit.probes.gap.rules import RULES
from ftaudit.probes.registry import threshold_defaults

NAMES = ("a", "b")


def gap_result(train_labels, train_pred, test_labels, test_pred) -> GapResult:
    rng = np.random.default_rng(0)
    majority = int(np.bincount(train_labels, minlength=2).argmax())
    train, tb = split_metrics("train", train_labels, np.eye(2)[train_pred] * 4, NAMES, majority, rng)
    test, sb = split_metrics("test", test_labels, np.eye(2)[test_pred] * 4, NAMES, majority, rng)
    boot = tb - sb
    ci = lambda x: tuple(np.quantile(x, [0.025, 0.975]))  # noqa: E731
    return GapResult(labels=NAMES, majority_class=NAMES[majority], train=train, test=test,
                     accuracy_gap=train.accuracy - test.accuracy, accuracy_gap_ci=ci(boot[0]),
                     macro_f1_gap=train.macro_f1 - test.macro_f1, macro_f1_gap_ci=ci(boot[1]),
                     loss_gap=test.loss - train.loss, n_bootstrap=2000)


def judge(result: GapResult):
    defaults = {name: t.default for name, t in threshold_defaults().items()}
    rule = next(r for r in RULES if r.code == "gap-too-large")
    return rule.evaluate(ProbeOutcome(name="gap", status="ok", result=result), defaults.__getitem__)


def test_a_gap_at_the_class_prior_says_so():
    # 95/5 training labels, a balanced test set, every prediction on the majority class
    train = np.r_[np.zeros(950, int), np.ones(50, int)]
    test = np.arange(200) % 2
    f = judge(gap_result(train, np.zeros(1000, int), test, np.zeros(200, int)))
    assert f.severity is Severity.FAIL
    assert f.numbers["train_accuracy"] == pytest.approx(0.95) and f.numbers["train_majority_share"] == 0.95
    assert f.numbers["train_accuracy_ci_low"] <= f.numbers["train_majority_share"]
    assert "no higher than the train majority share 95.0%" in f.message


def test_test_accuracy_above_train_is_emitted_with_its_bound():
    # 30% of train labels wrong: the model agrees with the truth, so train 70% vs test 100%
    labels = np.arange(1000) % 2
    given = labels.copy()
    given[:300] = 1 - given[:300]
    f = judge(gap_result(given, labels, labels[:200], labels[:200]))
    assert f.numbers["test_lead"] == pytest.approx(0.3) and f.numbers["test_lead_ci_low"] > 0.2
    assert f.numbers["train_accuracy_ci_low"] > f.numbers["train_majority_share"]
    assert "majority share" not in f.message
