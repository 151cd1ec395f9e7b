"""Charts of the factor curves: data size and model size (train and test, error bars, the fit dashed beyond the
data), and the learning-rate range test with the user's learning rate on it."""

from __future__ import annotations

from typing import Any

import numpy as np

from ftaudit.curvefit import power_law
from ftaudit.probes.learning_curve import LearningCurveResult
from ftaudit.probes.lr_range import LrRangeResult
from ftaudit.probes.size_curve import SizeCurveResult
from ftaudit.charts import PALETTE, TEST, TRAIN, figure, to_svg


def charts(r: Any) -> dict[str, str]:
    if isinstance(r, LearningCurveResult):
        return {"curve": learning_curve_chart(r)}
    if isinstance(r, SizeCurveResult):
        return {"curve": size_curve_chart(r)}
    if isinstance(r, LrRangeResult):
        return {"range": lr_range_chart(r)}
    return {}


def _spread(values: list[float]) -> tuple[float, float]:
    return (float(np.mean(values) - min(values)), float(max(values) - np.mean(values)))


def learning_curve_chart(r: LearningCurveResult) -> str:
    fig = figure(6.0, 3.2)
    ax = fig.add_subplot()
    sizes = np.array([s.size for s in r.sizes], dtype=float)
    test = np.array([s.test_accuracy for s in r.sizes])
    test_err = np.array([[s.test_accuracy - s.test_accuracy_ci[0], s.test_accuracy_ci[1] - s.test_accuracy]
                         for s in r.sizes]).T
    train_err = np.array([_spread([p.train_accuracy for p in r.points if p.size == s.size]) for s in r.sizes]).T
    ax.errorbar(sizes, [s.train_accuracy for s in r.sizes], yerr=train_err, color=TRAIN, marker="o", ms=4,
                capsize=2, label="train (own subset)")
    ax.errorbar(sizes, test, yerr=test_err, color=TEST, marker="o", ms=4, capsize=2, label="test (95% CI)")
    unused = [s for s in r.sizes if not s.above_chance]
    if unused:
        ax.scatter([s.size for s in unused], [s.test_accuracy for s in unused], s=40, facecolors="none",
                   edgecolors="#555", zorder=3, label="at chance (not fitted)")
    ax.axhline(r.chance, color="#555", linestyle=":", linewidth=1, label=f"chance ({r.chance:.2f})")
    if r.fit is not None:
        f = r.fit
        inside = np.geomspace(min(f.sizes), f.full_size, 60)
        beyond = np.geomspace(f.full_size, 10 * f.full_size, 40)
        ax.plot(inside, power_law(inside, f.a, f.b, f.c), color=PALETTE[2], linewidth=1.2,
                label=f"fit: {f.a:.3f} − {f.b:.2f}·n^−{f.c:.2f}")
        ax.plot(beyond, power_law(beyond, f.a, f.b, f.c), color=PALETTE[2], linewidth=1.2, linestyle="--",
                label="extrapolation")
        for mult, gain, ci in ((2, f.gain_2x, f.gain_2x_ci), (10, f.gain_10x, f.gain_10x_ci)):
            y = f.predicted_full + gain
            ax.errorbar([mult * f.full_size], [y], yerr=[[gain - ci[0]], [ci[1] - gain]], color=PALETTE[2],
                        marker="s", ms=4, capsize=3, linestyle="none")
            ax.annotate(f"{mult}×: {100 * gain:+.1f} pts", (mult * f.full_size, y), textcoords="offset points",
                        xytext=(4, -12), fontsize=7, color=PALETTE[2])
    ax.set_xscale("log", base=2)
    ticks = [int(v) for v in sizes] + ([2 * r.fit.full_size, 10 * r.fit.full_size] if r.fit is not None else [])
    ax.set_xticks(ticks, [f"{t:,}" for t in ticks], fontsize=7)
    ax.minorticks_off()
    ax.set_xlabel("training examples")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    return to_svg(fig, "learning curve: train and test accuracy against training-set size, with the fitted "
                       "power law extrapolated (dashed)")


def size_curve_chart(r: SizeCurveResult) -> str:
    fig = figure(5.6, 3.0)
    ax = fig.add_subplot()
    x = np.arange(len(r.models))
    test_err = np.array([[m.test_accuracy - m.test_accuracy_ci[0], m.test_accuracy_ci[1] - m.test_accuracy]
                         for m in r.models]).T
    train_err = np.array([_spread([p.train_accuracy for p in r.points if p.model == m.name]) for m in r.models]).T
    ax.errorbar(x, [m.train_accuracy for m in r.models], yerr=train_err, color=TRAIN, marker="o", ms=4, capsize=2,
                label="train")
    ax.errorbar(x, [m.test_accuracy for m in r.models], yerr=test_err, color=TEST, marker="o", ms=4, capsize=2,
                label="test (95% CI)")
    ax.axhline(r.chance, color="#555", linestyle=":", linewidth=1, label=f"chance ({r.chance:.2f})")
    ax.set_xticks(x, [f"{m.name}\n{m.parameters / 1e6:.1f}M" for m in r.models], fontsize=7)
    ax.set_xlabel("model (parameters)")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    return to_svg(fig, "model-size curve: train and test accuracy of smaller and larger models")


def lr_range_chart(r: LrRangeResult) -> str:
    fig = figure(6.0, 3.0)
    ax = fig.add_subplot()
    lrs = np.array(r.lrs)
    ax.plot(lrs, r.losses, color="#bbb", linewidth=0.8, label="batch loss")
    ax.plot(lrs[: len(r.smoothed)], r.smoothed, color=PALETTE[0], linewidth=1.5, label="smoothed")
    ax.axvspan(r.range_low, r.range_high, color=PALETTE[2], alpha=0.15,
               label=f"good range {r.range_low:.0e}–{r.range_high:.0e}")
    ax.axvline(r.suggested_lr, color=PALETTE[2], linewidth=1, label=f"suggested {r.suggested_lr:.1e}")
    if r.diverged_lr is not None:
        ax.axvline(r.diverged_lr, color=PALETTE[5], linestyle=":", linewidth=1,
                   label=f"diverged {r.diverged_lr:.0e}")
    ax.axvline(r.user_lr, color=PALETTE[1], linestyle="--", linewidth=1.5, label=f"your lr {r.user_lr:.1e}")
    finite = [v for v in r.smoothed if np.isfinite(v)]
    if finite:
        ax.set_ylim(min(finite) * 0.9, max(finite[0], min(finite)) * 1.6)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (raised every step)")
    ax.set_ylabel("training loss (nats)")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    return to_svg(fig, "learning-rate range test: loss against learning rate, the good range shaded, your "
                       "learning rate dashed")
