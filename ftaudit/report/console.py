"""Console output with rich: progress for long loops and a summary of under 25 lines."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

from ftaudit.results import AuditResult, Severity

MAX_CAUSES = 3
MAX_FINDINGS = 8
STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "error": "bold magenta", "skip": "dim"}


def make_console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 120  # CI logs: wide enough that findings stay on one line
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)


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
            self.owner.console.print(f"  {self.name}: {time.perf_counter() - self.start:.1f}s")


class Progress:
    """Live bars on a terminal; a line per finished task in CI logs; nothing under --quiet."""

    def __init__(self, console: Console, *, quiet: bool) -> None:
        self.console = console
        interactive = console.is_terminal and not os.environ.get("CI")
        self.plain = not quiet and not interactive
        self.rich = None
        if not quiet and interactive:
            self.rich = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=console, transient=True)

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
            self.console.print(text)


def render_summary(result: AuditResult, console: Console, *, out: str | None = None) -> None:
    """Verdict, root causes, the checks that did not pass and the gate: at most 24 lines at 80 columns or more.

    Only the verdict wraps; every other line is cut to the console width with an ellipsis.
    """
    gate = result.gate
    colour = "green" if gate.passed else "red"
    console.print(f"[bold]ftaudit[/] {result.run.mode} audit of [bold]{_esc(result.run.model)}[/] "
                  f"in {result.run.seconds:.1f}s on {result.run.device}", no_wrap=True, overflow="ellipsis")
    console.print(f"[bold {colour}]{_esc(result.diagnosis.verdict)}[/]")
    causes = [c for c in result.diagnosis.root_causes if c.code != "healthy"]
    for rank, cause in enumerate(causes[:MAX_CAUSES], 1):
        fix = f" — {cause.remedies[0].action}" if cause.remedies else ""
        console.print(f"  {rank}. [bold]{cause.code}[/] ({cause.confidence:.2f}){_esc(fix)}", no_wrap=True,
                      overflow="ellipsis")
    if len(causes) > MAX_CAUSES:
        console.print(f"  … {len(causes) - MAX_CAUSES} more root cause(s) in the report", no_wrap=True)
    if result.diagnosis.also_noticed:
        noticed = ", ".join(n.code for n in result.diagnosis.also_noticed)
        console.print(f"  also noticed, without a measured cost: {_esc(noticed)}", no_wrap=True, overflow="ellipsis")
    shown = sorted((f for f in result.findings if f.severity in (Severity.WARN, Severity.FAIL, Severity.ERROR)),
                   key=lambda f: -f.severity.rank)
    if shown:
        width = max(len(f.code) for f in shown[:MAX_FINDINGS])
        for f in shown[:MAX_FINDINGS]:
            sev = f.severity.value
            console.print(f"  [{STYLE[sev]}]{sev:<5}[/] {f.code:<{width}}  {_esc(f.message)}", no_wrap=True,
                          overflow="ellipsis")
        if len(shown) > MAX_FINDINGS:
            console.print(f"  … {len(shown) - MAX_FINDINGS} more check(s) did not pass; see the report",
                          no_wrap=True)
    counts = {s: sum(f.severity is s for f in result.findings) for s in Severity}
    tally = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    failing = f" ({', '.join(gate.failing)})" if gate.failing else ""
    console.print(f"checks: {tally}; gate --fail-on {gate.fail_on}: "
                  f"[{colour}]{'passed' if gate.passed else 'FAILED'}[/]{_esc(failing)}", no_wrap=True,
                  overflow="ellipsis")
    if out:
        console.print(f"report: {out}", no_wrap=True, overflow="ellipsis", soft_wrap=True)


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(str(text))


def print_error(message: str) -> None:
    sys.stderr.write(f"ftaudit: error: {message}\n")
