"""The shift probe's registry entry: its probe, rules, chart and report section."""

from __future__ import annotations

from ftaudit.probes.shift import ShiftProbe
from ftaudit.probes.shift.chart import charts
from ftaudit.probes.shift.rules import RULES
from ftaudit.probes.spec import ProbeSpec

SPEC = ProbeSpec(ShiftProbe, rules=RULES, charts=charts, section="section.html.j2")
