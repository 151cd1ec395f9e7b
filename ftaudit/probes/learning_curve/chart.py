"""Chart of the learning curve: train and test accuracy by data size, error bars, the fit dashed beyond the
data."""

from __future__ import annotations

import numpy as np

from ftaudit.charts import PALETTE, TEST, TRAIN, figure, interval_bars, spread, to_svg
from ftaudit.curvefit import power_law
from ftaudit.probes.learning_curve import LearningCurveResult


def charts(r: LearningCurveResult) -> dict[str, str]:
    return {"curve": learning_curve_chart(r)}


def learning_curve_chart(r: LearningCurveResult) -> str:
    fig = figure(6.0, 3.2)
    ax = fig.add_subplot()
    sizes = np.array([s.size for s in r.sizes], dtype=float)
    test = np.array([s.test_accuracy for s in r.sizes])
    test_err = interval_bars(list(test), [s.test_accuracy_ci for s in r.sizes])
    train_err = np.array([spread([p.train_accuracy for p in r.points if p.size == s.size]) for s in r.sizes]).T
    ax.errorbar(sizes, [s.train_accuracy for s in r.sizes], yerr=train_err, color=TRAIN, marker="o", ms=4,
                capsize=2, label="train (own subset)")
    ax.errorbar(sizes, test, yerr=test_err, color=TEST, marker="o", ms=4, capsize=2, label="test (95% CI)")
    for reason, colour in (("at chance", "#555"), ("under-trained", PALETTE[3]), ("still learning", PALETTE[5])):
        unused = [s for s in r.sizes if s.unfitted_reason == reason]
        if unused:
            ax.scatter([s.size for s in unused], [s.test_accuracy for s in unused], s=40, facecolors="none",
                       edgecolors=colour, zorder=3, label=f"{reason} (not fitted)")
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
            ax.errorbar([mult * f.full_size], [y], yerr=interval_bars([gain], [ci]), color=PALETTE[2],
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
