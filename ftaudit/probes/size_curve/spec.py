"""The size curve probe's registry entry: its probe, rules, chart and report section."""

from __future__ import annotations

from ftaudit.probes.size_curve import SizeCurveProbe
from ftaudit.probes.size_curve.chart import charts
from ftaudit.probes.size_curve.rules import RULES
from ftaudit.probes.spec import ProbeSpec

SPEC = ProbeSpec(SizeCurveProbe, rules=RULES, charts=charts, section="section.html.j2")
