"""Chart of the attribution probe: each word's label association against its share of the attribution."""

from __future__ import annotations

from ftaudit.probes.attribution import AttributionResult
from ftaudit.charts import PALETTE, figure, to_svg

LABELLED = 6  # the highest-scoring words are named on the chart


def charts(r: AttributionResult) -> dict[str, str]:
    if not r.words:
        return {}
    return {"words": words_chart(r)}


def words_chart(r: AttributionResult) -> str:
    """Association ratio (log x) vs mean attribution share (y): a shortcut sits alone at the top right."""
    fig = figure(5.6, 3.0)
    ax = fig.add_subplot()
    tested = {c.stat.word for c in r.candidates}
    for group, colour, label in ((False, PALETTE[4], "other words"), (True, PALETTE[5], "tested by deletion")):
        chosen = [w for w in r.words if (w.word in tested) == group]
        if chosen:
            ax.scatter([max(w.association_ratio, 1e-3) for w in chosen], [w.attribution_share for w in chosen],
                       s=[12 + 3 * min(w.sample_count, 30) for w in chosen], color=colour, alpha=0.8, label=label,
                       edgecolors="none")
    for w in r.words[:LABELLED]:
        ax.annotate(w.word[:18], (max(w.association_ratio, 1e-3), w.attribution_share), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("label association: mutual information / 10th-largest of any word")
    ax.set_ylabel("mean share of attribution")
    ax.set_ylim(0, max(1.0, max(w.attribution_share for w in r.words) * 1.05))
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    return to_svg(fig, "label association against share of attribution, per word")
