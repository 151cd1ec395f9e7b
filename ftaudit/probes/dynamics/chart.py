"""Charts of the dynamics probe: loss and learning rate per step, gradient norm per layer, cartography map."""

from __future__ import annotations

import numpy as np

from ftaudit.probes.dynamics import DynamicsResult
from ftaudit.charts import PALETTE, figure, to_svg


def charts(r: DynamicsResult) -> dict[str, str]:
    out = {}
    if r.loss:
        out["loss"] = loss_chart(r)
    if r.layers and r.grad_steps:
        out["gradients"] = gradient_chart(r)
    if r.cartography and any(any(row) for row in r.cartography):
        out["cartography"] = cartography_chart(r)
    return out


def loss_chart(r: DynamicsResult) -> str:
    fig = figure(6.4, 2.8)
    ax = fig.add_subplot()
    steps = np.asarray(r.loss_steps)
    loss = np.asarray([np.nan if v is None else v for v in r.loss], dtype=float)
    ax.plot(steps, loss, color=PALETTE[0], lw=1.2, label="training loss")
    if r.label_entropy is not None:
        ax.axhline(r.label_entropy, color=PALETTE[5], lw=0.8, ls="--", label=f"H(y) = {r.label_entropy:.3f}")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats)")
    lrs = np.asarray([np.nan if v is None else v for v in r.lr_curve], dtype=float)
    if np.isfinite(lrs).any():
        ax2 = ax.twinx()
        ax2.plot(steps[:len(lrs)], lrs, color=PALETTE[1], lw=1.0, label="learning rate")
        ax2.set_ylabel("learning rate")
        ax2.spines["right"].set_visible(True)
        ax2.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
        fig.legend(fontsize=7, frameon=False, ncols=3, loc="outside upper center")
    else:
        ax.legend(fontsize=7, frameon=False)
    return to_svg(fig, "training loss and learning rate per step")


def gradient_chart(r: DynamicsResult) -> str:
    fig = figure(6.4, 2.8)
    ax = fig.add_subplot()
    cmap = fig.colormaps["viridis"] if hasattr(fig, "colormaps") else None
    n = len(r.layers)
    for k, g in enumerate(r.layers):
        ys = np.asarray([np.nan if v is None else v for v in g.series], dtype=float)
        ys[ys <= 0] = np.nan
        color = PALETTE[k % len(PALETTE)] if cmap is None else cmap(k / max(n - 1, 1))
        ax.plot(r.grad_steps[:len(ys)], ys, lw=1.0, color=color, label=g.layer)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("gradient L2 norm")
    fig.legend(fontsize=7, frameon=False, ncols=min(n, 6), loc="outside upper center")
    return to_svg(fig, "gradient norm per layer, embeddings to head")


def cartography_chart(r: DynamicsResult) -> str:
    grid = np.asarray(r.cartography, dtype=float)
    fig = figure(4.2, 3.0)
    ax = fig.add_subplot()
    shown = np.where(grid > 0, np.log10(np.maximum(grid, 1)) + 0.3, np.nan)
    im = ax.imshow(shown, origin="lower", aspect="auto", extent=(0, 1, 0, 0.5), cmap="Blues")
    ax.set_xlabel("confidence: mean p(given label) over epochs")
    ax.set_ylabel("variability: std of p(given label)")
    cbar = fig.colorbar(im, ax=ax)
    cbar.set_label("log10 examples")
    return to_svg(fig, "dataset cartography of the training examples")
