"""The power-law fit recovers known curves; bootstrap intervals, gap trends and paired differences behave."""

from __future__ import annotations

import numpy as np
import pytest

from ftaudit.curvefit import (C_MAX, MIN_POINTS, fit_many, fit_power_law, gap_trend, paired_differences, power_law,
                              usable)

SIZES = np.array([64, 128, 256, 512, 1024, 2048])


def correctness(acc: np.ndarray, m: int, repeats: int = 1, seed: int = 0) -> np.ndarray:
    """Bool [k, R, m] with each row's share of True exactly round(acc * m), in random order."""
    rng = np.random.default_rng(seed)
    out = np.zeros((len(acc), repeats, m), dtype=bool)
    for i, p in enumerate(acc):
        for r in range(repeats):
            out[i, r, rng.permutation(m)[: int(round(p * m))]] = True
    return out


@pytest.mark.parametrize("a,b,c", [(0.92, 1.5, 0.5), (0.85, 0.6, 0.3), (0.97, 3.0, 0.8), (0.75, 0.4, 0.15)])
def test_noise_free_curves_are_recovered(a, b, c):
    y = power_law(SIZES, a, b, c)
    fa, fb, fc, sse = fit_many(SIZES, y[None, :])
    assert fa[0] == pytest.approx(a, abs=2e-3)
    assert fb[0] == pytest.approx(b, rel=0.02)
    assert fc[0] == pytest.approx(c, rel=0.01)
    assert sse[0] < 1e-8


def test_noisy_curve_interval_covers_the_truth_and_the_gain():
    a, b, c = 0.9, 1.2, 0.45
    acc = power_law(SIZES, a, b, c)
    fit = fit_power_law(SIZES, correctness(acc, 4000, seed=1), chance=0.5, n_bootstrap=400, seed=0)
    assert fit is not None and fit.sizes == tuple(SIZES)
    assert fit.c_ci[0] <= c <= fit.c_ci[1]
    true_gain = power_law(2 * 2048, a, b, c) - power_law(2048, a, b, c)
    assert fit.gain_2x_ci[0] <= true_gain <= fit.gain_2x_ci[1]
    assert fit.gain_2x == pytest.approx(true_gain, abs=0.01)
    assert fit.gain_10x > fit.gain_2x > 0
    assert fit.predicted_10x > fit.predicted_2x > fit.predicted_full
    assert fit.rmse < 0.01


def test_a_flat_curve_predicts_no_gain():
    acc = np.full(len(SIZES), 0.8)
    fit = fit_power_law(SIZES, correctness(acc, 2000), chance=0.5, n_bootstrap=300)
    assert fit is not None
    assert fit.gain_2x == pytest.approx(0.0, abs=1e-9)
    assert fit.gain_2x_ci[1] < 0.01 and fit.gain_10x_ci[1] < 0.02


def test_a_falling_curve_is_fitted_as_flat_not_as_a_decline():
    acc = np.array([0.86, 0.84, 0.82, 0.80, 0.78, 0.76])
    a, b, _, _ = fit_many(SIZES, acc[None, :])
    assert b[0] == 0.0 and a[0] == pytest.approx(acc.mean())


def test_asymptote_never_exceeds_one():
    acc = np.array([0.60, 0.75, 0.86, 0.94, 0.99, 0.999])  # would extrapolate past 100% without the cap
    a, _, _, _ = fit_many(SIZES, acc[None, :])
    assert a[0] <= 1.0


def test_the_exponent_is_capped_at_the_fast_rate():
    # error 0.4·n^-1.5 above an asymptote of 0.8: faster than 1/n, which no measured curve does
    acc = power_law(SIZES, 0.8, 0.4 * 64 ** 1.5, 1.5)
    _, _, c, _ = fit_many(SIZES, acc[None, :])
    assert c[0] == pytest.approx(C_MAX) and C_MAX == 1.0
    fit = fit_power_law(SIZES, correctness(acc, 2000), chance=0.5, n_bootstrap=200)
    assert fit is not None and fit.c_ci[1] <= C_MAX


def test_points_at_chance_are_left_out_and_too_few_give_no_fit():
    acc = np.array([0.50, 0.51, 0.70, 0.80, 0.85, 0.87])
    assert usable(acc, chance=0.5, n_test=1000).tolist() == [False, False, True, True, True, True]
    fit = fit_power_law(SIZES, correctness(acc, 1000), chance=0.5, n_bootstrap=100)
    assert fit is not None and fit.sizes == (256, 512, 1024, 2048)
    few = np.array([0.5, 0.5, 0.5, 0.5, 0.7, 0.8])
    assert MIN_POINTS == 3
    assert fit_power_law(SIZES, correctness(few, 1000), chance=0.5, n_bootstrap=100) is None


def test_repeats_widen_the_interval():
    acc = power_law(SIZES, 0.9, 1.2, 0.45)
    rng = np.random.default_rng(3)
    noisy = np.clip(acc[:, None] + rng.normal(0, 0.03, (len(SIZES), 4)), 0, 1)  # seed-to-seed spread
    single = fit_power_law(SIZES, correctness(acc, 2000, seed=4), chance=0.5, n_bootstrap=300)
    spread = np.stack([correctness(noisy[:, r], 2000, seed=10 + r)[:, 0] for r in range(4)], axis=1)
    repeated = fit_power_law(SIZES, spread, chance=0.5, n_bootstrap=300)
    width = lambda f: f.gain_2x_ci[1] - f.gain_2x_ci[0]  # noqa: E731
    assert width(repeated) > width(single)


def test_fit_is_deterministic_for_a_seed():
    corr = correctness(power_law(SIZES, 0.9, 1.0, 0.4), 1000)
    assert fit_power_law(SIZES, corr, chance=0.5, seed=7, n_bootstrap=200) == \
        fit_power_law(SIZES, corr, chance=0.5, seed=7, n_bootstrap=200)


def test_gap_trend_sign_and_interval():
    test_acc = power_law(SIZES, 0.9, 1.2, 0.45)
    corr = correctness(test_acc, 2000)
    shrinking = gap_trend(SIZES, corr, np.full((len(SIZES), 1), 0.99), n_bootstrap=300)
    assert shrinking.slope < 0 and shrinking.slope_ci[1] < 0
    assert shrinking.gaps[0] == pytest.approx(0.99 - corr[0].mean())
    growing = gap_trend(SIZES, corr, (test_acc + 0.02 * np.arange(len(SIZES)) + 0.01)[:, None].clip(0, 1),
                        n_bootstrap=300)
    assert growing.slope == pytest.approx(0.02, abs=0.005) and growing.slope_ci[0] > 0
    assert gap_trend(SIZES[:2], corr[:2], np.ones((2, 1))) is None


def test_paired_differences_are_zero_for_the_reference_and_signed_for_others():
    corr = correctness(np.array([0.70, 0.80, 0.82]), 2000)
    diffs = paired_differences(corr, reference=2, n_bootstrap=300)
    assert diffs[2] == (0.0, (0.0, 0.0))
    assert diffs[0][0] == pytest.approx(-0.12, abs=1e-9) and diffs[0][1][1] < 0
    assert diffs[1][1][0] < diffs[1][0] < diffs[1][1][1]


def test_sizes_may_have_different_numbers_of_repeats():
    acc = power_law(SIZES, 0.9, 1.2, 0.45)
    points = [correctness(acc[i:i + 1], 1000, repeats=1 if i == len(SIZES) - 1 else 3, seed=i)[0]
              for i in range(len(SIZES))]
    assert points[0].shape == (3, 1000) and points[-1].shape == (1, 1000)
    fit = fit_power_law(SIZES, points, chance=0.5, n_bootstrap=200)
    assert fit is not None and fit.c_ci[0] < 0.45 < fit.c_ci[1]
    trend = gap_trend(SIZES, points, [[0.99] * len(p) for p in points], n_bootstrap=200)
    assert trend.slope < 0
