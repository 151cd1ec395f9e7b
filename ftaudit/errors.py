"""User-facing errors: one line that names the problem and the fix, exit code 2."""

from __future__ import annotations

MAX_PART = 400  # characters of the problem (and of the fix) shown; a 10 MB label must not become a 10 MB line


def _clip(text: str, limit: int = MAX_PART) -> str:
    text = " ".join(text.split())  # never more than one line, whatever the inputs held
    return text if len(text) <= limit else text[: limit - 1] + "…"


class UsageError(Exception):
    """Bad input from the user (a file, a column, an option); the CLI prints it on one line and exits 2."""

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = _clip(problem).rstrip(". ")
        self.fix = _clip(fix).rstrip(". ")
        super().__init__(self.one_line())

    def one_line(self) -> str:
        return f"{self.problem}; {self.fix}."


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a run, after the staging folder was discarded; `args[0]` says what was kept."""


class NotMainProcess(Exception):
    """Raised in a non-zero rank of a distributed fine-tune once it has trained: rank 0 audits, this one exits 0."""
