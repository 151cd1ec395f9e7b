"""The learning curve probe's registry entry: its probe, rules, chart and report section."""

from __future__ import annotations

from ftaudit.probes.learning_curve import LearningCurveProbe
from ftaudit.probes.learning_curve.chart import charts
from ftaudit.probes.learning_curve.rules import RULES
from ftaudit.probes.spec import ProbeSpec

SPEC = ProbeSpec(LearningCurveProbe, rules=RULES, charts=charts, section="section.html.j2")
