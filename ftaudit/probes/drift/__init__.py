"""DriftProbe: how far every layer moved from the pre-trained weights, streamed one base tensor at a time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ftaudit.architectures import architecture_of
from ftaudit.probes.base import Need, Probe
from ftaudit.results import ProbeResult

if TYPE_CHECKING:
    from ftaudit.context import AuditContext


@dataclass(frozen=True)
class GroupDrift:
    """Drift of a group of tensors (a layer's sub-module, or a whole layer).

    relative = ||θ − θ₀|| / ||θ₀|| over the group's concatenated tensors; cosine = <θ, θ₀> / (||θ|| ||θ₀||).
    """

    layer: str  # "embeddings", "layer 0".. (ALBERT "layer group 0"), "final norm", "pooler", "head", "other"
    part: str  # "attention" | "ffn" | "layernorm" | "embeddings" | "dense" | "all"
    order: int  # position from input to output, for charts
    relative: float
    cosine: float
    max_abs: float
    n_params: int


@dataclass(frozen=True)
class DriftResult(ProbeResult):
    kind = "drift"
    base: str
    groups: tuple[GroupDrift, ...]  # per layer and sub-module
    layers: tuple[GroupDrift, ...]  # per layer (part == "all")
    encoder_relative: float  # over every tensor that has a base (embeddings + layers + pooler)
    new_tensors: tuple[str, ...]  # in the fine-tune but not in the base (e.g. a new head)
    missing_tensors: tuple[str, ...]  # in the base but not in the fine-tune
    mismatched_tensors: tuple[str, ...]  # shapes differ
    n_compared: int
    tied_skipped: int


class _Acc:
    __slots__ = ("diff2", "base2", "cur2", "dot", "max_abs", "n")

    def __init__(self) -> None:
        self.diff2 = self.base2 = self.cur2 = self.dot = self.max_abs = 0.0
        self.n = 0

    def add(self, cur: Any, reader: Any, key: str, chunk: int = 1 << 20) -> None:
        """Accumulate in float64 over chunks of 1M elements read from the base file, so memory stays flat."""
        import torch

        cur = cur.reshape(-1)
        for start in range(0, cur.numel(), chunk):
            c = cur[start:start + chunk].to(torch.float64)
            b = reader.read(key, start, chunk).to(torch.float64)
            d = c - b
            self.diff2 += float(torch.dot(d, d))
            self.base2 += float(torch.dot(b, b))
            self.cur2 += float(torch.dot(c, c))
            self.dot += float(torch.dot(c, b))
            self.max_abs = max(self.max_abs, float(d.abs().max()))
        self.n += cur.numel()

    def merge(self, other: "_Acc") -> None:
        self.diff2 += other.diff2
        self.base2 += other.base2
        self.cur2 += other.cur2
        self.dot += other.dot
        self.max_abs = max(self.max_abs, other.max_abs)
        self.n += other.n

    def result(self, layer: str, part: str, order: int) -> GroupDrift:
        rel = math.sqrt(self.diff2) / math.sqrt(self.base2) if self.base2 > 0 else float("nan")
        denom = math.sqrt(self.base2) * math.sqrt(self.cur2)
        cos = self.dot / denom if denom > 0 else float("nan")
        return GroupDrift(layer=layer, part=part, order=order, relative=rel, cosine=cos, max_abs=self.max_abs,
                          n_params=self.n)


def base_key_for(name: str, prefix: str, base_keys: set[str]) -> str | None:
    """The base checkpoint's key for a fine-tuned parameter (a bare encoder lacks the `bert.` prefix)."""
    candidates = [name]
    if prefix and name.startswith(prefix + "."):
        candidates.append(name[len(prefix) + 1:])
    elif prefix:
        candidates.append(f"{prefix}.{name}")
    return next((c for c in candidates if c in base_keys), None)


def compute_drift(model: Any, base: Any) -> DriftResult:
    """Compare `model`'s parameters with a `modeling.BaseWeights`, holding one base tensor at a time."""
    import torch

    prefix = getattr(model, "base_model_prefix", "")
    arch = architecture_of(model)
    groups: dict[tuple[str, str, int], _Acc] = {}
    new, mismatched, seen_ptrs = [], [], set()
    tied = 0
    matched_base: set[str] = set()
    with base.reader() as reader, torch.no_grad():
        base_keys = reader.keys
        for name, tensor in model.state_dict(keep_vars=False).items():
            if not tensor.is_floating_point():
                continue  # buffers such as position_ids
            ptr = tensor.data_ptr()
            if ptr in seen_ptrs:
                tied += 1
                continue
            seen_ptrs.add(ptr)
            key = base_key_for(name, prefix, base_keys)
            if key is None:
                new.append(name)
                continue
            matched_base.add(key)
            if reader.shape(key) != tuple(tensor.shape):
                mismatched.append(name)
                continue
            g = arch.classify(name)
            groups.setdefault((g.layer, g.part, g.order), _Acc()).add(tensor.detach().cpu(), reader, key)
        missing = sorted(k for k in base_keys - matched_base
                         if not k.endswith("position_ids") and "cls.predictions" not in k and "lm_head" not in k)
    by_layer: dict[tuple[str, int], _Acc] = {}
    total = _Acc()
    for (layer, _part, order), acc in groups.items():
        by_layer.setdefault((layer, order), _Acc()).merge(acc)
        if layer != "head":
            total.merge(acc)
    group_rows = tuple(sorted((acc.result(*key) for key, acc in groups.items()), key=lambda g: (g.order, g.part)))
    layer_rows = tuple(sorted((acc.result(layer, "all", order) for (layer, order), acc in by_layer.items()),
                              key=lambda g: g.order))
    encoder = total.result("encoder", "all", 0).relative if total.n else float("nan")
    return DriftResult(base=str(base.ref), groups=group_rows, layers=layer_rows, encoder_relative=encoder,
                       new_tensors=tuple(new), missing_tensors=tuple(missing), mismatched_tensors=tuple(mismatched),
                       n_compared=total.n, tied_skipped=tied)


class DriftProbe(Probe):
    """Per-layer parameter drift from the pre-trained weights: relative L2 change, cosine and max |Δ|."""

    name = "drift"
    summary = "parameter drift of every layer from the pre-trained weights"
    needs = frozenset({Need.MODEL, Need.BASE_WEIGHTS})
    result_type = DriftResult

    def run(self, ctx: "AuditContext") -> DriftResult:
        return compute_drift(ctx.model, ctx.base)
