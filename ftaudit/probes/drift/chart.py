"""Chart of the drift probe: relative change of each layer's sub-modules, input to output."""

from __future__ import annotations

import numpy as np

from ftaudit.probes.drift import DriftResult
from ftaudit.charts import PALETTE, figure, to_svg

PARTS = ("embeddings", "attention", "ffn", "layernorm", "dense")


def charts(r: DriftResult) -> dict[str, str]:
    if not r.groups:
        return {}
    return {"layers": layers_chart(r)}


def layers_chart(r: DriftResult) -> str:
    layers = [g.layer for g in r.layers]
    index = {name: i for i, name in enumerate(layers)}
    parts = [p for p in PARTS if any(g.part == p for g in r.groups)]
    fig = figure(6.4, 2.8)
    ax = fig.add_subplot()
    width = 0.8 / max(len(parts), 1)
    for k, part in enumerate(parts):
        xs, ys = [], []
        for g in r.groups:
            if g.part == part and np.isfinite(g.relative):
                xs.append(index[g.layer] + (k - (len(parts) - 1) / 2) * width)
                ys.append(g.relative)
        ax.bar(xs, ys, width=width, color=PALETTE[k % len(PALETTE)], label=part)
    ax.set_xticks(range(len(layers)), layers, rotation=30, ha="right")
    ax.set_ylabel("relative L2 change ||θ−θ₀||/||θ₀||")
    positive = [g.relative for g in r.groups if np.isfinite(g.relative) and g.relative > 0]
    if positive and max(positive) / min(positive) > 100:
        ax.set_yscale("log")
    fig.legend(fontsize=7, frameon=False, ncols=min(len(parts), 5), loc="outside upper center")
    return to_svg(fig, "relative parameter drift per layer and sub-module")
