"""User-facing errors: one line that names the problem and the fix, exit code 2."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user (a file, a column, an option); the CLI prints it on one line and exits 2."""

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem.rstrip(". ")
        self.fix = fix.rstrip(". ")
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"{self.problem}; {self.fix}."
        return " ".join(text.split())  # never more than one line, whatever the inputs held
