"""The probes ftaudit runs, as an explicit tuple; plugins add theirs through the `ftaudit.probes` entry point."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points

from ftaudit.probes.adapter import AdapterProbe
from ftaudit.probes.attribution import AttributionProbe
from ftaudit.probes.balance import BalanceProbe
from ftaudit.probes.base import Probe
from ftaudit.probes.calibration import CalibrationProbe
from ftaudit.probes.drift import DriftProbe
from ftaudit.probes.duplicates import DuplicatesProbe
from ftaudit.probes.dynamics import DynamicsProbe
from ftaudit.probes.gap import GapProbe
from ftaudit.probes.leakage import LeakageProbe
from ftaudit.probes.learning_curve import LearningCurveProbe
from ftaudit.probes.lr_range import LrRangeProbe
from ftaudit.probes.shift import ShiftProbe
from ftaudit.probes.size_curve import SizeCurveProbe
from ftaudit.probes.truncation import TruncationProbe

# Order matters only for display and for the console: cheap probes first.
DEFAULT_PROBES: tuple[type[Probe], ...] = (
    GapProbe,
    DriftProbe,
    AdapterProbe,
    DynamicsProbe,
    LeakageProbe,
    DuplicatesProbe,
    BalanceProbe,
    ShiftProbe,
    TruncationProbe,
    CalibrationProbe,
    AttributionProbe,
    LearningCurveProbe,  # fine-tune mode: several extra fine-tunes, so after the cheap probes
    SizeCurveProbe,
    LrRangeProbe,
)


@lru_cache(maxsize=1)
def all_probes() -> tuple[type[Probe], ...]:
    """The default probes plus those registered by installed plugins (entry-point group `ftaudit.probes`)."""
    plugins = tuple(ep.load() for ep in entry_points(group="ftaudit.probes"))
    return DEFAULT_PROBES + tuple(p for p in plugins if p not in DEFAULT_PROBES)


def probe_names() -> tuple[str, ...]:
    return tuple(p.name for p in all_probes())


def probe_options_types() -> dict[str, type]:
    return {p.name: p.Options for p in all_probes() if p.Options is not None}


def result_kinds() -> dict[str, type]:
    """`kind` -> result dataclass of every installed probe: what `results.from_json(..., kinds=)` decodes with."""
    return {p.result_type.kind: p.result_type for p in all_probes()}
