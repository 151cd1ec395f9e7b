"""The calibration probe's registry entry: its probe, rules, chart and report section."""

from __future__ import annotations

from ftaudit.probes.calibration import CalibrationProbe
from ftaudit.probes.calibration.chart import charts
from ftaudit.probes.calibration.rules import RULES
from ftaudit.probes.spec import ProbeSpec

SPEC = ProbeSpec(CalibrationProbe, rules=RULES, charts=charts, section="section.html.j2")
