"""The application: audit into a folder (staging, commit, interrupts), re-render, and map outcomes to exit codes.

The one place that turns what happened into an `ExitCode`; `cli.py` parses arguments and `demo.py` plans the
demo, and both call down into this module.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ftaudit.errors import Interrupted, NotMainProcess, UsageError
from ftaudit.results import AuditResult, ExitCode, Severity

if TYPE_CHECKING:
    from ftaudit.pipeline import AuditPlan
    from ftaudit.config import AuditConfig

INTERRUPTED = "interrupted; no report was written and --out was left as it was"


def render_all(result: AuditResult) -> dict[str, str]:
    """Every file of a report folder, rendered from the result alone."""
    from ftaudit.report.html import render_html
    from ftaudit.report.junit import render_junit
    from ftaudit.results import to_json

    return {"result.json": to_json(result), "report.html": render_html(result), "junit.xml": render_junit(result)}


def exit_code(result: AuditResult, *, gate: bool = True) -> ExitCode:
    """3 when a probe or rule crashed; else 1 when the gate failed (`gate=False`: the demo, which fails on purpose)."""
    if any(f.severity is Severity.ERROR for f in result.findings):
        return ExitCode.INTERNAL_ERROR
    if gate and not result.gate.passed:
        return ExitCode.GATE_FAILED
    return ExitCode.OK


def audit_to_folder(config: "AuditConfig", *, stage_inputs: Callable[[Path], Mapping[str, Path]] | None = None,
                    echo: bool = True) -> AuditResult:
    """Audit, write result.json, report.html and junit.xml into --out atomically, print the summary.

    `stage_inputs(folder) -> {"train": path, "test": path}` writes input files into the staging folder (they
    land in --out next to the report) and names the data the audit reads; the report names their final place.
    `echo=False` (the Python API) prints nothing but the note that an earlier report was moved aside.
    """
    from ftaudit import output
    from ftaudit.pipeline import plan, run_audit
    from ftaudit.cache import AuditCache
    from ftaudit.report.console import Progress, make_console, render_summary

    the_plan = plan(config)  # names, thresholds and probe options are checked before anything is written
    cache = AuditCache.for_config(config)
    console = make_console()
    staging = None
    try:
        staging = output.prepare(config.output.out, overwrite=config.output.overwrite)
        if stage_inputs is not None:
            paths = {k: str(v) for k, v in stage_inputs(staging.folder).items()}
            config = dataclasses.replace(config, data=dataclasses.replace(config.data, **paths))
            the_plan = dataclasses.replace(the_plan, config=config)
        with Progress(console, quiet=config.output.quiet or not echo) as progress:
            result = run_audit(the_plan, staging, progress, cache=cache)
        result = _relocated(result, str(staging.folder), str(staging.out))
        for name, text in render_all(result).items():
            staging.write_text(name, text)
        moved = staging.commit()
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: --out untouched, finished probes kept for --resume
        if staging is not None:
            staging.discard()
        kept = cache.kept_message()
        raise Interrupted(INTERRUPTED + (f"; {kept}" if kept else "")) from None
    except BaseException:
        if staging is not None:
            staging.discard()
        raise
    cache.clear()  # the report holds every result now
    if moved and echo:  # a user's earlier report was moved aside: always said
        console.print(moved, markup=False, highlight=False)
    elif moved:
        sys.stderr.write(f"ftaudit: {moved}\n")
    if not echo:
        return result
    report = Path(config.output.out) / "report.html"
    if config.output.quiet:
        console.print(result.diagnosis.verdict, highlight=False, markup=False)
    else:
        render_summary(result, console, out=str(report))
    return result


def _relocated(result: AuditResult, staged: str, final: str) -> AuditResult:
    """The result with paths inside the staging folder renamed to where they are after the commit."""

    def move(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(staged):
            return final + value[len(staged):]
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        return value

    run = result.run
    run = dataclasses.replace(run, train=move(run.train), test=move(run.test), model=move(run.model),
                              config=move(run.config))
    return dataclasses.replace(result, run=run)


def read_result(path: Path) -> tuple[Path, AuditResult]:
    """The result.json at `path` (a file or a report folder), decoded with the installed probes' result types."""
    from ftaudit.probes.registry import result_kinds
    from ftaudit.results import from_json

    if path.is_dir():
        path = path / "result.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist", "pass the result.json written by `ftaudit run`") from None
    except (UnicodeDecodeError, IsADirectoryError, PermissionError) as exc:
        raise UsageError(f"{path} cannot be read ({exc})", "pass the result.json written by `ftaudit run`") from None
    try:
        return path, from_json(text, kinds=result_kinds())
    except UsageError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise UsageError(f"{path} is not an ftaudit result ({str(exc).splitlines()[0][:120]})",
                         "pass the result.json written by `ftaudit run`") from None


def rerender(result_path: Path, out: Path | None) -> tuple[Path, AuditResult]:
    """Write report.html and junit.xml for the result at `result_path` into `out` (default: its folder)."""
    path, result = read_result(result_path)
    out = out or path.parent
    files = render_all(result)
    del files["result.json"]
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            tmp = out / f".{name}.part"
            tmp.write_text(content, encoding="utf-8")
            tmp.replace(out / name)
    except OSError as exc:
        raise UsageError(f"cannot write to {out} ({exc.strerror or exc})", "pass a writable --out folder") from None
    return out, result


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_command(command: Callable[[], int], *, strict: bool = False) -> int:
    """Run one command with SIGTERM as Ctrl-C, and map what it raised to an exit code and one line on stderr."""
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt) if main_thread else None
    try:
        return int(command())
    except UsageError as exc:
        sys.stderr.write(f"ftaudit: error: {exc.one_line()}\n")
        return ExitCode.USAGE_ERROR
    except NotMainProcess:
        return ExitCode.OK
    except KeyboardInterrupt as exc:
        text = exc.args[0] if isinstance(exc, Interrupted) and exc.args else INTERRUPTED
        sys.stderr.write(f"ftaudit: {text}\n")
        return ExitCode.INTERRUPTED
    except Exception as exc:
        if strict:
            raise
        first = (str(exc).splitlines() or [""])[0][:200]
        sys.stderr.write(f"ftaudit: internal error: {type(exc).__name__}: {first}; this is a bug in ftaudit, "
                         "re-run with --strict for the traceback and report it.\n")
        return ExitCode.INTERNAL_ERROR
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
