"""Chart of the balance probe: class shares per split."""

from __future__ import annotations

import numpy as np

from ftaudit.probes.balance import BalanceResult
from ftaudit.charts import PALETTE, figure, to_svg


def charts(r: BalanceResult) -> dict[str, str]:
    return {"shares": shares_chart(r)} if r.labels else {}


def shares_chart(r: BalanceResult) -> str:
    c = len(r.labels)
    fig = figure(5.2, min(1.2 + 0.35 * c * len(r.splits), 7.0))
    ax = fig.add_subplot()
    y = np.arange(c)
    height = 0.8 / len(r.splits)
    for k, s in enumerate(r.splits):
        ax.barh(y + (k - (len(r.splits) - 1) / 2) * height, s.shares, height=height * 0.95,
                color=PALETTE[k % len(PALETTE)], label=f"{s.split} (n={s.n})")
    ax.axvline(r.uniform_share, color="#555", linestyle=":", linewidth=1, label=f"uniform ({r.uniform_share:.2f})")
    ax.set_yticks(y, [str(x)[:18] for x in r.labels])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the split")
    fig.legend(loc="outside upper center", ncols=3, fontsize=7, frameon=False)
    return to_svg(fig, "class shares per split")
