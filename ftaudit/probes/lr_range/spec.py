"""The lr range probe's registry entry: its probe, rules, chart and report section."""

from __future__ import annotations

from ftaudit.probes.lr_range import LrRangeProbe
from ftaudit.probes.lr_range.chart import charts
from ftaudit.probes.lr_range.rules import RULES
from ftaudit.probes.spec import ProbeSpec

SPEC = ProbeSpec(LrRangeProbe, rules=RULES, charts=charts, section="section.html.j2")
