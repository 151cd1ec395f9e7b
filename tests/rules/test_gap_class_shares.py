"""The gap rule's share of the gap that a change in class shares between train and test explains."""

from __future__ import annotations

import numpy as np
import pytest

from ftaudit.probes.gap import GapResult, split_metrics
from ftaudit.probes.gap.rules import RULES, gap_at_test_mix
from ftaudit.probes.registry import threshold_defaults
from ftaudit.results import Severity

DEFAULTS = {name: float(t.default) for name, t in threshold_defaults().items()}
GAP = next(r for r in RULES if r.code == "gap-too-large")
NAMES = ("a", "b", "c")


def split(name: str, counts: dict[str, tuple[int, int]]) -> tuple:
    """A split whose class k has counts[k] = (rows, rows predicted right); wrong rows are predicted as class 'a'
    (or 'b' for class 'a')."""
    labels, preds = [], []
    for k, (n, right) in counts.items():
        i = NAMES.index(k)
        labels += [i] * n
        preds += [i] * right + [1 if i == 0 else 0] * (n - right)
    logits = np.eye(3)[preds] * 4.0
    return split_metrics(name, np.array(labels), logits, NAMES, 0, np.random.default_rng(0))[0]


def gap_result(train, test) -> GapResult:
    gap = train.accuracy - test.accuracy
    return GapResult(labels=NAMES, majority_class="a", train=train, test=test,
                     accuracy_gap=gap, accuracy_gap_ci=(gap - 0.05, gap + 0.05),
                     macro_f1_gap=0.0, macro_f1_gap_ci=(0.0, 0.0), loss_gap=0.0, n_bootstrap=0)


def test_a_gap_made_by_class_shares_alone_is_no_gap_at_test_shares():
    # Same recall per class on both splits (a: 90%, b and c: 20%), but 'a' is 60% of train and 20% of test.
    train = split("train", {"a": (600, 540), "b": (200, 40), "c": (200, 40)})
    test = split("test", {"a": (200, 180), "b": (400, 80), "c": (400, 80)})
    r = gap_result(train, test)
    assert r.accuracy_gap == pytest.approx(0.62 - 0.34)
    mixed = gap_at_test_mix(r)
    assert mixed is not None and mixed[0] == pytest.approx(0.0, abs=1e-9) and mixed[1] < 0 < mixed[2]
    judgement = GAP.judge(r, DEFAULTS.get)
    assert judgement.severity is Severity.FAIL  # the gate still reads the gap the user sees
    assert judgement.numbers["gap_at_test_mix"] == pytest.approx(0.0, abs=1e-9)
    assert "at test's class shares" in judgement.message
    assert "the rest comes from the classes' shares" in judgement.message


def test_a_memorised_gap_stays_at_test_shares():
    train = split("train", {"a": (300, 290), "b": (300, 290), "c": (300, 290)})
    test = split("test", {"a": (300, 200), "b": (300, 200), "c": (300, 200)})
    mixed = gap_at_test_mix(gap_result(train, test))
    assert mixed is not None and mixed[0] == pytest.approx(0.3) and mixed[1] > 0.25
    assert "at test's class shares" not in GAP.judge(gap_result(train, test), DEFAULTS.get).message
