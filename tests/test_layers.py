"""The import-linter contracts of pyproject.toml (layers point one way, no cycles) hold, and can fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")
pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed (pip install -e '.[test]')")


def lint(root: Path) -> subprocess.CompletedProcess:
    """Run lint-imports on the ftaudit package found in `root` (put first on the import path)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_layer_and_cycle_contracts_hold():
    res = lint(ROOT)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "5 kept, 0 broken" in res.stdout


@pytest.mark.parametrize("module, line, broken", [
    ("results.py", "import ftaudit.cli", "ftaudit.results is not allowed to import ftaudit.cli"),
    # a probe that judges: the folder's probe imports its own rules
    ("probes/gap/__init__.py", "from ftaudit.probes.gap import rules",
     "ftaudit.probes.gap is not allowed to import ftaudit.probes.gap.rules"),
    # a folder that reaches into another
    ("probes/gap/rules.py", "import ftaudit.probes.drift", "ftaudit.probes.gap is not allowed to import ftaudit.probes.drift"),
    # upward inside a folder: rules that import the chart
    ("probes/gap/rules.py", "from ftaudit.probes.gap import chart",
     "ftaudit.probes.gap.rules is not allowed to import ftaudit.probes.gap.chart"),
], ids=["upward", "probe-imports-its-rules", "folder-imports-folder", "rules-import-chart"])
def test_an_upward_import_breaks_the_contracts(tmp_path, module, line, broken):
    shutil.copytree(ROOT / "ftaudit", tmp_path / "ftaudit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "ftaudit" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # noqa: E402,F401\n", encoding="utf-8")
    res = lint(tmp_path)
    assert res.returncode != 0
    assert broken in res.stdout, res.stdout[-3000:]
