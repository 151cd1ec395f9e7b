"""What `ftaudit run` does besides the audit: the comparison with --baseline, --format json, --mlflow."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from ftaudit.results import AuditResult, ExitCode

if TYPE_CHECKING:
    from ftaudit.compare import Comparison
    from ftaudit.compare_app import LoadedAudit
    from ftaudit.config import AuditConfig


@dataclass
class RunPlan:
    """The baseline read up front; `extra_files` computes the comparison into the report as it is written."""

    config: "AuditConfig"
    baseline: "LoadedAudit | None" = None
    comparison: "Comparison | None" = None  # set once the audit's result is known

    def extra_files(self, result: AuditResult) -> Mapping[str, str]:
        if self.baseline is None:
            return {}
        from ftaudit.compare import compare
        from ftaudit.compare_app import compare_files

        o = self.config.output
        self.comparison = compare(self.baseline.result, result, base_path=self.baseline.path,
                                  new_path=str(Path(o.out) / "result.json"), tolerance=o.tolerance,
                                  fail_on=o.fail_on, gate=o.gate_metrics, seed=self.config.run.seed)
        return compare_files(self.comparison)


def prepare_run(config: "AuditConfig") -> RunPlan:
    """Check --baseline and --mlflow before the audit starts, so bad input costs nothing."""
    plan = RunPlan(config)
    if config.output.baseline:
        from ftaudit.compare_app import load_audit

        plan.baseline = load_audit(config.output.baseline, "--baseline")
    if config.output.mlflow:
        from ftaudit.integrations.mlflow import check_tracking

        check_tracking()
    return plan


def finish_run(config: "AuditConfig", plan: RunPlan, result: AuditResult, code: int) -> int:
    """Print the comparison (or the one JSON document), log to MLflow; the exit code gates on audit and comparison."""
    from ftaudit.report.console import make_console

    out = Path(config.output.out)
    comparison = plan.comparison
    if config.output.format == "json":
        from ftaudit.report.compare import comparison_to_dict
        from ftaudit.results import to_dict, to_json

        if comparison is None:
            sys.stdout.write(to_json(result))
        else:
            doc = {"result": to_dict(result), "comparison": comparison_to_dict(comparison)}
            sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    elif comparison is not None:
        from ftaudit.compare_app import gate_line
        from ftaudit.report.compare import render_compare_console

        console = make_console()
        if config.output.quiet:
            console.print(gate_line(comparison), markup=False)
        else:
            render_compare_console(comparison, console, verbose=config.output.verbose)
    if comparison is not None and not config.output.quiet:
        make_console(stderr=True).print(f"comparison with the baseline: {out / 'compare.html'}", markup=False)
    if config.output.mlflow:
        run_id = log_audit_or_explain(result, out, comparison)
        if not config.output.quiet:
            make_console(stderr=True).print(f"logged to MLflow run {run_id}", markup=False)
    if code == ExitCode.OK and comparison is not None and not comparison.passed:
        return ExitCode.GATE_FAILED
    return code


def log_audit_or_explain(result: AuditResult, out: Path, comparison: "Comparison | None") -> str:
    """log_audit; MLflow refusing the tracking store (a setting of the user's) is a usage error, not a crash."""
    from mlflow.exceptions import MlflowException

    from ftaudit.errors import UsageError
    from ftaudit.integrations.mlflow import log_audit

    try:
        return log_audit(result, out, comparison=comparison)
    except MlflowException as exc:
        raise UsageError(f"MLflow logging failed ({(str(exc).splitlines() or [''])[0][:200]})",
                         f"check MLFLOW_TRACKING_URI and its store; the report in {out} was written") from None
