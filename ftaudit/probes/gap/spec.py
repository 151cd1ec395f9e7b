"""The gap probe's registry entry: its probe, rules, chart and report section."""

from __future__ import annotations

from ftaudit.probes.gap import GapProbe
from ftaudit.probes.gap.chart import charts
from ftaudit.probes.gap.rules import RULES
from ftaudit.probes.spec import ProbeSpec

SPEC = ProbeSpec(GapProbe, rules=RULES, charts=charts, section="section.html.j2")
