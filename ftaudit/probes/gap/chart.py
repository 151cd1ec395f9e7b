"""Charts of the gap probe: train vs test metrics with intervals, and the test confusion matrix."""

from __future__ import annotations

import numpy as np

from ftaudit.probes.gap import GapResult
from ftaudit.charts import TEST, TRAIN, figure, to_svg


def charts(r: GapResult) -> dict[str, str]:
    return {"metrics": metrics_chart(r), "confusion": confusion_chart(r)}


def metrics_chart(r: GapResult) -> str:
    fig = figure(5.2, 2.6)
    ax = fig.add_subplot()
    names = ["accuracy", "macro-F1", "balanced acc."]
    train = [r.train.accuracy, r.train.macro_f1, r.train.balanced_accuracy]
    test = [r.test.accuracy, r.test.macro_f1, r.test.balanced_accuracy]
    err_train = [r.train.accuracy_ci, r.train.macro_f1_ci, None]
    err_test = [r.test.accuracy_ci, r.test.macro_f1_ci, None]
    y = np.arange(len(names))
    for offset, values, errs, colour, label in ((-0.18, train, err_train, TRAIN, "train"),
                                                (0.18, test, err_test, TEST, "test")):
        xerr = np.array([[v - e[0], e[1] - v] if e else [0, 0] for v, e in zip(values, errs)]).T
        ax.barh(y + offset, values, height=0.34, color=colour, label=label, xerr=xerr, capsize=2)
    ax.axvline(r.test.majority_baseline, color="#555", linestyle=":", linewidth=1,
               label=f"majority baseline ({r.test.majority_baseline:.2f})")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.0)
    ax.set_xlabel("score (95% bootstrap CI)")
    fig.legend(loc="outside upper center", ncols=3, fontsize=7, frameon=False)
    return to_svg(fig, "train and test scores with 95% confidence intervals")


def confusion_chart(r: GapResult) -> str:
    cm = np.array(r.test.confusion, dtype=float)
    c = len(r.labels)
    size = min(1.2 + 0.55 * c, 6.0)
    fig = figure(size + 0.8, size)
    ax = fig.add_subplot()
    rows = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    labels = [str(x)[:14] for x in r.labels]
    ax.set_xticks(range(c), labels, rotation=45 if c > 3 else 0, ha="right" if c > 3 else "center")
    ax.set_yticks(range(c), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    if c <= 12:
        for i in range(c):
            for j in range(c):
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if rows[i, j] > 0.6 else "black")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of gold row")
    return to_svg(fig, "test confusion matrix")
