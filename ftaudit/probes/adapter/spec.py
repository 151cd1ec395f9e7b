"""The adapter probe's registry entry: its probe, rules, chart and report section."""

from __future__ import annotations

from ftaudit.probes.adapter import AdapterProbe
from ftaudit.probes.adapter.chart import charts
from ftaudit.probes.adapter.rules import RULES
from ftaudit.probes.spec import ProbeSpec

SPEC = ProbeSpec(AdapterProbe, rules=RULES, charts=charts, section="section.html.j2")
