"""The leakage probe's registry entry: its probe, rules and report section (no chart)."""

from __future__ import annotations

from ftaudit.probes.leakage import LeakageProbe
from ftaudit.probes.leakage.rules import RULES
from ftaudit.probes.spec import ProbeSpec

SPEC = ProbeSpec(LeakageProbe, rules=RULES, section="section.html.j2")
