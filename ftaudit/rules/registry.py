"""The rules ftaudit applies, as an explicit tuple; plugins add theirs through the `ftaudit.rules` entry point."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points
from typing import Iterable

from ftaudit.probes.attribution import rules as attribution
from ftaudit.probes.balance import rules as balance
from ftaudit.probes.calibration import rules as calibration
from ftaudit.probes.drift import rules as drift
from ftaudit.probes.duplicates import rules as duplicates
from ftaudit.probes.dynamics import rules as dynamics
from ftaudit.probes.gap import rules as gap
from ftaudit.probes.leakage import rules as leakage
from ftaudit.probes.learning_curve import rules as learning_curve
from ftaudit.probes.lr_range import rules as lr_range
from ftaudit.probes.shift import rules as shift
from ftaudit.probes.size_curve import rules as size_curve
from ftaudit.probes.truncation import rules as truncation
from ftaudit.rules.base import Rule, Threshold

DEFAULT_RULES: tuple[Rule, ...] = (
    *gap.RULES,
    *drift.RULES,
    *dynamics.RULES,
    *leakage.RULES,
    *duplicates.RULES,
    *balance.RULES,
    *truncation.RULES,
    *shift.RULES,
    *calibration.RULES,
    *attribution.RULES,
    *learning_curve.RULES,
    *size_curve.RULES,
    *lr_range.RULES,
)


@lru_cache(maxsize=1)
def all_rules() -> tuple[Rule, ...]:
    plugins: list[Rule] = []
    for ep in entry_points(group="ftaudit.rules"):
        loaded = ep.load()
        plugins.extend(loaded if isinstance(loaded, (tuple, list)) else [loaded])
    rules = DEFAULT_RULES + tuple(plugins)
    codes = [r.code for r in rules]
    duplicate = next((c for c in codes if codes.count(c) > 1), None)
    if duplicate:
        raise RuntimeError(f"two rules share the code {duplicate!r}")
    return rules


def threshold_defaults() -> dict[str, Threshold]:
    """Every threshold any installed rule declares, by name (one table: the rules modules)."""
    return thresholds_of(all_rules())


def thresholds_of(rules: Iterable[Rule]) -> dict[str, Threshold]:
    """The thresholds these rules declare, by name; a name declared twice must keep one default."""
    table: dict[str, Threshold] = {}
    for rule in rules:
        for t in rule.thresholds:
            if t.name in table and table[t.name].default != t.default:
                raise RuntimeError(f"threshold {t.name!r} is declared twice with different defaults")
            table[t.name] = t
    return table
