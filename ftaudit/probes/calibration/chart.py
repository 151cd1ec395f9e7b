"""Chart of the calibration probe: the reliability diagram (accuracy vs confidence per equal-mass bin)."""

from __future__ import annotations

from ftaudit.probes.calibration import CalibrationResult
from ftaudit.charts import PALETTE, TEST, figure, to_svg


def charts(r: CalibrationResult) -> dict[str, str]:
    return {"reliability": reliability_chart(r)} if r.bins else {}


def reliability_chart(r: CalibrationResult) -> str:
    fig = figure(3.6, 3.4)
    ax = fig.add_subplot()
    lo = max(min(min(b.low for b in r.bins), min(b.accuracy for b in r.bins), 0.5) - 0.03, 0.0)
    ax.plot([lo, 1], [lo, 1], color="#888", linestyle=":", linewidth=1, label="perfect calibration")
    for b in r.bins:  # each bin spans its confidence range; the gap to the diagonal is its calibration error
        ax.plot([b.low, b.high], [b.accuracy, b.accuracy], color=TEST, linewidth=2, alpha=0.6)
        ax.plot([b.confidence, b.confidence], [b.confidence, b.accuracy], color=PALETTE[5], linewidth=1)
    ax.plot([b.confidence for b in r.bins], [b.accuracy for b in r.bins], "o", color=TEST, markersize=4,
            label=f"{r.split} bins (n={r.n}, {r.n_bins} of ~{r.n // max(r.n_bins, 1)})")
    ax.set_xlim(lo, 1.0)
    ax.set_ylim(lo, 1.0)
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"ECE {100 * r.ece:.1f}% (chance level {100 * r.ece_noise:.1f}%)", fontsize=9)
    fig.legend(loc="outside upper center", ncols=2, fontsize=7, frameon=False)
    return to_svg(fig, f"reliability diagram on {r.split}: accuracy against confidence per equal-mass bin")
