"""Command line: arguments -> AuditConfig -> `ftaudit.app` (which audits, writes and maps the exit code). Thin."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ftaudit import __version__, app
from ftaudit.config import FORMAT_HELP, GATE_METRICS, QUIET_HELP, VERBOSE_HELP
from ftaudit.errors import UsageError
from ftaudit.results import ExitCode

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
    if "default" in help_text.lower():
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
    from ftaudit.api import run_options

    parser.add_argument("--config", metavar="FILE", help="read options from this TOML file (default: ./ftaudit.toml, "
                                                         "else [tool.ftaudit] in ./pyproject.toml)")
    titles = {"data": "data", "model": "model", "train": "fine-tuning", "run": "run", "output": "output and gates",
              "thresholds": "thresholds (the rules' limits; also [thresholds] in the config file)"}
    groups: dict[str, Any] = {}
    hints: dict[type, dict[str, Any]] = {}
    for o in run_options():
        if o.group not in groups:
            groups[o.group] = parser.add_argument_group(titles.get(o.group, o.group))
        group = groups[o.group]
        dest = ".".join(o.path)
        if o.threshold is not None:
            t = o.threshold
            group.add_argument(o.flag, dest=dest, type=float, default=argparse.SUPPRESS, metavar="X",
                               help=f"{t.help} (default: {t.default:g})".replace("%", "%%"))
            continue
        types_of = hints.get(o.owner) or hints.setdefault(o.owner, typing.get_type_hints(o.owner))
        _add_field(group, o.field, types_of[o.field.name], dest, o.flag)


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


def cmd_run(args: argparse.Namespace) -> int:
    from ftaudit.config import load_config

    config = load_config(args.config, overrides_from(args))
    if _nothing_to_audit(config):  # a bare `ftaudit run` shows what ftaudit does
        from ftaudit import demo

        out = config.output.out if "out" in overrides_from(args).get("output", {}) else demo.DEFAULT_OUT
        return demo.run_demo(out=out, overwrite=config.output.overwrite, quiet=config.output.quiet)
    from ftaudit.run_outputs import finish_run, prepare_run

    plan = prepare_run(config)  # the baseline is read and MLflow's store opened before any work: bad input exits 2
    result = app.audit_to_folder(config, extra_files=plan.extra_files)
    return finish_run(config, plan, result, app.exit_code(result))


def _nothing_to_audit(config: "AuditConfig") -> bool:
    d, m = config.data, config.model
    return not (d.train or d.test or d.validation or m.model or m.base or config.train.fine_tune)


def cmd_report(args: argparse.Namespace) -> int:
    from ftaudit.report.console import make_console, render_summary
    from ftaudit.results import to_json

    out, result = app.rerender(Path(args.result), Path(args.out) if args.out else None)
    source = Path(args.result) / "result.json" if Path(args.result).is_dir() else Path(args.result)
    if args.format == "json":
        sys.stdout.write(to_json(result))
    elif args.quiet:
        make_console().print(result.diagnosis.verdict, markup=False)
    else:
        render_summary(result, make_console(), out=str(out / "report.html"), verbose=args.verbose)
    if not args.quiet:
        make_console(stderr=True).print(f"wrote {out / 'report.html'} and {out / 'junit.xml'} from {source} "
                                        "(earlier copies replaced)", markup=False)
    return app.exit_code(result)


def cmd_compare(args: argparse.Namespace) -> int:
    from ftaudit.compare_app import compare_paths

    gate = tuple(g.strip() for g in args.gate_metrics.split(",") if g.strip())
    unknown = sorted(set(gate) - set(GATE_METRICS))
    if unknown:
        raise UsageError(f"unknown --gate-metrics {', '.join(unknown)}", f"choose from {', '.join(GATE_METRICS)}")
    return compare_paths(args.base, args.new, out=args.out, tolerance=args.tolerance, fail_on=args.fail_on,
                         gate=gate, fmt=args.format, quiet=args.quiet, verbose=args.verbose)


def cmd_probes(args: argparse.Namespace) -> int:
    from ftaudit.probes.registry import all_probes, all_rules

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


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)

    def command() -> int:
        parser = build_parser()
        if not argv:
            parser.print_help()
            return ExitCode.USAGE_ERROR
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return ExitCode.USAGE_ERROR
        return int(COMMANDS[args.command](args))

    return app.run_command(command, strict="--strict" in argv)


def entry() -> None:
    """The `ftaudit` command: main() with the signal guard kept until the process exits (a signal that arrives
    during shutdown, after the report was committed, still exits 130, never 143)."""
    from ftaudit.signals import guard_process

    guard = guard_process()
    code = main()
    sys.exit(guard.exiting(code))
