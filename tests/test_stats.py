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
