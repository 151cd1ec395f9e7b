"""Charts for the HTML report: matplotlib figures rendered to inline SVG, drawn from result data only.

Each probe kind may have a module here with `charts(result) -> dict[name, svg]`; `CHART_MODULES` lists them.
"""

from __future__ import annotations

import importlib
import io
import re
from typing import Any, Callable

import numpy as np

# Okabe-Ito: distinguishable with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
TRAIN, TEST = PALETTE[0], PALETTE[1]

CHART_MODULES: dict[str, str] = {
    "gap": "ftaudit.probes.gap.chart",
    "drift": "ftaudit.probes.drift.chart",
    "dynamics": "ftaudit.probes.dynamics.chart",
    "attribution": "ftaudit.probes.attribution.chart",
    "learning_curve": "ftaudit.probes.learning_curve.chart",
    "size_curve": "ftaudit.probes.size_curve.chart",
    "lr_range": "ftaudit.probes.lr_range.chart",
    "balance": "ftaudit.probes.balance.chart",
    "calibration": "ftaudit.probes.calibration.chart",
    "shift": "ftaudit.probes.shift.chart",
    "truncation": "ftaudit.probes.truncation.chart",
}


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


def charts_for(kind: str, result: Any) -> dict[str, str]:
    module = CHART_MODULES.get(kind)
    if module is None:
        return {}
    make: Callable[[Any], dict[str, str]] = importlib.import_module(module).charts
    return make(result)
