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
    assert "2 kept, 0 broken" in res.stdout


def test_an_upward_import_breaks_the_contracts(tmp_path):
    shutil.copytree(ROOT / "ftaudit", tmp_path / "ftaudit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    results = tmp_path / "ftaudit" / "results.py"
    results.write_text(results.read_text(encoding="utf-8") + "\nimport ftaudit.cli  # noqa: E402,F401\n",
                       encoding="utf-8")
    res = lint(tmp_path)
    assert res.returncode != 0
    assert "ftaudit.results is not allowed to import ftaudit.cli" in res.stdout, res.stdout[-3000:]
