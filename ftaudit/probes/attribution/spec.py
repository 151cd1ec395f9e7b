"""The attribution probe's registry entry: its probe, rules, chart and report section."""

from __future__ import annotations

from ftaudit.probes.attribution import AttributionProbe
from ftaudit.probes.attribution.chart import charts
from ftaudit.probes.attribution.rules import RULES
from ftaudit.probes.spec import ProbeSpec

SPEC = ProbeSpec(AttributionProbe, rules=RULES, charts=charts, section="section.html.j2")
