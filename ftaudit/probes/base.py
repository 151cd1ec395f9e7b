"""The Probe contract: a named measurement that declares what it needs and returns a typed, frozen result."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar

from ftaudit.context import Need
from ftaudit.results import ProbeResult

if TYPE_CHECKING:
    from ftaudit.context import AuditContext


class Probe(abc.ABC):
    """Measures; never judges. Subclasses set `name`, `summary`, `needs` and optionally an `Options` dataclass.

    Options are keyword-only, frozen and validated up front (`Options.validate()` raises UsageError).
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    needs: ClassVar[frozenset[Need]] = frozenset()
    result_type: ClassVar[type[ProbeResult]]
    Options: ClassVar[type | None] = None
    default: ClassVar[bool] = True  # runs when no --probes list is given (opt-in probes set False)

    def __init__(self, options: Any = None) -> None:
        if self.Options is not None:
            options = options if options is not None else self.Options()
            if not isinstance(options, self.Options):
                raise TypeError(f"{self.name} expects {self.Options.__name__}, got {type(options).__name__}")
        self.options = options

    def unavailable(self, ctx: "AuditContext") -> str | None:
        """Why the probe cannot run on this context (None when it can)."""
        for need in self.needs:
            reason = ctx.lacks(need)
            if reason:
                return reason
        return None

    @abc.abstractmethod
    def run(self, ctx: "AuditContext") -> ProbeResult:
        """Measure and return the probe's frozen result."""
