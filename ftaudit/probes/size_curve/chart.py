"""Chart of the model-size curve: train and test accuracy by model size, with error bars."""

from __future__ import annotations

import numpy as np

from ftaudit.charts import PALETTE, TEST, TRAIN, figure, interval_bars, spread, to_svg
from ftaudit.probes.size_curve import SizeCurveResult


def charts(r: SizeCurveResult) -> dict[str, str]:
    return {"curve": size_curve_chart(r)}


def size_curve_chart(r: SizeCurveResult) -> str:
    fig = figure(5.6, 3.0)
    ax = fig.add_subplot()
    x = np.arange(len(r.models))
    test_err = interval_bars([m.test_accuracy for m in r.models], [m.test_accuracy_ci for m in r.models])
    train_err = np.array([spread([p.train_accuracy for p in r.points if p.model == m.name]) for m in r.models]).T
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
