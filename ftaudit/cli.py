"""Command line: args -> AuditConfig -> run_audit -> writers -> ExitCode. Thin on purpose."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ftaudit import __version__
from ftaudit.config import FORMAT_HELP, GATE_METRICS, QUIET_HELP, VERBOSE_HELP
from ftaudit.errors import Interrupted, UsageError
from ftaudit.results import AuditResult, ExitCode, Severity

if TYPE_CHECKING:
    from ftaudit.config import AuditConfig

EPILOG = """exit codes: 0 every gate passed, 1 a gate failed (see --fail-on), 2 bad input or usage (nothing was
written), 3 internal error or a probe crashed, 130 interrupted.
Options can also come from ftaudit.toml or [tool.ftaudit] in pyproject.toml (tables [data], [model], [train],
[run], [output], [thresholds], [probes.NAME]); flags override the file."""


COMPARE_EPILOG = """exit codes: 0 no regression, 1 a gated metric got worse by more than --tolerance and outside noise,
or a finding newly reached --fail-on, 2 bad input (nothing was written)."""


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


def _default_text(help_text: str, default: Any) -> str:
    """The help line with its default, unless the line already says what the default does."""
    lowered = help_text.lower()
    if "default" in lowered:
        return help_text
    if default is False:
        return help_text + " (default: off)"
    if default in (None, "", ()):
        return help_text + " (default: none)"
    shown = ",".join(default) if isinstance(default, tuple) else default
    return f"{help_text} (default: {shown})"


def _add_field(group: Any, f: dataclasses.Field, tp: Any, dest: str, flag: str) -> None:
    meta = f.metadata
    help_text = _default_text(meta.get("help", ""), f.default).replace("%", "%%")
    flags = [meta["short"], flag] if meta.get("short") else [flag]
    if tp is bool:
        group.add_argument(*flags, dest=dest, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                           help=help_text)
        return
    group.add_argument(*flags, dest=dest, type=_arg_type(tp), default=argparse.SUPPRESS, help=help_text,
                       choices=meta.get("choices"),
                       metavar=meta.get("metavar") or (None if meta.get("choices") else f.name.upper()))


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
    report.add_argument("result", metavar="RESULT_JSON", help="a result.json written by `ftaudit run`, or its folder")
    report.add_argument("--out", metavar="DIR", help="folder to write into (default: the folder of RESULT_JSON)")
    _add_output_flags(report)
    compare = sub.add_parser("compare", help="compare a candidate audit with a baseline; exit 1 on a regression "
                                             "(no torch needed)",
                             description="Compare two audits: test accuracy, macro-F1, train-test gap, calibration "
                                         "and per-class recall with 95% intervals (paired when both scored the same "
                                         "test rows), and the findings and root causes that changed. Writes "
                                         "compare.html and compare.json.",
                             epilog=COMPARE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    compare.add_argument("base", metavar="BASE", help="the baseline: a result.json or a report folder")
    compare.add_argument("new", metavar="NEW", help="the candidate: a result.json or a report folder")
    compare.add_argument("--out", metavar="DIR", help="folder for compare.html and compare.json (default: the "
                                                      "folder of NEW)")
    compare.add_argument("--tolerance", type=float, default=0.01, metavar="X",
                         help="how much worse (absolute; 0.01 = 1 point) a gated metric may get before its change, "
                              "when outside noise, fails the comparison (default: 0.01)")
    compare.add_argument("--gate-metrics", default="accuracy,macro_f1,gap", metavar="NAME,...",
                         help=f"metrics that gate, of {', '.join(GATE_METRICS)} (default: accuracy,macro_f1,gap)")
    compare.add_argument("--fail-on", choices=("warn", "fail"), default="fail",
                         help="a finding that reaches this severity in NEW, and was below it in BASE, fails the "
                              "comparison (default: fail)")
    _add_output_flags(compare)
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
    demo.add_argument("-q", "--quiet", action="store_true", help=f"{QUIET_HELP} (default: off)")
    return parser


def _add_output_flags(parser: argparse.ArgumentParser) -> None:
    """--format, -q and -v as `ftaudit run` has them."""
    parser.add_argument("--format", choices=("text", "json"), default="text", help=f"{FORMAT_HELP} (default: text)")
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("-q", "--quiet", action="store_true", help=f"{QUIET_HELP} (default: off)")
    noise.add_argument("-v", "--verbose", action="store_true", help=f"{VERBOSE_HELP} (default: off)")


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
    from ftaudit.run_outputs import finish_run, prepare_run

    plan = prepare_run(config)  # the baseline is read and MLflow found before any work: bad input exits 2
    result = audit_to_folder(config, extra_files=plan.extra_files)
    return finish_run(config, plan, result, exit_code(result))


def _nothing_to_audit(config: "AuditConfig") -> bool:
    d, m = config.data, config.model
    return not (d.train or d.test or d.validation or m.model or m.base or config.train.fine_tune)


def audit_to_folder(config: "AuditConfig", *,
                    stage_inputs: Callable[[Path], Mapping[str, Path]] | None = None,
                    extra_files: Callable[[AuditResult], Mapping[str, str]] | None = None) -> AuditResult:
    """Audit, write result.json, report.html and junit.xml into --out atomically, print the summary.

    `stage_inputs(folder) -> {"train": path, "test": path}` writes input files into the staging folder (they
    land in --out next to the report) and names the data the audit reads; the report names their final place.
    `extra_files(result) -> {name: text}` adds files to the report (the comparison with a baseline).
    Progress and logs go to stderr; stdout gets the summary (text) or nothing (json: the caller prints it).
    """
    from ftaudit import output
    from ftaudit.audit import run_audit
    from ftaudit.cache import AuditCache
    from ftaudit.report.console import Progress, make_console, render_summary

    cache = AuditCache.for_config(config)
    console = make_console()
    log = make_console(stderr=True)
    staging = None
    try:
        staging = output.prepare(config.output.out, overwrite=config.output.overwrite)
        if stage_inputs is not None:
            paths = {k: str(v) for k, v in stage_inputs(staging.folder).items()}
            config = dataclasses.replace(config, data=dataclasses.replace(config.data, **paths))
        with Progress(log, quiet=config.output.quiet) as progress:
            result = run_audit(config, staging, progress, cache=cache)
        result = _relocated(result, str(staging.folder), str(staging.out))
        files = render_all(result)
        files.update(extra_files(result) if extra_files is not None else {})
        for name, text in files.items():
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
    if moved and not config.output.quiet:
        log.print(moved, markup=False)
    report = Path(config.output.out) / "report.html"
    if config.output.format == "json":
        pass  # the caller writes the one JSON document
    elif config.output.quiet:
        console.print(result.diagnosis.verdict, highlight=False, markup=False)
    else:
        render_summary(result, console, out=str(report), verbose=config.output.verbose)
    if config.output.verbose:
        log.print("wall time per phase: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.run.phases.items()),
                  markup=False)
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
    from ftaudit.compare_app import load_audit, write_files
    from ftaudit.report.console import make_console, render_summary
    from ftaudit.results import to_json

    loaded = load_audit(args.result)
    result, path = loaded.result, Path(loaded.path)
    out = Path(args.out) if args.out else path.parent
    files = render_all(result)
    del files["result.json"]
    write_files(out, files)
    if args.format == "json":
        sys.stdout.write(to_json(result))
    elif args.quiet:
        make_console().print(result.diagnosis.verdict, markup=False)
    else:
        render_summary(result, make_console(), out=str(out / "report.html"), verbose=args.verbose)
    if not args.quiet:
        make_console(stderr=True).print(f"wrote {out / 'report.html'} and {out / 'junit.xml'} from {path} "
                                        "(earlier copies replaced)", markup=False)
    return exit_code(result)


def cmd_compare(args: argparse.Namespace) -> int:
    from ftaudit.compare_app import compare_paths

    gate = tuple(g.strip() for g in args.gate_metrics.split(",") if g.strip())
    unknown = sorted(set(gate) - set(GATE_METRICS))
    if unknown:
        raise UsageError(f"unknown --gate-metrics {', '.join(unknown)}", f"choose from {', '.join(GATE_METRICS)}")
    return compare_paths(args.base, args.new, out=args.out, tolerance=args.tolerance, fail_on=args.fail_on,
                         gate=gate, fmt=args.format, quiet=args.quiet)


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


COMMANDS = {"run": cmd_run, "report": cmd_report, "compare": cmd_compare, "probes": cmd_probes, "demo": cmd_demo}


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
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
