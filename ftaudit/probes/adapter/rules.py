"""Rules over a LoRA adapter: rank it was given but does not use, and a change carried by one module."""

from __future__ import annotations

import math
from typing import Callable

from ftaudit.probes.adapter import AdapterResult
from ftaudit.results import Severity
from ftaudit.rules.base import Judgement, Rule, Threshold

MIN_USAGE = Threshold("min_adapter_rank_usage", 0.25,
                      "median effective rank of the adapter's updates over r below this: the adapter uses far less "
                      "rank than it was given", minimum=0.0)
MIN_RANK = Threshold("min_adapter_rank_judged", 4, "adapters of a smaller r are not judged on rank use", minimum=1)
MAX_SHARE = Threshold("max_adapter_module_share", 0.5,
                      "one adapted module's share of the whole update (||ΔW||² over the sum) above this: it carries "
                      "most of the change", minimum=0.0)
MIN_MODULES = Threshold("min_adapter_modules_judged", 4, "adapters on fewer modules are not judged on spread",
                        minimum=2)


def _rank(r: AdapterResult, threshold: Callable[[str], float]) -> Judgement | None:
    if not r.modules or math.isnan(r.median_rank_usage) or r.rank < threshold(MIN_RANK.name) or r.relative == 0:
        return None
    limit = threshold(MIN_USAGE.name)
    ranks = sorted(m.effective_rank for m in r.modules)
    r90 = sorted(m.rank90 for m in r.modules)
    median_rank = ranks[len(ranks) // 2]
    numbers = {"median_rank_usage": r.median_rank_usage, "median_effective_rank": median_rank, "rank": r.rank,
               "median_rank90": r90[len(r90) // 2], "modules": len(r.modules), "min_adapter_rank_usage": limit}
    text = (f"the adapter's updates have a median effective rank of {median_rank:.1f} of r = {r.rank} "
            f"({r.median_rank_usage:.0%}; 90% of each update lies in a median of {r90[len(r90) // 2]} directions, "
            f"over {len(r.modules)} modules)")
    if r.median_rank_usage < limit:
        return Judgement(Severity.WARN, f"{text}: it uses far less rank than it was given; a smaller r would likely "
                                        f"do as well for less memory", numbers, MIN_USAGE.name)
    return Judgement(Severity.PASS, text, numbers, MIN_USAGE.name)


def _spread(r: AdapterResult, threshold: Callable[[str], float]) -> Judgement | None:
    if len(r.modules) < threshold(MIN_MODULES.name) or math.isnan(r.top_share) or r.relative == 0:
        return None
    limit = threshold(MAX_SHARE.name)
    even = 1 / len(r.modules)
    numbers = {"module": r.top_module, "share": r.top_share, "even_share": even, "modules": len(r.modules),
               "max_adapter_module_share": limit}
    text = f"{r.top_module} carries {r.top_share:.0%} of the adapter's update (an even spread is {even:.0%} each)"
    if r.top_share > limit:
        return Judgement(Severity.WARN, f"{text}: one module holds most of the change, so the other "
                                        f"{len(r.modules) - 1} adapt little", numbers, MAX_SHARE.name)
    return Judgement(Severity.PASS, text, numbers, MAX_SHARE.name)


RULES = (
    Rule("adapter-rank-underused", "the LoRA adapter uses the rank it was given", "adapter", _rank,
         (MIN_USAGE, MIN_RANK),
         emits=("median_rank_usage", "median_effective_rank", "rank", "median_rank90", "modules",
                "min_adapter_rank_usage")),
    Rule("adapter-update-concentrated", "the LoRA adapter's change is spread over its modules", "adapter", _spread,
         (MAX_SHARE, MIN_MODULES),
         emits=("module", "share", "even_share", "modules", "max_adapter_module_share")),
)
