"""Command line: args -> AuditConfig -> run_audit -> writers -> ExitCode. Thin on purpose."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ftaudit import __version__
from ftaudit.errors import Interrupted, UsageError
from ftaudit.results import AuditResult, ExitCode, Severity

if TYPE_CHECKING:
    from ftaudit.config import AuditConfig

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
    from ftaudit.demo import DEFAULT_OUT as DEMO_OUT

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
    demo = sub.add_parser("demo", help="fine-tune MiniLM on a generated legal corpus with planted defects and audit "
                                       "it (about 3 minutes on a laptop CPU)",
                          description="Generate a small legal-document corpus with two planted defects (too few "
                                      "training documents, and a header only one class's training documents carry), "
                                      "fine-tune all-MiniLM-L6-v2 on it, audit the result and write the report. "
                                      "Needs: pip install 'ftaudit[demo]'.")
    demo.add_argument("--out", metavar="DIR", default=DEMO_OUT,
                      help=f"output folder for the report and the generated data (default: {DEMO_OUT})")
    demo.add_argument("--overwrite", action="store_true", help="replace an existing report in --out (by default "
                                                              "it is moved aside and kept)")
    demo.add_argument("--quiet", action="store_true", help="print only the verdict line and errors")
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
    from ftaudit.config import load_config

    config = load_config(args.config, overrides_from(args))
    if _nothing_to_audit(config):  # a bare `ftaudit run` shows what ftaudit does
        from ftaudit import demo

        out = config.output.out if "out" in overrides_from(args).get("output", {}) else demo.DEFAULT_OUT
        return demo.run_demo(out=out, overwrite=config.output.overwrite, quiet=config.output.quiet)
    return exit_code(audit_to_folder(config))


def _nothing_to_audit(config: "AuditConfig") -> bool:
    d, m = config.data, config.model
    return not (d.train or d.test or d.validation or m.model or m.base or config.train.fine_tune)


def audit_to_folder(config: "AuditConfig", *,
                    stage_inputs: Callable[[Path], Mapping[str, Path]] | None = None) -> AuditResult:
    """Audit, write result.json, report.html and junit.xml into --out atomically, print the summary.

    `stage_inputs(folder) -> {"train": path, "test": path}` writes input files into the staging folder (they
    land in --out next to the report) and names the data the audit reads; the report names their final place.
    """
    from ftaudit import output
    from ftaudit.audit import run_audit
    from ftaudit.cache import AuditCache
    from ftaudit.report.console import Progress, make_console, render_summary

    cache = AuditCache.for_config(config)
    console = make_console()
    staging = None
    try:
        staging = output.prepare(config.output.out, overwrite=config.output.overwrite)
        for note in staging.notes:
            console.print(note, soft_wrap=True)
        if stage_inputs is not None:
            paths = {k: str(v) for k, v in stage_inputs(staging.folder).items()}
            config = dataclasses.replace(config, data=dataclasses.replace(config.data, **paths))
        with Progress(console, quiet=config.output.quiet) as progress:
            result = run_audit(config, staging, progress, cache=cache)
        result = _relocated(result, str(staging.folder), str(staging.out))
        for name, text in render_all(result).items():
            staging.write_text(name, text)
        moved = staging.commit()
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: --out untouched, finished probes kept for --resume
        if staging is not None:
            staging.discard()
        kept = cache.kept_message()
        raise Interrupted("interrupted; no report was written and --out was left as it was"
                          + (f"; {kept}" if kept else "")) from None
    except BaseException:
        if staging is not None:
            staging.discard()
        raise
    cache.clear()  # the report holds every result now
    if moved:
        console.print(moved, soft_wrap=True)  # one line however long the paths: logs stay greppable
    report = Path(config.output.out) / "report.html"
    if config.output.quiet:
        console.print(result.diagnosis.verdict)
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


def cmd_report(args: argparse.Namespace) -> int:
    from ftaudit.jsonfile import read_json
    from ftaudit.results import SchemaError, from_dict

    path = Path(args.result)
    if path.is_dir():
        path = path / "result.json"
    fix = "pass the result.json written by `ftaudit run`"
    if not path.exists():
        raise UsageError(f"{path} does not exist", fix)
    try:
        data = read_json(path, "result", fix=fix)
    except UsageError as exc:
        raise UsageError(f"{path} is not an ftaudit result ({exc.problem})", fix) from None
    try:
        result = from_dict(data)
    except SchemaError as exc:
        raise UsageError(f"{path} is not an ftaudit result: {exc}", fix + ", or fix that field") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # a dataclass's own check of its values
        raise UsageError(f"{path} is not an ftaudit result ({str(exc).splitlines()[0][:120]})", fix) from None
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


def cmd_demo(args: argparse.Namespace) -> int:
    from ftaudit.demo import run_demo

    return run_demo(out=args.out, overwrite=args.overwrite, quiet=args.quiet)


COMMANDS = {"run": cmd_run, "report": cmd_report, "probes": cmd_probes, "demo": cmd_demo}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code. Ctrl-C and SIGTERM interrupt it once (later ones are held, see signals)."""
    from ftaudit.signals import interrupt_guard

    with interrupt_guard():
        return _main(argv)


def entry() -> None:
    """The `ftaudit` command: main() with the signal guard kept until the process exits (a signal that arrives
    during shutdown, after the report was committed, still exits 130, never 143)."""
    from ftaudit.signals import guard_process

    guard = guard_process()
    code = main()
    sys.exit(guard.exiting(code))


def _main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    strict = "--strict" in argv
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
    except KeyboardInterrupt as exc:
        text = exc.args[0] if isinstance(exc, Interrupted) and exc.args else \
            "interrupted; no report was written and --out was left as it was"
        sys.stderr.write(f"ftaudit: {text}\n")
        return ExitCode.INTERRUPTED
    except Exception as exc:
        if strict:
            raise
        first = (str(exc).splitlines() or [""])[0][:200]
        sys.stderr.write(f"ftaudit: internal error: {type(exc).__name__}: {first}; this is a bug in ftaudit, "
                         "re-run with --strict for the traceback and report it.\n")
        return ExitCode.INTERNAL_ERROR
