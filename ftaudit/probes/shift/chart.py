"""Chart of the shift probe: train and test length distributions (cumulative, from stored quantiles)."""

from __future__ import annotations

from ftaudit.probes.shift import ShiftResult
from ftaudit.charts import TEST, TRAIN, figure, to_svg


def charts(r: ShiftResult) -> dict[str, str]:
    return {"lengths": lengths_chart(r)} if r.train_length_quantiles and r.test_length_quantiles else {}


def lengths_chart(r: ShiftResult) -> str:
    fig = figure(4.6, 2.8)
    ax = fig.add_subplot()
    for values, colour, label in ((r.train_length_quantiles, TRAIN, f"train (n={r.n_train})"),
                                  (r.test_length_quantiles, TEST, f"test (n={r.n_test})")):
        ax.step(values, r.quantiles, where="post", color=colour, label=label)
    ax.set_xlabel("words per example (normalised)")
    ax.set_ylabel("cumulative share")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Kolmogorov-Smirnov statistic {r.length_ks:.3f}", fontsize=9)
    fig.legend(loc="outside upper center", ncols=3, fontsize=7, frameon=False)
    return to_svg(fig, "cumulative length distributions of train and test")
