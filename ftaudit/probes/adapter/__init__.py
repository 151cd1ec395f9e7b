"""AdapterProbe: what a LoRA adapter changed — each module's update size against its frozen weight, and its rank use.

Per adapted module, ΔW = s·B·A (B [out, r], A [r, in]). Its singular values are those of the r×r matrix
s·R_B·R_Aᵀ (B = Q_B·R_B and Aᵀ = Q_A·R_A are thin QR factorisations), so no out×in matrix is formed.
  relative       = ||ΔW||_F / ||W₀||_F
  effective rank = exp(−Σ pᵢ ln pᵢ), pᵢ = σᵢ / Σσⱼ (Roy & Vetterli 2007): 1 for a rank-1 update, r for r
                   equal singular values
  rank for 90%   = the fewest directions that hold 90% of ||ΔW||²_F
  share          = ||ΔW||²_F / Σ over all modules: how the change is spread over the modules
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ftaudit.architectures import architecture_of
from ftaudit.probes.base import Need, Probe
from ftaudit.results import ProbeResult

if TYPE_CHECKING:
    from ftaudit.context import AuditContext


@dataclass(frozen=True)
class AdapterModule:
    """One adapted weight matrix."""

    module: str  # dotted name in the model, e.g. "bert.encoder.layer.0.attention.self.query"
    name: str  # its last part ("query")
    layer: str  # "layer 0", ... as drift names layers
    order: int
    rank: int  # r of this module's factors
    scaling: float  # s: alpha / r (alpha / sqrt(r) with rsLoRA)
    update_norm: float  # ||ΔW||_F
    base_norm: float  # ||W₀||_F
    relative: float  # update_norm / base_norm
    effective_rank: float
    rank90: int
    share: float  # of the adapter's total ||ΔW||²_F
    singular_values: tuple[float, ...]  # of ΔW, largest first


@dataclass(frozen=True)
class AdapterLayer:
    """The adapted modules of one layer together."""

    layer: str
    order: int
    relative: float  # sqrt(Σ||ΔW||²) / sqrt(Σ||W₀||²) over the layer's adapted modules
    share: float


@dataclass(frozen=True)
class AdapterResult(ProbeResult):
    kind = "adapter"
    source: str  # the adapter folder, or "--lora"
    rank: int  # r as configured
    alpha: float
    use_rslora: bool
    use_dora: bool  # DoRA also rescales each column; the table shows its low-rank direction update B·A
    target_modules: tuple[str, ...]
    modules_to_save: tuple[str, ...]  # trained in full beside the adapter (the head)
    modules: tuple[AdapterModule, ...]  # input to output
    layers: tuple[AdapterLayer, ...]
    relative: float  # over every adapted weight
    median_rank_usage: float  # median over modules of effective_rank / rank
    top_module: str
    top_share: float
    adapter_params: int  # numbers in the A and B factors


def singular_values(a: Any, b: Any, scaling: float) -> np.ndarray:
    """Singular values of scaling · b @ a (b [out, r], a [r, in]), largest first, in float64."""
    import torch

    _, rb = torch.linalg.qr(b.double())
    _, ra = torch.linalg.qr(a.double().T)
    return torch.linalg.svdvals(scaling * rb @ ra.T).numpy()


def effective_rank(sv: np.ndarray) -> float:
    """exp of the entropy of the normalised singular values; 0 for a zero update."""
    total = float(sv.sum())
    if total <= 0:
        return 0.0
    p = sv[sv > 0] / total
    return float(math.exp(-(p * np.log(p)).sum()))


def rank_for(sv: np.ndarray, energy: float = 0.9) -> int:
    """Fewest leading singular directions whose squares sum to `energy` of the total (0 for a zero update)."""
    sq = sv.astype(np.float64) ** 2
    if sq.sum() <= 0:
        return 0
    return int(np.searchsorted(np.cumsum(sq) / sq.sum(), energy - 1e-12) + 1)


def measure_adapter(weights: Any, model: Any) -> AdapterResult:
    """The adapter table of an `adapters.AdapterWeights`; `model` names the layers (architecture table)."""
    arch = architecture_of(model)
    rows = []
    for m in weights.modules:
        sv = singular_values(m.a, m.b, m.scaling)
        norm = float(np.sqrt((sv ** 2).sum()))
        g = arch.classify(m.module + ".weight")
        rows.append(dict(module=m.module, name=m.module.rsplit(".", 1)[-1], layer=g.layer, order=g.order,
                         rank=int(m.a.shape[0]), scaling=m.scaling, update_norm=norm, base_norm=m.base_norm,
                         relative=norm / m.base_norm if m.base_norm > 0 else math.nan,
                         effective_rank=effective_rank(sv), rank90=rank_for(sv),
                         singular_values=tuple(float(x) for x in sv)))
    total2 = sum(r["update_norm"] ** 2 for r in rows)
    modules = tuple(sorted((AdapterModule(**r, share=r["update_norm"] ** 2 / total2 if total2 > 0 else 0.0)
                            for r in rows), key=lambda m: (m.order, m.module)))
    by_layer: dict[tuple[str, int], list[AdapterModule]] = {}
    for m in modules:
        by_layer.setdefault((m.layer, m.order), []).append(m)
    layers = tuple(AdapterLayer(layer=layer, order=order, relative=_relative(ms),
                                share=sum(m.share for m in ms)) for (layer, order), ms in by_layer.items())
    top = max(modules, key=lambda m: m.share, default=None)
    usage = [m.effective_rank / m.rank for m in modules if m.rank]
    return AdapterResult(source=weights.source, rank=weights.rank, alpha=weights.alpha,
                         use_rslora=weights.use_rslora, use_dora=weights.use_dora,
                         target_modules=weights.target_modules, modules_to_save=weights.modules_to_save,
                         modules=modules, layers=layers, relative=_relative(modules),
                         median_rank_usage=float(np.median(usage)) if usage else math.nan,
                         top_module=top.module if top else "", top_share=top.share if top else math.nan,
                         adapter_params=sum(int(m.a.numel() + m.b.numel()) for m in weights.modules))


def _relative(modules: Any) -> float:
    base2 = sum(m.base_norm ** 2 for m in modules)
    return math.sqrt(sum(m.update_norm ** 2 for m in modules) / base2) if base2 > 0 else math.nan


class AdapterProbe(Probe):
    """A LoRA adapter's update per layer and module: its size against the frozen weight and the rank it uses."""

    name = "adapter"
    summary = "a LoRA adapter's update per module: size against the frozen weight, effective rank against r"
    needs = frozenset({Need.ADAPTER})
    result_type = AdapterResult

    def run(self, ctx: "AuditContext") -> AdapterResult:
        return measure_adapter(ctx.adapter, ctx.model)
