"""BalanceProbe: class shares, the rarest class vs uniform, and label shift (total variation, chi-squared)."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.data import data_context, sentences
from ftaudit.probes.balance import BalanceProbe, label_shift


def labels(counts: list[int], seed: int) -> np.ndarray:
    out = np.repeat(np.arange(len(counts)), counts)
    return np.random.default_rng(seed).permutation(out)


def run(train_counts: list[int], test_counts: list[int], names=("a", "b", "c")):
    n_train, n_test = sum(train_counts), sum(test_counts)
    ctx = data_context((sentences(n_train, 1), labels(train_counts, 1)), (sentences(n_test, 2), labels(test_counts, 2)),
                       labels=names)
    return BalanceProbe().run(ctx)


def test_balanced_random_split():
    r = run([300, 310, 290], [100, 95, 105])
    assert r.labels == ("a", "b", "c") and r.uniform_share == pytest.approx(1 / 3)
    assert r.rarest_class == "c" and r.rarest_ratio == pytest.approx(290 / 900 * 3)
    assert r.label_tv < 0.05 and r.label_chi2_p > 0.05
    assert r.splits[0].counts == (300, 310, 290) and sum(r.splits[1].shares) == pytest.approx(1)


def test_rare_class_and_label_shift():
    r = run([900, 850, 30], [50, 50, 200])
    assert r.rarest_class == "c" and r.rarest_share == pytest.approx(30 / 1780)
    assert r.rarest_ratio < 0.1
    assert r.label_tv > 0.5 and r.label_chi2_p < 1e-10


def test_classes_absent_from_both_splits_are_left_out():
    r = run([100, 100, 0], [50, 50, 0], names=("a", "b", "c", "LABEL_3"))
    assert r.labels == ("a", "b") and r.uniform_share == 0.5


def test_label_shift_matches_scipy():
    from scipy.stats import chi2_contingency

    train, test = np.array([120, 80, 40]), np.array([30, 40, 30])
    tv, p = label_shift(train, test)
    assert tv == pytest.approx(0.5 * np.abs(train / 240 - test / 100).sum())
    assert p == pytest.approx(chi2_contingency(np.vstack([train, test]), correction=False).pvalue)


def test_the_rarest_class_recall_is_measured_against_the_other_classes():
    from fixtures.data import with_predictions

    train, test = labels([950, 50], 1), labels([100, 100], 2)
    ctx = data_context((sentences(1000, 1), train), (sentences(200, 2), test), labels=("a", "b"))
    with_predictions(ctx, "test", np.tile([3.0, 0.0], (200, 1)))  # everything predicted as the majority "a"
    r = BalanceProbe().run(ctx)
    assert r.rarest_class == "b"
    c = r.rarest_recall
    assert (c.n, c.accuracy, c.rest_accuracy, c.difference) == (100, 0.0, 1.0, 1.0)
    assert BalanceProbe().run(data_context((sentences(10, 1), [0, 1] * 5), (sentences(4, 2), [0, 1] * 2))
                              ).rarest_recall is None  # no model


def test_with_three_classes_the_rarest_is_compared_with_the_other_minority_classes():
    from ftaudit.probes.balance import rarest_recall

    test = np.array([0] * 100 + [1] * 80 + [2] * 20)  # 0 is the train majority, 2 the rarest train class
    collapsed = test == 0  # every prediction on the majority: every minority class is missed alike
    c = rarest_recall(collapsed, test, rarest=2, majority=0, classes=3)
    assert (c.n, c.n_rest, c.accuracy, c.rest_accuracy, c.difference) == (20, 80, 0.0, 0.0, 0.0)
    assert c.difference_ci[0] < 0  # no cost of rarity beyond noise: the collapse is its own finding
    # the rarest class missed while the other minority class is recognised: rarity costs recall
    learned = (test == 0) | (test == 1)
    c = rarest_recall(learned, test, rarest=2, majority=0, classes=3)
    assert (c.accuracy, c.rest_accuracy) == (0.0, 1.0) and c.difference_ci[0] > 0
    # two classes: the other class is the only comparison there is
    binary = np.array([0] * 100 + [1] * 100)
    c = rarest_recall(binary == 0, binary, rarest=1, majority=0, classes=2)
    assert (c.n_rest, c.rest_accuracy) == (100, 1.0)
