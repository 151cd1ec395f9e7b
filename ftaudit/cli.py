"""Command line: args -> AuditConfig -> run_audit -> writers -> ExitCode. Thin on purpose."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import typing
from pathlib import Path
from typing import Any, Sequence

from ftaudit import __version__
from ftaudit.errors import UsageError
from ftaudit.results import AuditResult, ExitCode, Severity

EPILOG = """exit codes: 0 every gate passed, 1 a gate failed (see --fail-on), 2 bad input or usage (nothing was
written), 3 internal error or a probe crashed, 130 interrupted.
Options can also come from ftaudit.toml or [tool.ftaudit] in pyproject.toml (tables [data], [model], [train],
[run], [output], [thresholds], [probes.NAME]); flags override the file."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:  # one line, exit 2, like every other usage error
        raise UsageError(message, f"see `{self.prog} --help`")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _arg_type(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType")):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _arg_type(inner[0])
    if tp in (int, float):
        return tp
    return str


def _add_field(group: Any, f: dataclasses.Field, tp: Any, dest: str, flag: str) -> None:
    meta = f.metadata
    default = f.default
    shown = ",".join(default) if isinstance(default, tuple) else default
    help_text = f"{meta.get('help', '')} (default: {'none' if shown in (None, '', ()) else shown})"
    help_text = help_text.replace("%", "%%")
    if tp is bool:
        group.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                           help=help_text)
        return
    group.add_argument(flag, dest=dest, type=_arg_type(tp), default=argparse.SUPPRESS, help=help_text,
                       choices=meta.get("choices"), metavar=meta.get("metavar") or f.name.upper())


def add_run_options(parser: argparse.ArgumentParser) -> None:
    from ftaudit.config import SECTIONS
    from ftaudit.probes.registry import all_probes
    from ftaudit.rules.registry import threshold_defaults

    parser.add_argument("--config", metavar="FILE", help="read options from this TOML file (default: ./ftaudit.toml, "
                                                         "else [tool.ftaudit] in ./pyproject.toml)")
    titles = {"data": "data", "model": "model", "train": "fine-tuning", "run": "run", "output": "output and gates"}
    for section, cls in SECTIONS.items():
        group = parser.add_argument_group(titles[section])
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            _add_field(group, f, hints[f.name], f"{section}.{f.name}", f.metadata.get("flag") or _flag(f.name))
    for probe in all_probes():
        if probe.Options is None:
            continue
        group = parser.add_argument_group(f"probe {probe.name}")
        hints = typing.get_type_hints(probe.Options)
        for f in dataclasses.fields(probe.Options):
            flag = f.metadata.get("flag") or _flag(f"{probe.name}_{f.name}")
            _add_field(group, f, hints[f.name], f"probes.{probe.name}.{f.name}", flag)
    group = parser.add_argument_group("thresholds (the rules' limits; also [thresholds] in the config file)")
    for t in sorted(threshold_defaults().values(), key=lambda t: t.name):
        group.add_argument(_flag(t.name), dest=f"thresholds.{t.name}", type=float, default=argparse.SUPPRESS,
                           metavar="X", help=f"{t.help} (default: {t.default:g})".replace("%", "%%"))


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """Nested mapping of only the options given on the command line."""
    out: dict[str, Any] = {}
    for dest, value in vars(args).items():
        if "." not in dest:
            continue
        node = out
        *path, leaf = dest.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ftaudit", description="Why did my fine-tune fail? Audits a BERT-style text classifier.",
                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ftaudit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    run = sub.add_parser("run", help="audit a fine-tune (or fine-tune and audit) and write the report",
                         description="Audit a fine-tuned classifier, or fine-tune one with --fine-tune, and write "
                                     "result.json, report.html and junit.xml to --out.",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(run)
    report = sub.add_parser("report", help="re-render report.html and junit.xml from a result.json (no torch needed)")
    report.add_argument("result", metavar="RESULT_JSON", help="a result.json written by `ftaudit run`")
    report.add_argument("--out", metavar="DIR", help="folder to write into (default: the folder of RESULT_JSON)")
    report.add_argument("--quiet", action="store_true", help="print nothing but errors")
    sub.add_parser("probes", help="list the probes and rules, with every rule's code and default threshold")
    return parser


# --------------------------------------------------------------------------- commands


def render_all(result: AuditResult) -> dict[str, str]:
    from ftaudit.report.html import render_html
    from ftaudit.report.junit import render_junit
    from ftaudit.results import to_json

    return {"result.json": to_json(result), "report.html": render_html(result), "junit.xml": render_junit(result)}


def exit_code(result: AuditResult) -> ExitCode:
    if any(f.severity is Severity.ERROR for f in result.findings):
        return ExitCode.INTERNAL_ERROR
    return ExitCode.OK if result.gate.passed else ExitCode.GATE_FAILED


def cmd_run(args: argparse.Namespace) -> int:
    from ftaudit import output
    from ftaudit.audit import run_audit
    from ftaudit.config import load_config
    from ftaudit.report.console import Progress, make_console, render_summary

    config = load_config(args.config, overrides_from(args))
    staging = output.prepare(config.output.out, overwrite=config.output.overwrite)
    console = make_console()
    try:
        with Progress(console, quiet=config.output.quiet) as progress:
            result = run_audit(config, staging, progress)
        for name, text in render_all(result).items():
            staging.write_text(name, text)
        moved = staging.commit()
    except BaseException:
        staging.discard()
        raise
    if moved:
        console.print(moved)
    report = Path(config.output.out) / "report.html"
    if config.output.quiet:
        console.print(result.diagnosis.verdict, highlight=False, markup=False)
    else:
        render_summary(result, console, out=str(report))
    return exit_code(result)


def cmd_report(args: argparse.Namespace) -> int:
    from ftaudit.results import from_json

    path = Path(args.result)
    if path.is_dir():
        path = path / "result.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist", "pass the result.json written by `ftaudit run`") from None
    except (UnicodeDecodeError, IsADirectoryError, PermissionError) as exc:
        raise UsageError(f"{path} cannot be read ({exc})", "pass the result.json written by `ftaudit run`") from None
    try:
        result = from_json(text)
    except UsageError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path} is not an ftaudit result ({str(exc).splitlines()[0][:120]})",
                         "pass the result.json written by `ftaudit run`") from None
    out = Path(args.out) if args.out else path.parent
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
    if not args.quiet:
        print(f"wrote {out / 'report.html'} and {out / 'junit.xml'} from {path} (earlier copies replaced)")
    return exit_code(result)


def cmd_probes(args: argparse.Namespace) -> int:
    from ftaudit.probes.registry import all_probes
    from ftaudit.rules.registry import all_rules

    for probe in all_probes():
        flag = "" if probe.default else "  (opt-in)"
        print(f"{probe.name}: {probe.summary}{flag}")
        for rule in all_rules():
            if rule.probe == probe.name:
                limits = ", ".join(f"{t.name}={t.default:g}" for t in rule.thresholds)
                print(f"    {rule.code}: {rule.summary}" + (f"  [{limits}]" if limits else ""))
    return 0


COMMANDS = {"run": cmd_run, "report": cmd_report, "probes": cmd_probes}


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    strict = "--strict" in argv
    previous = signal.signal(signal.SIGTERM, _raise_interrupt) if threading_main() else None
    try:
        parser = build_parser()
        if not argv:
            parser.print_help()
            return ExitCode.USAGE_ERROR
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return ExitCode.USAGE_ERROR
        return int(COMMANDS[args.command](args))
    except UsageError as exc:
        sys.stderr.write(f"ftaudit: error: {exc.one_line()}\n")
        return ExitCode.USAGE_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("ftaudit: interrupted; no report was written and --out was left as it was\n")
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


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
