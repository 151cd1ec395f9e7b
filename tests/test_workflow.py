"""docs/github-actions.yml, run: its `run:` steps execute in order in a workspace laid out as the workflow expects.

The `uses:` steps are emulated (checkout and setup-python: the test prepares the workspace and the interpreter;
artifacts: a folder per artifact name; the JUnit publisher: parse the files it would publish). The install step is
the project's own (`pip install ftaudit` becomes a check that this checkout's `ftaudit` is on PATH). `if:` is
evaluated for the expressions the workflow uses; any other expression fails the test rather than being guessed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

pytestmark = pytest.mark.slow

yaml = pytest.importorskip("yaml", reason="pyyaml reads the workflow file")

WORKFLOW = Path(__file__).resolve().parents[1] / "docs" / "github-actions.yml"
CONFIG = '[run]\nprobes = ["gap", "calibration", "balance"]\n'  # the repository's ftaudit.toml: seconds per audit


@dataclass
class Job:
    event: str  # "push" | "pull_request"
    ref: str
    workspace: Path
    artifacts: Path  # one folder per artifact name, shared across jobs as GitHub keeps them
    codes: dict[str, int | None] = field(default_factory=dict)  # step name -> exit code; None: skipped
    outputs: dict[str, str] = field(default_factory=dict)
    published: list[int] = field(default_factory=list)  # testcases per published junit file
    failed: bool = False


def _condition(job: Job, expr: str | None) -> bool:
    if expr is None:
        return not job.failed
    expr = expr.strip()
    if expr == "${{ !cancelled() }}":
        return True  # nothing cancels a job here
    known = {"github.event_name == 'pull_request'": job.event == "pull_request",
             "github.ref == 'refs/heads/main'": job.ref == "refs/heads/main"}
    if expr not in known:
        pytest.fail(f"the workflow uses an `if:` this test does not evaluate: {expr!r}")
    return not job.failed and known[expr]  # a status-less condition means success() && expr


def _run(job: Job, name: str, script: str, env: dict[str, str]) -> int:
    script = script.replace("pip install ftaudit", "ftaudit --version")  # installed here: this checkout, editable
    bindir = str(Path(sys.executable).parent)
    full = dict(os.environ, **env, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=job.workspace,
                          env=full, capture_output=True, text=True, timeout=240)
    job.outputs[name] = proc.stdout + proc.stderr
    return proc.returncode


def _uses(job: Job, action: str, inputs: dict[str, str]) -> int:
    name = action.split("@")[0]
    if name in ("actions/checkout", "actions/setup-python"):
        return 0
    if name == "dawidd6/action-download-artifact":
        stored = job.artifacts / inputs["name"]
        if stored.is_dir():
            shutil.copytree(stored, job.workspace / inputs["path"])
        return 0  # if_no_artifact_found: warn
    if name == "actions/upload-artifact":
        source = job.workspace / inputs["path"]
        if not source.is_dir() or not any(source.iterdir()):
            return 1
        shutil.rmtree(job.artifacts / inputs["name"], ignore_errors=True)
        shutil.copytree(source, job.artifacts / inputs["name"])
        return 0
    if name == "mikepenz/action-junit-report":
        path = job.workspace / inputs["report_paths"]
        if not path.is_file():
            return 1
        job.published.append(len(ET.parse(path).getroot().findall(".//testcase")))
        return 0
    pytest.fail(f"the workflow uses an action this test does not emulate: {action}")


def run_workflow(job: Job) -> Job:
    spec = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    (definition,) = spec["jobs"].values()
    env = {k: str(v) for k, v in definition.get("env", {}).items()}
    for i, step in enumerate(definition["steps"]):
        name = step.get("name") or step.get("uses") or f"step {i}"
        if not _condition(job, step.get("if")):
            job.codes[name] = None
            continue
        if "run" in step:
            code = _run(job, name, step["run"], env)
        else:
            code = _uses(job, step["uses"], {k: str(v) for k, v in step.get("with", {}).items()})
        job.codes[name] = code
        job.failed = job.failed or code != 0
    return job


def workspace(root: Path, tiny: dict[str, Path], model: str, train: str) -> Path:
    """A checkout as the workflow's env expects it: models/candidate, data/train.csv, data/test.csv, ftaudit.toml."""
    root.mkdir(parents=True)
    shutil.copytree(tiny[model], root / "models" / "candidate")
    (root / "data").mkdir()
    shutil.copy(tiny[train], root / "data" / "train.csv")
    shutil.copy(tiny["test"], root / "data" / "test.csv")
    (root / "ftaudit.toml").write_text(CONFIG, encoding="utf-8")
    return root


AUDIT, COMPARE, UPLOAD, KEEP = ("Audit the candidate", "Compare with the baseline", "Upload the report",
                                "Keep this audit as the baseline")


@pytest.fixture(scope="module")
def main_job(tiny, tmp_path_factory):
    """A push to main with the good model: its audit becomes the baseline artifact."""
    root = tmp_path_factory.mktemp("workflow")
    (root / "artifacts").mkdir()
    job = Job(event="push", ref="refs/heads/main", workspace=workspace(root / "main", tiny, "good", "train"),
              artifacts=root / "artifacts")
    return run_workflow(job)


def test_main_push_audits_and_keeps_the_baseline(main_job):
    job = main_job
    assert job.codes["Install ftaudit"] == 0, job.outputs["Install ftaudit"]
    assert job.codes["Download the baseline audit (the latest one of main)"] is None  # only on pull requests
    assert job.codes[AUDIT] == 0, job.outputs[AUDIT]
    assert job.codes[COMPARE] == 0 and "no baseline audit yet" in job.outputs[COMPARE]
    assert job.codes[UPLOAD] == 0 and job.codes[KEEP] == 0 and job.published and job.published[0] > 5
    assert {p.name for p in (job.artifacts / "ftaudit-baseline").iterdir()} >= {"result.json", "report.html",
                                                                                "junit.xml"}


def test_pull_request_with_an_equal_candidate_passes(main_job, tiny, tmp_path):
    job = run_workflow(Job(event="pull_request", ref="refs/pull/1/merge", artifacts=main_job.artifacts,
                           workspace=workspace(tmp_path / "pr", tiny, "good", "train")))
    assert not job.failed, {k: job.outputs.get(k, "") for k, v in job.codes.items() if v}
    assert "compare gate" in job.outputs[COMPARE] and "passed" in job.outputs[COMPARE]
    report = job.artifacts / "ftaudit-report"
    assert {"compare.html", "compare.json", "junit.xml"} <= {p.name for p in report.iterdir()}
    assert job.codes[KEEP] is None  # not main: the baseline stays


def test_pull_request_with_a_regressed_candidate_fails_but_still_reports(main_job, tiny, tmp_path):
    job = run_workflow(Job(event="pull_request", ref="refs/pull/2/merge", artifacts=main_job.artifacts,
                           workspace=workspace(tmp_path / "pr", tiny, "overfit", "train_random")))
    assert job.failed
    assert job.codes[AUDIT] == 1, job.outputs[AUDIT]  # gap-too-large fails the audit's own gate
    assert job.codes[COMPARE] == 1 and "REGRESSED" in job.outputs[COMPARE]  # and the comparison names it
    assert job.codes[UPLOAD] == 0 and job.codes["Publish the checks as JUnit"] == 0  # the report is kept anyway
    assert job.codes[KEEP] is None
    uploaded = job.artifacts / "ftaudit-report"
    assert (uploaded / "compare.json").is_file() and (uploaded / "result.json").is_file()
