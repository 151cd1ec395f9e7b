"""The drift probe's registry entry: its probe, rules, chart and report section."""

from __future__ import annotations

from ftaudit.probes.drift import DriftProbe
from ftaudit.probes.drift.chart import charts
from ftaudit.probes.drift.rules import RULES
from ftaudit.probes.spec import ProbeSpec

SPEC = ProbeSpec(DriftProbe, rules=RULES, charts=charts, section="section.html.j2")
