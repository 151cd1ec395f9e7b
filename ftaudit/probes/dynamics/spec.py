"""The dynamics probe's registry entry: its probe, rules, chart and report section."""

from __future__ import annotations

from ftaudit.probes.dynamics import DynamicsProbe
from ftaudit.probes.dynamics.chart import charts
from ftaudit.probes.dynamics.rules import RULES
from ftaudit.probes.spec import ProbeSpec

SPEC = ProbeSpec(DynamicsProbe, rules=RULES, charts=charts, section="section.html.j2")
