"""The balance probe's registry entry: its probe, rules, chart and report section."""

from __future__ import annotations

from ftaudit.probes.balance import BalanceProbe
from ftaudit.probes.balance.chart import charts
from ftaudit.probes.balance.rules import RULES
from ftaudit.probes.spec import ProbeSpec

SPEC = ProbeSpec(BalanceProbe, rules=RULES, charts=charts, section="section.html.j2")
