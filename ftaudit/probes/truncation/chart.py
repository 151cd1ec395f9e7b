"""Chart of the truncation probe: token lengths per split (cumulative, from stored quantiles) and --max-length."""

from __future__ import annotations

from ftaudit.probes.truncation import TruncationResult
from ftaudit.charts import PALETTE, figure, to_svg


def charts(r: TruncationResult) -> dict[str, str]:
    splits = [s for s in r.splits if s.length_quantiles]
    return {"lengths": lengths_chart(r)} if splits else {}


def lengths_chart(r: TruncationResult) -> str:
    fig = figure(4.6, 2.8)
    ax = fig.add_subplot()
    for k, s in enumerate(x for x in r.splits if x.length_quantiles):
        ax.step(s.length_quantiles, r.quantiles, where="post", color=PALETTE[k % len(PALETTE)],
                label=f"{s.split}: {100 * s.truncated_share:.1f}% cut")
    ax.axvline(r.max_length, color=PALETTE[5], linestyle="--", linewidth=1, label=f"--max-length {r.max_length}")
    ax.set_xlabel("tokens per example before truncation")
    ax.set_ylabel("cumulative share")
    ax.set_ylim(0, 1.02)
    fig.legend(loc="outside upper center", ncols=3, fontsize=7, frameon=False)
    return to_svg(fig, "token length distributions and the --max-length cut")
