"""What ftaudit must know about each encoder architecture, in one table: layers, parameter groups and positions.

Probes and the training core ask `architecture_of(model)` instead of testing `model_type` themselves. Parameter
patterns are searched in full parameter names, so they match a classifier (`bert.encoder.layer.0...`), a bare
encoder (`encoder.layer.0...`) and a wrapped model (`base_model.model.bert...`) alike. torch is imported lazily.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

# `order` of a group: its place from input to output (layer i has order i), for sorting and charts
EMBEDDINGS_ORDER, FINAL_ORDER, OTHER_ORDER, POOLER_ORDER, HEAD_ORDER = -1, 9_998, 9_999, 10_000, 10_001

_ATTENTION = re.compile(r"attention|attn|\.(?:q|k|v|out)_lin\.", re.IGNORECASE)


@dataclass(frozen=True)
class Group:
    """Where a parameter belongs: its layer ("embeddings", "layer 3", "pooler", "head", ...) and sub-module."""

    layer: str
    part: str  # "embeddings" | "attention" | "ffn" | "layernorm" | "dense"
    order: int


@dataclass(frozen=True)
class Architecture:
    """One row of the table. Regexes are searched in a parameter's full name; `layer`'s group 1 is the index."""

    name: str
    model_types: tuple[str, ...]
    layers: str | None  # dotted path from `model.base_model` to the ModuleList of encoder layers
    layer: str
    embeddings: str  # word/position/type embeddings, their norm and projection (and relative positions)
    pooler: str = r"(?:^|\.)pooler\."
    head: str = r"(?:^|\.)(?:pre_classifier|classifier)\."
    final: str | None = None  # a norm after the last layer, judged with the encoder (ModernBERT's final_norm)
    layer_label: str = "layer {i}"
    depth: tuple[str, ...] = ("num_hidden_layers",)  # config fields holding the number of layers
    per_layer: tuple[str, ...] = ()  # config lists with one entry per layer, cut with the layers
    shared: bool = False  # ALBERT: every layer reuses the weights of a layer group
    positions: str = "absolute"  # "absolute": 0..L-1 | "padding-aware": RoBERTa's | "own": let the model decide
    position_offset: int = 0  # position embeddings below the first token's (RoBERTa: padding_idx + 1)
    attribution_layer: str | None = None  # path from base_model to the module IG interpolates; None: word embeddings
    lora_targets: tuple[str, ...] | None = ("query", "value")  # --lora's default modules; None: peft's own table

    # ------------------------------------------------------------------ parameter groups

    def classify(self, name: str) -> Group:
        """The group of parameter `name`."""
        m = re.search(self.layer, name)
        if m:
            lower = name.lower()
            part = "layernorm" if "norm" in lower else "attention" if _ATTENTION.search(name) else "ffn"
            i = int(m.group(1))
            return Group(self.layer_label.format(i=i), part, i)
        if re.search(self.embeddings, name):
            return Group("embeddings", "embeddings", EMBEDDINGS_ORDER)
        if self.final and re.search(self.final, name):
            return Group("final norm", "layernorm", FINAL_ORDER)
        if re.search(self.pooler, name):
            return Group("pooler", "dense", POOLER_ORDER)
        if re.search(self.head, name):
            return Group("head", "dense", HEAD_ORDER)
        return Group("other", "dense", OTHER_ORDER)

    # ------------------------------------------------------------------ depth and truncation

    def depth_of(self, config: Any) -> int:
        """Encoder layers the model runs (ALBERT: layers, not the shared groups)."""
        for attr in self.depth:
            value = getattr(config, attr, None)
            if isinstance(value, int) and value > 0:
                return value
        return 0

    def layer_list(self, model: Any) -> Any:
        """The ModuleList of encoder layers (ALBERT: of layer groups), or None when it is not where expected."""
        import torch

        paths = (self.layers,) if self.layers else _GENERIC_LAYER_PATHS
        for path in paths:
            module = _resolve(model.base_model, path)
            if isinstance(module, torch.nn.ModuleList) and len(module):
                return module
        return None

    def truncation_problem(self, model: Any) -> str | None:
        """Why no first-k-layers variant of `model` can be made (None when one can)."""
        n = self.depth_of(model.config)
        if self.shared:
            groups = int(getattr(model.config, "num_hidden_groups", 1) or 1)
            if groups == 1:
                return (f"{self.name} shares one set of layer weights across all {n} layers, so a shallower "
                        f"{self.name} keeps every parameter: a depth curve says nothing about model size "
                        "(compare other models with --compare-models)")
            if n % groups:
                return f"{self.name}'s {n} layers do not divide into its {groups} layer groups"
        layers = self.layer_list(model)
        if layers is None:
            return f"cannot find the encoder layers of a {type(model).__name__} ({self.name})"
        if not self.shared and len(layers) != n:
            return f"{type(model).__name__} has {len(layers)} layer modules but its config says {n} layers"
        return None

    def truncation_step(self, model: Any) -> int:
        """Depths a variant can have are multiples of this (ALBERT: layers per group)."""
        if self.shared:
            return self.depth_of(model.config) // int(getattr(model.config, "num_hidden_groups", 1) or 1)
        return 1

    def keep_first_layers(self, model: Any, k: int) -> Any:
        """Drop every encoder layer after the first k, in place; the config follows, so the model saves and
        reloads at its new depth. Raises ValueError with `truncation_problem`'s reason when it cannot."""
        problem = self.truncation_problem(model)
        if problem:
            raise ValueError(problem)
        n, step = self.depth_of(model.config), self.truncation_step(model)
        if not 1 <= k <= n or k % step:
            raise ValueError(f"cannot keep {k} of {n} layers" + (f" (a multiple of {step})" if step > 1 else ""))
        layers = self.layer_list(model)
        del layers[k // step:]
        config = model.config
        if self.shared:
            config.num_hidden_groups = k // step
        for attr in self.per_layer:
            value = getattr(config, attr, None)
            if isinstance(value, (list, tuple)):
                setattr(config, attr, list(value)[:k])
        for attr in self.depth:
            if hasattr(config, attr):
                setattr(config, attr, k)
        return model

    # ------------------------------------------------------------------ positions and attribution

    def position_ids(self, input_ids: Any, config: Any) -> Any:
        """The position ids the model would make itself for this (padded) batch [B, L], or None ("own")."""
        import torch

        if self.positions == "absolute":
            b, n = input_ids.shape
            return torch.arange(n, device=input_ids.device).expand(b, n).contiguous()
        if self.positions == "padding-aware":  # RobertaEmbeddings.create_position_ids_from_input_ids
            pad = int(config.pad_token_id)
            mask = input_ids.ne(pad).long()
            return torch.cumsum(mask, dim=1) * mask + pad
        return None

    def attribution_module(self, model: Any) -> Any:
        """The module whose output integrated gradients interpolates between baseline and input."""
        if self.attribution_layer:
            module = _resolve(model.base_model, self.attribution_layer)
            if module is not None:
                return module
        return model.get_input_embeddings()


def _resolve(root: Any, path: str) -> Any:
    obj = root
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


_GENERIC_LAYER_PATHS = ("encoder.layer", "transformer.layer", "encoder.layers", "layers", "layer", "h", "block",
                        "blocks")
_BERT_LAYER = r"(?:^|\.)encoder\.layer\.(\d+)\."
_BERT_EMBEDDINGS = r"(?:^|\.)embeddings\."


def _roberta_like(name: str, model_types: tuple[str, ...]) -> Architecture:
    """BERT's layout with fairseq positions: counted from padding_idx + 1 over the non-[PAD] tokens."""
    return Architecture(name, model_types, "encoder.layer", _BERT_LAYER, _BERT_EMBEDDINGS, positions="padding-aware",
                        position_offset=2)


# DeBERTa-v2/v3 (no absolute positions) and ModernBERT (rotary) normalise the word embedding alone, and a norm
# cannot tell α·e from e: from a zero [PAD] row the model's output is flat along the path and jumps at α ≈ 0, which
# no quadrature resolves. Their embedding block's output (after the norm) moves smoothly, so IG interpolates there.
TABLE: tuple[Architecture, ...] = (
    Architecture("BERT", ("bert",), "encoder.layer", _BERT_LAYER, _BERT_EMBEDDINGS),
    Architecture("DistilBERT", ("distilbert",), "transformer.layer", r"(?:^|\.)transformer\.layer\.(\d+)\.",
                 _BERT_EMBEDDINGS, depth=("n_layers",), lora_targets=("q_lin", "v_lin")),
    _roberta_like("RoBERTa", ("roberta", "camembert")),
    _roberta_like("XLM-RoBERTa", ("xlm-roberta",)),
    replace(_roberta_like("MPNet", ("mpnet",)), lora_targets=("q", "v")),
    _roberta_like("Longformer", ("longformer",)),
    Architecture("DeBERTa", ("deberta-v2", "deberta"), "encoder.layer", _BERT_LAYER,
                 r"(?:^|\.)(?:embeddings|encoder\.rel_embeddings|encoder\.LayerNorm)\.",
                 attribution_layer="embeddings", lora_targets=("query_proj", "value_proj")),
    Architecture("ELECTRA", ("electra",), "encoder.layer", _BERT_LAYER, r"(?:^|\.)embeddings(?:_project)?\."),
    Architecture("ModernBERT", ("modernbert",), "layers", r"(?:^|\.)layers\.(\d+)\.", _BERT_EMBEDDINGS,
                 pooler=r"(?:^|\.)head\.", final=r"(?:^|\.)final_norm\.", per_layer=("layer_types",),
                 attribution_layer="embeddings", lora_targets=("Wqkv",)),
    Architecture("ALBERT", ("albert",), "encoder.albert_layer_groups", r"(?:^|\.)albert_layer_groups\.(\d+)\.",
                 r"(?:^|\.)(?:embeddings|encoder\.embedding_hidden_mapping_in)\.", layer_label="layer group {i}",
                 shared=True),
)

GENERIC = Architecture("generic", (), None, r"\.(?:layer|layers|h|block|blocks)\.(\d+)\.", r"(?i)embed",
                       pooler=r"(?i)pooler", head=r"(?i)(?:^|\.)(?:pre_classifier|classifier|score|head)\b",
                       depth=("num_hidden_layers", "n_layers", "num_layers"), positions="own", lora_targets=None)

_BY_TYPE = {t: a for a in TABLE for t in a.model_types}


def architecture_for(model_type: str | None) -> Architecture:
    """The table's row for a `config.model_type`; an unknown type gets the generic row, named after it."""
    known = _BY_TYPE.get(model_type or "")
    return known if known is not None else replace(GENERIC, name=model_type or "generic")


def architecture_of(model: Any) -> Architecture:
    """The row of a model, or of a config (anything with `.config.model_type` or `.model_type`)."""
    config = getattr(model, "config", model)
    return architecture_for(getattr(config, "model_type", None))
