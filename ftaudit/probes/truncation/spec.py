"""The truncation probe's registry entry: its probe, rules, chart and report section."""

from __future__ import annotations

from ftaudit.probes.truncation import TruncationProbe
from ftaudit.probes.truncation.chart import charts
from ftaudit.probes.truncation.rules import RULES
from ftaudit.probes.spec import ProbeSpec

SPEC = ProbeSpec(TruncationProbe, rules=RULES, charts=charts, section="section.html.j2")
