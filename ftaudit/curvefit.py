"""Learning-curve statistics: inverse power-law fit acc(n) = a − b·n^(−c) with bootstrap intervals, gap trends.

No torch here: the inputs are per-example correctness arrays, the outputs frozen dataclasses of floats.

The fit is variable projection: for a fixed exponent c the model is linear in (a, b), so (a, b) are solved in
closed form (least squares, with b ≥ 0 and a ≤ 1 enforced) for every c on a log grid, then on a finer grid around
the best c. That is deterministic, needs no starting point, and fits many bootstrap resamples at once.
Intervals come from resampling the test examples (the same resample for every size, since every size is scored
on the same test set) and, with repeats, the repeats at each size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

# Exponent bounds. Above 1 the reducible error would shrink faster than 1/n, the fast rate of learning theory, and
# no measured curve does (Hestness et al. 2017: 0.07–0.35). Allowing it lets 4 noisy points bend into a curve that is
# flat just past the data: on MiniLM at 256 reviews (3 seeds measured at 2x: +2.9 points) a cap of 3 gave a 95% lower
# bound of +0.2 at 2x, a cap of 1 gave +1.1.
C_MIN, C_MAX = 0.01, 1.0
_COARSE = np.geomspace(C_MIN, C_MAX, 121)
_FINE_STEPS = 41
MIN_POINTS = 3  # a 3-parameter curve needs three sizes


@dataclass(frozen=True)
class PowerLawFit:
    """acc(n) = a − b·n^(−c), fitted on `sizes`; predictions at 2× and 10× the largest size, 95% intervals."""

    a: float  # asymptotic accuracy as n → ∞ (capped at 1)
    b: float
    c: float
    a_ci: tuple[float, float]
    b_ci: tuple[float, float]
    c_ci: tuple[float, float]
    sizes: tuple[int, ...]  # the sizes the fit used (those above chance)
    rmse: float  # root-mean-square residual on those sizes, accuracy units
    full_size: int
    predicted_full: float
    predicted_2x: float
    predicted_10x: float
    gain_2x: float  # acc(2N) − acc(N) on the fitted curve
    gain_2x_ci: tuple[float, float]
    gain_10x: float
    gain_10x_ci: tuple[float, float]
    n_bootstrap: int
    confidence: float = 0.95


@dataclass(frozen=True)
class GapTrend:
    """Least-squares slope of the train − test accuracy gap against log2(size): change per doubling of data."""

    slope: float
    slope_ci: tuple[float, float]
    sizes: tuple[int, ...]
    gaps: tuple[float, ...]
    n_bootstrap: int
    confidence: float = 0.95


def power_law(n: np.ndarray | float, a: float, b: float, c: float) -> np.ndarray | float:
    return a - b * np.power(np.asarray(n, dtype=float), -c)


def _solve_ab(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least squares y ≈ a − b·x with b ≥ 0 and a ≤ 1, for x [B|1, G, k] and y [B, k]: a, b, sse as [B, G]."""
    y3 = y[:, None, :]
    xm = x.mean(axis=2)
    xc = x - xm[:, :, None]
    sxx = (xc * xc).sum(axis=2)
    sxy = (xc * y3).sum(axis=2)
    b = np.maximum(np.where(sxx > 0, -sxy / np.where(sxx > 0, sxx, 1.0), 0.0), 0.0)  # accuracy may not fall
    a = y.mean(axis=1)[:, None] + b * xm  # with b = 0 this is the mean: a flat curve
    over = a > 1.0
    if over.any():  # refit with the asymptote fixed at 1: 1 − y = b·x
        b1 = np.maximum((x * (1.0 - y3)).sum(axis=2) / (x * x).sum(axis=2), 0.0)
        a = np.where(over, 1.0, a)
        b = np.where(over, b1, b)
    resid = y3 - (a[:, :, None] - b[:, :, None] * x)
    return a, b, (resid * resid).sum(axis=2)


def fit_many(sizes: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fit every row of y [B, k] at `sizes` [k]: arrays a, b, c, sse of shape [B]."""
    n = np.asarray(sizes, dtype=float)
    y = np.atleast_2d(np.asarray(y, dtype=float))
    rows = np.arange(len(y))
    a, b, sse = _solve_ab(n[None, None, :] ** -_COARSE[None, :, None], y)
    best = sse.argmin(axis=1)
    # Refine between the neighbours of each row's best coarse exponent; keep the coarse point if it is better.
    lo = np.log(_COARSE[np.maximum(best - 1, 0)])
    hi = np.log(_COARSE[np.minimum(best + 1, len(_COARSE) - 1)])
    grid = np.exp(lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, _FINE_STEPS)[None, :])  # [B, F]
    af, bf, ssef = _solve_ab(n[None, None, :] ** -grid[:, :, None], y)
    pick = ssef.argmin(axis=1)
    fine = ssef[rows, pick] <= sse[rows, best]
    return (np.where(fine, af[rows, pick], a[rows, best]), np.where(fine, bf[rows, pick], b[rows, best]),
            np.where(fine, grid[rows, pick], _COARSE[best]), np.where(fine, ssef[rows, pick], sse[rows, best]))


def chance_margin(chance: float, n_test: int) -> float:
    """Two binomial standard errors of an accuracy at chance level on n_test examples."""
    return 2.0 * math.sqrt(max(chance * (1.0 - chance), 1e-12) / max(n_test, 1))


def usable(acc: Sequence[float], chance: float, n_test: int) -> np.ndarray:
    """Which sizes score above chance (by more than two standard errors): only those carry a power law."""
    return np.asarray(acc, dtype=float) > chance + chance_margin(chance, n_test)


def _ci(samples: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(samples, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def _as_points(test_correct: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    """Per size a bool array [R_k, m]: the repeats may differ between sizes (the reused main run has one)."""
    points = [np.atleast_2d(np.asarray(p, dtype=bool)) for p in test_correct]
    if len({p.shape[1] for p in points}) > 1:
        raise ValueError("every size must be scored on the same test examples")
    return points


def resample_accuracies(points: Sequence[np.ndarray], n_bootstrap: int, rng: np.random.Generator,
                        chunk: int = 128) -> tuple[np.ndarray, list[np.ndarray]]:
    """Bootstrap accuracies [B, k]: one test resample shared by all sizes, and each size's R_k repeats resampled
    independently. Also returns, per size, the repeats chosen [B, R_k]."""
    m = points[0].shape[1]
    k = len(points)
    out = np.empty((n_bootstrap, k))
    choices = [rng.integers(0, len(p), size=(n_bootstrap, len(p))) for p in points]
    flats = [p.astype(np.float32) for p in points]
    for start in range(0, n_bootstrap, chunk):
        stop = min(start + chunk, n_bootstrap)
        weights = rng.multinomial(m, np.full(m, 1.0 / m), size=stop - start).astype(np.float32)  # [b, m]
        for i, flat in enumerate(flats):
            acc = weights @ flat.T / m  # [b, R_i]
            out[start:stop, i] = np.take_along_axis(acc, choices[i][start:stop], axis=1).mean(axis=1)
    return out, choices


def fit_power_law(sizes: Sequence[int], test_correct: Sequence[np.ndarray] | np.ndarray, *, chance: float,
                  n_bootstrap: int = 1000, seed: int = 0, confidence: float = 0.95,
                  allowed: Sequence[bool] | None = None) -> PowerLawFit | None:
    """Fit acc(n) on the sizes above chance (and `allowed`, when given); None when fewer than MIN_POINTS sizes
    are usable.

    test_correct: per size (increasing), a bool array [R_k, m]: for each repeat, whether each of the m test
    examples was classified correctly (a [k, R, m] array works too). allowed: per size, False to leave it out of
    the fit (e.g. a point that trained too little to be comparable).
    """
    sizes_arr = np.asarray(sizes, dtype=float)
    points = _as_points(test_correct)
    acc = np.array([p.mean() for p in points])
    keep = usable(acc, chance, points[0].shape[1])
    if allowed is not None:
        keep = keep & np.asarray(allowed, dtype=bool)
    if keep.sum() < MIN_POINTS:
        return None
    n = sizes_arr[keep]
    a, b, c, sse = fit_many(n, acc[keep][None, :])
    a0, b0, c0 = float(a[0]), float(b[0]), float(c[0])
    full = float(sizes_arr.max())
    boot, _ = resample_accuracies([p for p, k in zip(points, keep) if k], n_bootstrap, np.random.default_rng(seed))
    ba, bb, bc, _ = fit_many(n, boot)
    f_full = power_law(full, ba, bb, bc)
    g2 = power_law(2 * full, ba, bb, bc) - f_full
    g10 = power_law(10 * full, ba, bb, bc) - f_full
    p_full, p2, p10 = (float(power_law(m * full, a0, b0, c0)) for m in (1, 2, 10))
    return PowerLawFit(
        a=a0, b=b0, c=c0, a_ci=_ci(ba, confidence), b_ci=_ci(bb, confidence), c_ci=_ci(bc, confidence),
        sizes=tuple(int(s) for s in n), rmse=float(math.sqrt(sse[0] / len(n))), full_size=int(full),
        predicted_full=p_full, predicted_2x=p2, predicted_10x=p10,
        gain_2x=p2 - p_full, gain_2x_ci=_ci(g2, confidence), gain_10x=p10 - p_full, gain_10x_ci=_ci(g10, confidence),
        n_bootstrap=n_bootstrap, confidence=confidence,
    )


def gap_trend(sizes: Sequence[int], test_correct: Sequence[np.ndarray] | np.ndarray,
              train_accuracy: Sequence[Sequence[float]] | np.ndarray, *, n_bootstrap: int = 1000, seed: int = 0,
              confidence: float = 0.95) -> GapTrend | None:
    """Slope of (train − test accuracy) per doubling of the data; None with fewer than MIN_POINTS sizes.

    train_accuracy: per size, one value per repeat, each measured on that point's own training subset of
    `sizes[i]` examples; its sampling noise is drawn as binomial on that many examples.
    """
    sizes_arr = np.asarray(sizes, dtype=float)
    if len(sizes_arr) < MIN_POINTS:
        return None
    points = _as_points(test_correct)
    train = [np.clip(np.atleast_1d(np.asarray(t, dtype=float)), 0.0, 1.0) for t in train_accuracy]
    rng = np.random.default_rng(seed)
    x = np.log2(sizes_arr)
    xc = x - x.mean()
    gaps = np.array([t.mean() - p.mean() for t, p in zip(train, points)])
    test_boot, choices = resample_accuracies(points, n_bootstrap, rng)
    train_boot = np.empty_like(test_boot)
    for i, (t, size) in enumerate(zip(train, sizes_arr.astype(int))):
        draws = rng.binomial(size, np.broadcast_to(t, (n_bootstrap, len(t)))) / size
        train_boot[:, i] = np.take_along_axis(draws, choices[i], axis=1).mean(axis=1)
    slope_boot = ((train_boot - test_boot) * xc).sum(axis=1) / (xc * xc).sum()
    slope = float((gaps * xc).sum() / (xc * xc).sum())
    return GapTrend(slope=slope, slope_ci=_ci(slope_boot, confidence), sizes=tuple(int(s) for s in sizes_arr),
                    gaps=tuple(float(g) for g in gaps), n_bootstrap=n_bootstrap, confidence=confidence)


def paired_differences(test_correct: Sequence[np.ndarray] | np.ndarray, reference: int, *, n_bootstrap: int = 1000,
                       seed: int = 0, confidence: float = 0.95) -> tuple[tuple[float, tuple[float, float]], ...]:
    """acc_i − acc_reference for every variant i with a paired bootstrap interval (same test resample)."""
    points = _as_points(test_correct)
    acc = np.array([p.mean() for p in points])
    boot, _ = resample_accuracies(points, n_bootstrap, np.random.default_rng(seed))
    diff = boot - boot[:, [reference]]
    return tuple((float(acc[i] - acc[reference]), _ci(diff[:, i], confidence)) for i in range(len(acc)))
