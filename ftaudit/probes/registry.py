"""The one registry: a ProbeSpec per probe (probe, rules, chart, section), as an explicit tuple plus installed plugins.

A plugin registers a ProbeSpec (or a bare Probe class) under the `ftaudit.probes` entry point; rules for a probe that
is already registered (a stricter gap rule, say) may come under `ftaudit.rules`. Everything else reads from here:
the plan (probes, options, thresholds, rules), the JSON decoder (result kinds) and the report (charts, sections).
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points
from typing import Iterable

from ftaudit.probes.adapter import spec as adapter
from ftaudit.probes.attribution import spec as attribution
from ftaudit.probes.balance import spec as balance
from ftaudit.probes.base import Probe
from ftaudit.probes.calibration import spec as calibration
from ftaudit.probes.drift import spec as drift
from ftaudit.probes.duplicates import spec as duplicates
from ftaudit.probes.dynamics import spec as dynamics
from ftaudit.probes.gap import spec as gap
from ftaudit.probes.leakage import spec as leakage
from ftaudit.probes.learning_curve import spec as learning_curve
from ftaudit.probes.lr_range import spec as lr_range
from ftaudit.probes.shift import spec as shift
from ftaudit.probes.size_curve import spec as size_curve
from ftaudit.probes.spec import ProbeSpec
from ftaudit.probes.truncation import spec as truncation
from ftaudit.rules.base import Rule, Threshold

# Order matters only for display and for the console: cheap probes first.
DEFAULT_SPECS: tuple[ProbeSpec, ...] = (
    gap.SPEC,
    drift.SPEC,
    adapter.SPEC,
    dynamics.SPEC,
    leakage.SPEC,
    duplicates.SPEC,
    balance.SPEC,
    shift.SPEC,
    truncation.SPEC,
    calibration.SPEC,
    attribution.SPEC,
    learning_curve.SPEC,  # fine-tune mode: several extra fine-tunes, so after the cheap probes
    size_curve.SPEC,
    lr_range.SPEC,
)

# Rules judge in registry order, but truncation's before shift's: the order the findings of result.json have had
# since the data checks' rules were one module; kept so that every audit's findings keep their order.
JUDGED_BEFORE = {"truncation": "shift"}  # probe -> the probe whose rules its rules come before


def as_spec(loaded: object) -> ProbeSpec:
    """What a `ftaudit.probes` entry point loads: a ProbeSpec, or a Probe class (no rules, chart or section)."""
    if isinstance(loaded, ProbeSpec):
        return loaded
    if isinstance(loaded, type) and issubclass(loaded, Probe):
        return ProbeSpec(loaded)
    raise TypeError(f"a ftaudit.probes entry point must load a ProbeSpec or a Probe class, got {loaded!r}")


@lru_cache(maxsize=1)
def all_specs() -> tuple[ProbeSpec, ...]:
    """The default entries plus those of installed plugins (entry-point group `ftaudit.probes`)."""
    specs = list(DEFAULT_SPECS)
    for ep in entry_points(group="ftaudit.probes"):
        spec = as_spec(ep.load())
        if all(s.probe is not spec.probe for s in specs):
            specs.append(spec)
    return tuple(specs)


def all_probes() -> tuple[type[Probe], ...]:
    return tuple(s.probe for s in all_specs())


def probe_names() -> tuple[str, ...]:
    return tuple(p.name for p in all_probes())


def probe_options_types() -> dict[str, type]:
    return {p.name: p.Options for p in all_probes() if p.Options is not None}


def result_kinds() -> dict[str, type]:
    """`kind` -> result dataclass of every installed probe: what `results.from_json(..., kinds=)` decodes with."""
    return {p.result_type.kind: p.result_type for p in all_probes()}


def spec_of_kind(kind: str) -> ProbeSpec | None:
    """The entry whose probe's result has this `kind` (what the report draws and shows a result with)."""
    return next((s for s in all_specs() if s.kind == kind), None)


def judging_order(specs: Iterable[ProbeSpec]) -> list[ProbeSpec]:
    order = list(specs)
    for early, late in JUDGED_BEFORE.items():
        names = [s.name for s in order]
        if early in names and late in names and names.index(early) > names.index(late):
            order.insert(names.index(late), order.pop(names.index(early)))
    return order


@lru_cache(maxsize=1)
def all_rules() -> tuple[Rule, ...]:
    """Every entry's rules in judging order, then those of `ftaudit.rules` plugins; codes are unique."""
    plugins: list[Rule] = []
    for ep in entry_points(group="ftaudit.rules"):
        loaded = ep.load()
        plugins.extend(loaded if isinstance(loaded, (tuple, list)) else [loaded])
    rules = tuple(r for s in judging_order(all_specs()) for r in s.rules) + tuple(plugins)
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
