"""Log an audit to MLflow: headline metrics, each finding's severity, root causes as tags, the report as artifacts.

    from ftaudit.integrations.mlflow import log_audit
    log_audit(result, "ftaudit-report")      # into the active run, else a new one

Needs the `mlflow` extra (pip install 'ftaudit[mlflow]'); the tracking URI is MLflow's own (MLFLOW_TRACKING_URI).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftaudit.errors import UsageError
from ftaudit.results import AuditResult, Severity

if TYPE_CHECKING:
    from ftaudit.compare import Comparison

INSTALL_HINT = "pip install 'ftaudit[mlflow]'"
SEVERITY_VALUE = {"pass": 0, "warn": 1, "fail": 2, "error": 3}  # metric ftaudit.finding.CODE; skips are not logged
TAG_LIMIT = 5000  # MLflow's limit on a tag value


def require_mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise UsageError("--mlflow needs the mlflow package, which is not installed",
                         f"install it with: {INSTALL_HINT}") from None
    return mlflow


def check_tracking() -> str:
    """Open the tracking store now (before an audit), so a store MLflow refuses fails early; returns its URI."""
    mlflow = require_mlflow()
    from mlflow.exceptions import MlflowException

    uri = mlflow.get_tracking_uri()
    try:
        mlflow.tracking.MlflowClient().search_experiments(max_results=1)
    except MlflowException as exc:
        raise UsageError(f"MLflow cannot use the tracking store {uri} ({(str(exc).splitlines() or [''])[0][:200]})",
                         "set MLFLOW_TRACKING_URI to a store it accepts (e.g. sqlite:///mlflow.db, or a file: "
                         "folder with MLFLOW_ALLOW_FILE_STORE=true)") from None
    return uri


def _key(text: str) -> str:
    """MLflow keys allow letters, digits, _ - . space /; anything else becomes _."""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", text)


def audit_metrics(result: AuditResult, comparison: "Comparison | None" = None) -> dict[str, float]:
    """The numbers logged: test accuracy, macro-F1, gap, ECE, per-class recall, finding severities, comparison."""
    out: dict[str, float] = {}
    gap = result.probe("gap")
    if gap is not None:
        out.update({"ftaudit.test_accuracy": gap.test.accuracy, "ftaudit.test_macro_f1": gap.test.macro_f1,
                    "ftaudit.train_accuracy": gap.train.accuracy, "ftaudit.accuracy_gap": gap.accuracy_gap,
                    "ftaudit.test_ece": gap.test.ece})
        for c in gap.test.per_class:
            out[_key(f"ftaudit.test_recall.{c.label}")] = c.recall
    seen: dict[str, int] = {}
    for f in result.findings:
        if f.severity is Severity.SKIP:
            continue
        n = seen.get(f.code, 0)
        seen[f.code] = n + 1
        out[_key(f"ftaudit.finding.{f.code}" + (f".{n + 1}" if n else ""))] = SEVERITY_VALUE[f.severity.value]
    out["ftaudit.gate_passed"] = float(result.gate.passed)
    if comparison is not None:
        out["ftaudit.compare_passed"] = float(comparison.passed)
        for m in comparison.metrics:
            if m.delta is not None:
                out[_key(f"ftaudit.compare.{m.metric}.delta" if m.metric != "recall"
                         else f"ftaudit.compare.{m.name}.delta")] = m.delta
    return {k: float(v) for k, v in out.items() if v is not None}


def audit_tags(result: AuditResult) -> dict[str, str]:
    causes = [c for c in result.diagnosis.root_causes]
    tags = {
        "ftaudit.verdict": result.diagnosis.verdict[:TAG_LIMIT],
        "ftaudit.root_causes": ",".join(c.code for c in causes),
        "ftaudit.gate": "passed" if result.gate.passed else "failed",
        "ftaudit.failing": ",".join(result.gate.failing),
        "ftaudit.model": result.run.model[:TAG_LIMIT],
        "ftaudit.version": result.run.ftaudit_version,
    }
    for c in causes:
        tags[_key(f"ftaudit.cause.{c.code}")] = f"{c.confidence:.2f}"
    return tags


def log_audit(result: AuditResult, folder: str | Path, *, comparison: "Comparison | None" = None) -> str:
    """Log into the active MLflow run, else a new one (ended afterwards); returns the run id."""
    mlflow = require_mlflow()
    folder = Path(folder)
    active = mlflow.active_run()
    run = active or mlflow.start_run(run_name=f"ftaudit {Path(result.run.model).name}")
    try:
        mlflow.log_metrics(audit_metrics(result, comparison))
        mlflow.set_tags(audit_tags(result))
        if folder.is_dir():
            mlflow.log_artifacts(str(folder), artifact_path="ftaudit")
        return run.info.run_id
    finally:
        if active is None:
            mlflow.end_run()
