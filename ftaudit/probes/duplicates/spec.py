"""The duplicates probe's registry entry: its probe, rules and report section (no chart)."""

from __future__ import annotations

from ftaudit.probes.duplicates import DuplicatesProbe
from ftaudit.probes.duplicates.rules import RULES
from ftaudit.probes.spec import ProbeSpec

SPEC = ProbeSpec(DuplicatesProbe, rules=RULES, section="section.html.j2")
