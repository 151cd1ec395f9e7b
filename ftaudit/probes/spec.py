"""ProbeSpec: one probe's registry entry, with everything the audit and the report need from its folder."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping

from ftaudit.probes.base import Probe
from ftaudit.rules.base import Rule

Charts = Callable[[Any], Mapping[str, str]]  # the probe's result -> {chart name: inline <svg>}


@dataclass(frozen=True)
class ProbeSpec:
    """What measures (`probe`), what judges its result (`rules`), what draws it (`charts`) and what shows it (`section`).

    `section` names a Jinja template in the package that defines the probe class (its folder), e.g. "section.html.j2";
    the report includes it for an `ok` outcome, with `s.outcome.result` and `s.charts` in scope.
    """

    probe: type[Probe]
    rules: tuple[Rule, ...] = ()
    charts: Charts | None = None
    section: str | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.probe, type) and issubclass(self.probe, Probe)):
            raise TypeError(f"ProbeSpec.probe must be a Probe subclass, got {self.probe!r}")
        if not isinstance(self.rules, tuple) or not all(isinstance(r, Rule) for r in self.rules):
            raise TypeError(f"{self.probe.name}: ProbeSpec.rules must be a tuple of Rule")
        strays = [r.code for r in self.rules if r.probe != self.probe.name]
        if strays:
            raise ValueError(f"{self.probe.name}: rules {', '.join(strays)} judge another probe's result")

    @property
    def name(self) -> str:
        return self.probe.name

    @property
    def kind(self) -> str:
        return self.probe.result_type.kind

    def section_source(self) -> str | None:
        """The section template's text (None when the probe has no section)."""
        if self.section is None:
            return None
        module = sys.modules[self.probe.__module__]
        package = module.__name__ if hasattr(module, "__path__") else (module.__spec__.parent if module.__spec__ else "")
        folder = resources.files(package) if package else Path(module.__file__ or ".").parent
        return (folder / self.section).read_text(encoding="utf-8")
