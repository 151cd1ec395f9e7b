"""Charts of the adapter probe: each adapted module's update size, and its effective rank against r."""

from __future__ import annotations

import numpy as np

from ftaudit.probes.adapter import AdapterResult
from ftaudit.charts import PALETTE, figure, to_svg


def charts(r: AdapterResult) -> dict[str, str]:
    if not r.modules:
        return {}
    return {"update": update_chart(r), "rank": rank_chart(r)}


def _grouped(r: AdapterResult, value: str, ax: object) -> list[str]:
    """Bars of `value` per layer (x) and module name (colour); returns the layers in order."""
    layers = [layer.layer for layer in sorted(r.layers, key=lambda layer: layer.order)]
    index = {name: i for i, name in enumerate(layers)}
    names = sorted({m.name for m in r.modules})
    width = 0.8 / max(len(names), 1)
    for k, name in enumerate(names):
        rows = [m for m in r.modules if m.name == name and np.isfinite(getattr(m, value))]
        xs = [index[m.layer] + (k - (len(names) - 1) / 2) * width for m in rows]
        ax.bar(xs, [getattr(m, value) for m in rows], width=width, color=PALETTE[k % len(PALETTE)], label=name)
    ax.set_xticks(range(len(layers)), layers, rotation=30, ha="right")
    return names


def update_chart(r: AdapterResult) -> str:
    fig = figure(6.4, 2.8)
    ax = fig.add_subplot()
    names = _grouped(r, "relative", ax)
    ax.set_ylabel("||ΔW||/||W₀||")
    fig.legend(fontsize=7, frameon=False, ncols=min(len(names), 5), loc="outside upper center")
    return to_svg(fig, "size of the adapter's update per layer and module, relative to the frozen weight")


def rank_chart(r: AdapterResult) -> str:
    fig = figure(6.4, 2.8)
    ax = fig.add_subplot()
    names = _grouped(r, "effective_rank", ax)
    ax.axhline(r.rank, color=PALETTE[7], linewidth=1, linestyle="--", label=f"r = {r.rank}")
    ax.set_ylabel("effective rank of ΔW")
    ax.set_ylim(0, r.rank * 1.1)
    fig.legend(fontsize=7, frameon=False, ncols=min(len(names) + 1, 5), loc="outside upper center")
    return to_svg(fig, "effective rank of each module's update against the rank r it was given")
