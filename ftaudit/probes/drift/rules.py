"""Rules over parameter drift: an encoder that did not move, or one that moved far from its pre-training."""

from __future__ import annotations

import math
from typing import Callable

from ftaudit.probes.drift import DriftResult
from ftaudit.results import Severity
from ftaudit.rules.base import Judgement, Rule, Threshold

MIN_DRIFT = Threshold("min_encoder_drift", 1e-4, "encoder relative drift below this means the encoder was "
                                                  "effectively frozen")
MAX_DRIFT = Threshold("max_layer_drift", 0.5, "relative drift of any encoder layer above this means training "
                                              "moved far from the pre-trained weights (learning rate too high?)")


def _frozen(r: DriftResult, threshold: Callable[[str], float]) -> Judgement | None:
    if not r.n_compared or math.isnan(r.encoder_relative):
        return None
    limit = threshold(MIN_DRIFT.name)
    numbers = {"encoder_relative_drift": r.encoder_relative, "min_encoder_drift": limit}
    if r.encoder_relative < limit:
        return Judgement(Severity.WARN, f"the encoder moved {r.encoder_relative:.2e} (relative L2) from {r.base}: "
                                        f"it was effectively frozen (below {limit:.0e})", numbers, MIN_DRIFT.name)
    return Judgement(Severity.PASS, f"the encoder moved {r.encoder_relative:.2e} (relative L2) from {r.base}",
                     numbers, MIN_DRIFT.name)


def _large(r: DriftResult, threshold: Callable[[str], float]) -> Judgement | None:
    # The pooler and head are task layers that routinely move far; judge the pre-trained encoder only.
    layers = [g for g in r.layers if g.layer not in ("head", "pooler", "other") and not math.isnan(g.relative)]
    if not layers:
        return None
    limit = threshold(MAX_DRIFT.name)
    worst = max(layers, key=lambda g: g.relative)
    numbers = {"layer": worst.layer, "relative_drift": worst.relative, "cosine": worst.cosine,
               "max_layer_drift": limit}
    text = f"{worst.layer} moved most: relative drift {worst.relative:.3f}, cosine to base {worst.cosine:.3f}"
    if worst.relative > limit:
        return Judgement(Severity.WARN, f"{text}, above {limit:.2f}: the fine-tune moved far from its pre-training",
                         numbers, MAX_DRIFT.name)
    return Judgement(Severity.PASS, f"{text}", numbers, MAX_DRIFT.name)


RULES = (
    Rule("encoder-frozen", "the encoder's weights changed during fine-tuning", "drift", _frozen, (MIN_DRIFT,),
         emits=("encoder_relative_drift", "min_encoder_drift")),
    Rule("drift-too-large", "no encoder layer moved far from the pre-trained weights", "drift", _large,
         (MAX_DRIFT,),
         emits=("layer", "relative_drift", "cosine", "max_layer_drift")),
)
