"""`ftaudit compare` and `ftaudit run --baseline`: read audits, compare, write compare.html/.json, the exit code.

Torch-free: it reads result.json files and renders them, as `ftaudit report` does.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from ftaudit.compare import Comparison, compare
from ftaudit.errors import UsageError
from ftaudit.results import AuditResult, ExitCode

@dataclass(frozen=True)
class LoadedAudit:
    result: AuditResult
    path: str  # the result.json it was read from


def load_audit(path: str | Path, role: str = "") -> LoadedAudit:
    """A result.json, or a report folder holding one; a UsageError (naming the role) for anything else."""
    from ftaudit.app import read_result

    try:
        source, result = read_result(Path(path))
    except UsageError as exc:
        raise UsageError(f"{role} {exc.problem}" if role else exc.problem, exc.fix) from None
    return LoadedAudit(result=result, path=str(source))


def compare_files(comparison: Comparison) -> dict[str, str]:
    from ftaudit.report.compare import comparison_to_json, render_compare_html

    return {"compare.json": comparison_to_json(comparison), "compare.html": render_compare_html(comparison)}


def write_files(out: Path, files: Mapping[str, str]) -> None:
    """Each file written whole (a temporary then a rename), so a reader never sees half of one."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            tmp = out / f".{name}.part"
            tmp.write_text(content, encoding="utf-8")
            os.replace(tmp, out / name)
    except OSError as exc:
        raise UsageError(f"cannot write to {out} ({exc.strerror or exc})", "pass a writable --out folder") from None


def compare_paths(base: str, new: str, *, out: str | None, tolerance: float, fail_on: str,
                  gate: Sequence[str], fmt: str, quiet: bool, verbose: bool = False) -> int:
    """`ftaudit compare BASE NEW`: the comparison on stdout, compare.html/.json in --out; 0 or 1 (2 via UsageError)."""
    from ftaudit.report.compare import comparison_to_json, render_compare_console
    from ftaudit.report.console import make_console

    if tolerance < 0:
        raise UsageError(f"--tolerance must be >= 0, got {tolerance}", "use e.g. 0.01 for one point")
    a, b = load_audit(base, "baseline"), load_audit(new, "candidate")
    comparison = compare(a.result, b.result, base_path=a.path, new_path=b.path, tolerance=tolerance,
                         fail_on=fail_on, gate=gate)
    folder = Path(out) if out else Path(b.path).parent
    write_files(folder, compare_files(comparison))
    if fmt == "json":
        sys.stdout.write(comparison_to_json(comparison))
    elif quiet:
        make_console().print(gate_line(comparison), markup=False)
    else:
        render_compare_console(comparison, make_console(), verbose=verbose)
    if not quiet:
        make_console(stderr=True).print(f"wrote {folder / 'compare.html'} and {folder / 'compare.json'}",
                                        markup=False)
    return ExitCode.OK if comparison.passed else ExitCode.GATE_FAILED


def gate_line(comparison: Comparison) -> str:
    if comparison.passed:
        return "compare: no regression against the baseline"
    return "compare: regressed: " + "; ".join(comparison.regressions)
