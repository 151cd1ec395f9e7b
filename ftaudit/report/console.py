"""Console output with rich: progress for long loops and a summary of under 25 lines."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn
from rich.text import Text

from ftaudit.results import AuditResult, Severity

MAX_CAUSES = 3
MAX_FINDINGS = 8
UNWRAPPED_WIDTH = 100_000  # not a terminal: wide enough that no line is wrapped or cut
STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "error": "bold magenta", "skip": "dim"}


def make_console(stderr: bool = False) -> Console:
    """Rich console on stdout (or stderr); piped or in a CI log, lines are never wrapped nor cut.

    It never parses markup or emoji codes: a string printed is shown as it is (a label, a path or a text may hold
    "[bold]" or ":smile:"); styled lines are built as `Text` from (string, style) pieces (`styled`).
    """
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, highlight=False, soft_wrap=False, markup=False, emoji=False)
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=UNWRAPPED_WIDTH, markup=False, emoji=False)


def styled(*pieces: str | tuple[str, str]) -> Text:
    """One line from plain strings and (string, style) pairs; no piece is ever read as markup."""
    return Text.assemble(*pieces)


class Task:
    """One progress bar; `advance(n)` and `done()`."""

    def __init__(self, owner: "Progress", name: str, total: int | None) -> None:
        self.owner, self.name, self.total = owner, name, total
        self.start = time.perf_counter()
        self.id = owner.rich.add_task(name, total=total) if owner.rich else None

    def advance(self, n: int = 1) -> None:
        if self.id is not None:
            self.owner.rich.advance(self.id, n)

    def done(self) -> None:
        if self.id is not None:
            self.owner.rich.remove_task(self.id)
        elif self.owner.plain:
            self.owner.console.print(Text(f"  {self.name}: {time.perf_counter() - self.start:.1f}s"))


class Progress:
    """Live bars on a terminal; a line per finished task in CI logs; nothing under --quiet."""

    def __init__(self, console: Console, *, quiet: bool) -> None:
        self.console = console
        interactive = console.is_terminal and not os.environ.get("CI")
        self.plain = not quiet and not interactive
        self.rich = None
        if not quiet and interactive:
            self.rich = RichProgress(TextColumn("{task.description}", markup=False), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True)

    def __enter__(self) -> "Progress":
        if self.rich:
            self.rich.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.rich:
            self.rich.stop()

    def task(self, name: str, total: int | None = None) -> Task:
        return Task(self, name, total)

    def say(self, text: str) -> None:
        if self.rich or self.plain:
            self.console.print(Text(text))


def render_summary(result: AuditResult, console: Console, *, out: str | None = None, verbose: bool = False) -> None:
    """Verdict, root causes, the checks that did not pass and the gate: at most 24 lines at 80 columns or more.

    Only the verdict wraps; every other line is cut to the console width with an ellipsis. `verbose` lists every
    check, passes and skips included.
    """
    gate = result.gate
    colour = "green" if gate.passed else "red"
    line = {"no_wrap": True, "overflow": "ellipsis"}
    console.print(styled(("ftaudit", "bold"), f" {result.run.mode} audit of ", (result.run.model, "bold"),
                         f" in {result.run.seconds:.1f}s on {result.run.device}"), **line)
    console.print(styled((result.diagnosis.verdict, f"bold {colour}")))
    causes = [c for c in result.diagnosis.root_causes if c.code != "healthy"]
    for rank, cause in enumerate(causes[:MAX_CAUSES], 1):
        fix = f" — {cause.remedies[0].action}" if cause.remedies else ""
        console.print(styled(f"  {rank}. ", (cause.code, "bold"), f" ({cause.confidence:.2f}){fix}"), **line)
    if len(causes) > MAX_CAUSES:
        console.print(Text(f"  … {len(causes) - MAX_CAUSES} more root cause(s) in the report"), no_wrap=True)
    if result.diagnosis.also_noticed:
        noticed = ", ".join(n.code for n in result.diagnosis.also_noticed)
        console.print(Text(f"  also noticed, without a measured cost: {noticed}"), **line)
    listed = (Severity.WARN, Severity.FAIL, Severity.ERROR) + ((Severity.PASS, Severity.SKIP) if verbose else ())
    shown = sorted((f for f in result.findings if f.severity in listed), key=lambda f: -f.severity.rank)
    limit = len(shown) if verbose else MAX_FINDINGS
    if shown:
        width = max(len(f.code) for f in shown[:limit])
        for f in shown[:limit]:
            sev = f.severity.value
            console.print(styled("  ", (f"{sev:<5}", STYLE[sev]), f" {f.code:<{width}}  {f.message}"), **line)
        if len(shown) > limit:
            console.print(Text(f"  … {len(shown) - limit} more check(s) did not pass; see the report"),
                          no_wrap=True)
    counts = {s: sum(f.severity is s for f in result.findings) for s in Severity}
    tally = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    failing = f" ({', '.join(gate.failing)})" if gate.failing else ""
    console.print(styled(f"checks: {tally}; gate --fail-on {gate.fail_on}: ",
                         ("passed" if gate.passed else "FAILED", colour), failing), **line)
    if out:
        console.print(Text(f"report: {out}"), no_wrap=True, overflow="ellipsis", soft_wrap=True)


def print_error(message: str) -> None:
    sys.stderr.write(f"ftaudit: error: {message}\n")
