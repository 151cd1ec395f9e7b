"""Chart of the learning-rate range test, with the user's learning rate on it."""

from __future__ import annotations

import numpy as np

from ftaudit.charts import PALETTE, figure, to_svg
from ftaudit.probes.lr_range import LrRangeResult


def charts(r: LrRangeResult) -> dict[str, str]:
    return {"range": lr_range_chart(r)}


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
