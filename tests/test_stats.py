"""Score intervals against published values (Newcombe 1998) and the accuracy contrast they back."""

from __future__ import annotations

import numpy as np
import pytest

from ftaudit.stats import IMPACT_LEVEL, contrast, wilson


def test_wilson_matches_newcombe_1998():
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", example 81/263
    assert wilson(81, 263, 0.95) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    lo, hi = wilson(0, 10, 0.95)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def test_difference_interval_matches_newcombe_method_10():
    # Newcombe (1998), "Interval estimation for the difference between independent proportions", 56/70 - 48/80:
    # the hybrid score interval (method 10) is 0.0524 to 0.3339
    correct = np.r_[np.ones(56), np.zeros(14), np.ones(48), np.zeros(32)].astype(bool)
    group = np.r_[np.zeros(70), np.ones(80)].astype(bool)  # the group is the 48/80 side: difference = rest - group
    c = contrast(correct, group, level=0.95)
    assert (c.n, c.correct, c.n_rest, c.rest_correct) == (80, 48, 70, 56)
    assert c.difference == pytest.approx(0.2)
    assert c.difference_ci == pytest.approx((0.0524, 0.3339), abs=1e-4)


def test_an_empty_side_has_no_difference():
    c = contrast(np.array([True, False]), np.array([True, True]))
    assert c.accuracy == 0.5 and c.rest_accuracy is None and c.difference is None and c.difference_ci is None
    assert c.level == IMPACT_LEVEL == 0.90


def test_paired_gain_counts_the_rows_that_changed_and_bounds_the_gain():
    from ftaudit.stats import paired_gain

    before = np.array([False] * 40 + [True] * 460)
    after = before.copy()
    after[:30] = True  # 30 of the 40 wrong rows became right
    after[100:105] = False  # 5 right rows became wrong
    g = paired_gain(before, after)
    assert (g.n, g.improved, g.worsened) == (500, 30, 5)
    assert g.gain == pytest.approx(25 / 500) and g.after - g.before == pytest.approx(g.gain)
    low, high = g.gain_ci
    assert 0 < low < g.gain < high  # 30 of 35 changes improved: beyond noise
    # the bound is Wilson's on 30 of 35, mapped onto the gain scale
    wl, wh = wilson(30, 35)
    assert (low, high) == pytest.approx(((2 * wl - 1) * 35 / 500, (2 * wh - 1) * 35 / 500))
    even = before.copy()
    even[:6] = True  # 6 up
    even[200:204] = False  # 4 down
    g = paired_gain(before, even)
    assert g.gain > 0 > g.gain_ci[0]  # a gain of 2 rows in 500 is within noise
    same = paired_gain(before, before)
    assert same.gain == 0 and same.gain_ci == (0.0, 0.0)
    assert paired_gain(np.zeros(0, bool), np.zeros(0, bool)) is None


def _counts(*cells):
    """(correct, group, labels) from cells of (label, in_group, n, n_correct)."""
    correct, group, labels = [], [], []
    for label, in_group, n, k in cells:
        correct += [True] * k + [False] * (n - k)
        group += [in_group] * n
        labels += [label] * n
    return np.array(correct), np.array(group), np.array(labels)


def test_within_one_class_it_is_the_plain_contrast():
    correct, group, labels = _counts((0, False, 70, 56), (0, True, 80, 48), (1, False, 5, 5))  # class 1: rest only
    c = contrast(correct, group, level=0.95, labels=labels)
    assert c.strata == 1 and (c.n, c.correct, c.n_rest, c.rest_correct) == (80, 48, 70, 56)  # class 1 dropped
    assert c.difference_ci == pytest.approx((0.0524, 0.3339), abs=1e-4)  # Newcombe's example again
    assert c.unadjusted_difference == pytest.approx(61 / 75 - 0.6)


def test_within_class_the_rest_is_weighted_to_the_groups_class_mix():
    # group: 30 of class 0 (24 right), 10 of class 1 (4 right); rest: 50 of class 0 (45 right), 150 of class 1 (75)
    correct, group, labels = _counts((0, True, 30, 24), (1, True, 10, 4), (0, False, 50, 45), (1, False, 150, 75))
    c = contrast(correct, group, labels=labels)
    assert c.strata == 2 and (c.n, c.correct, c.n_rest, c.rest_correct) == (40, 28, 200, 120)
    assert c.accuracy == pytest.approx(0.7)
    assert c.rest_accuracy == pytest.approx(0.75 * 0.9 + 0.25 * 0.5)  # 0.8, not the rest's unweighted 0.6
    assert c.difference == pytest.approx(0.1) and c.unadjusted_difference == pytest.approx(0.6 - 0.7)
    lo, hi = c.rest_accuracy_ci
    assert lo < c.rest_accuracy < hi and c.difference_ci[0] < c.difference < c.difference_ci[1]
    # the rest's interval is the MOVER of the weighted sum: each class's Wilson half-widths, weighted, in quadrature
    l0, h0 = wilson(45, 50)
    l1, h1 = wilson(75, 150)
    assert lo == pytest.approx(0.8 - ((0.75 * (0.9 - l0)) ** 2 + (0.25 * (0.5 - l1)) ** 2) ** 0.5)
    assert hi == pytest.approx(0.8 + ((0.75 * (h0 - 0.9)) ** 2 + (0.25 * (h1 - 0.5)) ** 2) ** 0.5)


def test_within_class_with_no_class_on_both_sides_there_is_no_difference():
    correct, group, labels = _counts((0, True, 10, 5), (1, False, 10, 10))
    c = contrast(correct, group, labels=labels)
    assert c.strata == 0 and c.n == 0 and c.difference is None and c.unadjusted_difference == pytest.approx(0.5)


def test_the_within_class_interval_covers_the_true_difference_at_its_level():
    # two classes, group 70/30 and rest 20/80 in class mix, true within-class accuracies (0.6, 0.9) vs (0.7, 0.95):
    # the true standardised difference is 0.7 * 0.1 + 0.3 * 0.05 = 0.085
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(70, int), np.ones(30, int), np.zeros(40, int), np.ones(160, int)]
    group = np.r_[np.ones(100, bool), np.zeros(200, bool)]
    p = np.where(group, np.where(labels == 0, 0.6, 0.9), np.where(labels == 0, 0.7, 0.95))
    hits = 0
    for _ in range(1000):
        c = contrast(rng.random(300) < p, group, labels=labels)
        hits += c.difference_ci[0] <= 0.085 <= c.difference_ci[1]
    assert 0.87 <= hits / 1000 <= 0.95  # nominal 0.90
