"""MLflow logging against a real local tracking folder (file: URI, no server), read back with mlflow's client."""

from __future__ import annotations

from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed: pip install 'ftaudit[mlflow]'")

from ftaudit.integrations.mlflow import audit_metrics, log_audit  # noqa: E402
from ftaudit.probes.registry import result_kinds  # noqa: E402
from ftaudit.results import from_json  # noqa: E402

RESULT = Path(__file__).parents[1] / "report" / "data" / "overfit.result.json"


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps file stores behind this opt-in
    mlflow.set_tracking_uri(uri)
    yield mlflow.tracking.MlflowClient(tracking_uri=uri)
    while mlflow.active_run():
        mlflow.end_run()


def _report(tmp_path: Path) -> Path:
    folder = tmp_path / "rep"
    folder.mkdir()
    (folder / "result.json").write_text(RESULT.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "report.html").write_text("<html></html>", encoding="utf-8")
    return folder


def test_log_audit_to_a_new_run(tracking, tmp_path):
    result = from_json(RESULT.read_text(encoding="utf-8"), kinds=result_kinds())
    run_id = log_audit(result, _report(tmp_path))
    assert mlflow.active_run() is None  # the run it started is ended
    run = tracking.get_run(run_id)
    gap = result.probe("gap")
    assert run.data.metrics["ftaudit.test_accuracy"] == pytest.approx(gap.test.accuracy)
    assert run.data.metrics["ftaudit.accuracy_gap"] == pytest.approx(gap.accuracy_gap)
    assert run.data.metrics["ftaudit.finding.gap-too-large"] == 2  # fail
    assert run.data.tags["ftaudit.root_causes"].split(",")[0] == result.diagnosis.root_causes[0].code
    assert run.data.tags["ftaudit.gate"] == ("passed" if result.gate.passed else "failed")
    assert run.data.metrics == pytest.approx(audit_metrics(result))
    artifacts = {a.path for a in tracking.list_artifacts(run_id, "ftaudit")}
    assert artifacts == {"ftaudit/result.json", "ftaudit/report.html"}


def test_log_audit_into_the_active_run(tracking, tmp_path):
    result = from_json(RESULT.read_text(encoding="utf-8"), kinds=result_kinds())
    with mlflow.start_run() as active:
        mlflow.log_param("lr", 5e-5)
        run_id = log_audit(result, _report(tmp_path))
        assert mlflow.active_run().info.run_id == active.info.run_id  # left open for the caller
    assert run_id == active.info.run_id
    run = tracking.get_run(run_id)
    assert run.data.params["lr"] == "5e-05" and "ftaudit.test_macro_f1" in run.data.metrics


def test_run_mlflow_flag_logs_the_audit(tracking, cli, tiny, tmp_path):
    out = tmp_path / "rep"
    res = cli("run", "--model", tiny["good"], "--train", tiny["train"], "--test", tiny["test"], "--out", out,
              "--probes", "gap", "--mlflow")
    assert res.code == 0, res.err
    run_id = res.err.split("logged to MLflow run ")[1].split()[0]
    run = tracking.get_run(run_id)
    assert run.data.tags["ftaudit.root_causes"] == "healthy"
    assert run.data.metrics["ftaudit.gate_passed"] == 1.0
    assert {a.path for a in tracking.list_artifacts(run_id, "ftaudit")} >= {"ftaudit/result.json",
                                                                           "ftaudit/report.html",
                                                                           "ftaudit/junit.xml"}


def test_a_tracking_store_mlflow_refuses_is_a_usage_error(cli, tiny, tmp_path, monkeypatch):
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "false")
    mlflow.set_tracking_uri(uri)
    out = tmp_path / "rep"
    res = cli("run", "--model", tiny["good"], "--train", tiny["train"], "--test", tiny["test"], "--out", out,
              "--probes", "gap", "--mlflow")
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1, res.err  # before any work
    assert "MLflow cannot use the tracking store" in res.err and "MLFLOW_ALLOW_FILE_STORE" in res.err
    assert not list(tmp_path.glob("rep*"))
