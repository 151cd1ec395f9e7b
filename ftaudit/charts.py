"""What every probe's chart draws with: matplotlib figures without global state, rendered to inline SVG.

A probe folder's chart.py has `charts(result) -> dict[name, svg]`, drawn from result data only; its ProbeSpec names it.
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np

# Okabe-Ito: distinguishable with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
TRAIN, TEST = PALETTE[0], PALETTE[1]


def figure(width: float = 6.0, height: float = 3.2) -> Any:
    """A matplotlib Figure without pyplot's global state; every text drawn on it is plain text.

    Labels, model names and paths are user strings: with mathtext on, "$x$" would render as math and "$\\foo{$"
    would raise inside savefig. `text.parse_math` off makes every Text (titles, ticks, legends) literal.
    """
    import matplotlib

    matplotlib.rcParams.update({
        "svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
        "svg.hashsalt": "ftaudit",  # stable ids, so the same result renders the same bytes
        "text.parse_math": False, "text.usetex": False,  # user strings are text, never math or TeX
    })
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def to_svg(fig: Any, title: str) -> str:
    """The figure as an inline <svg> element with an accessible title; no XML prolog, no external refs."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    # The RDF metadata block names dc/cc/rdf namespaces by URL: dead weight that looks like a link.
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r'\s+xmlns:(?:dc|cc|rdf)="[^"]*"', "", text)
    text = re.sub(r"<svg ", f'<svg role="img" aria-label="{_attr(title)}" ', text, count=1)
    return text


def _attr(text: str) -> str:
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;"))


def spread(values: list[float]) -> tuple[float, float]:
    """Error-bar lengths (below, above) from the mean to the smallest and largest of `values`."""
    return (float(np.mean(values) - min(values)), float(max(values) - np.mean(values)))


def interval_bars(points: list[float], intervals: list[tuple[float, float]]) -> np.ndarray:
    """Error-bar lengths [2, n] (below, above) from each point to its interval's ends, never negative: a percentile
    bootstrap interval need not contain its point estimate (a fitted gain of 0 on a flat curve can sit below its
    whole interval), and matplotlib refuses a negative length. Such a bar then ends at the point."""
    p = np.asarray(points, dtype=float)
    lo, hi = np.asarray(intervals, dtype=float).reshape(-1, 2).T
    return np.clip(np.stack([p - lo, hi - p]), 0.0, None)
