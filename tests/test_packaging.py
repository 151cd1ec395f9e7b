"""The wheel ships what the report needs: the page's templates and CSS, and every probe folder's section."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_every_probe_section_and_the_report_templates(tmp_path):
    pytest.importorskip("setuptools")
    src = tmp_path / "src"  # a copy, so that the build leaves no build/ or *.egg-info in the checkout
    shutil.copytree(ROOT / "ftaudit", src / "ftaudit", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                          str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("ftaudit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    from ftaudit.probes.registry import DEFAULT_SPECS

    for spec in DEFAULT_SPECS:
        folder = spec.probe.__module__.replace(".", "/")
        assert f"{folder}/{spec.section}" in names, spec.name
        assert f"{folder}/spec.py" in names and f"{folder}/rules.py" in names, spec.name
    for name in ("report.html.j2", "compare.html.j2", "report.css"):
        assert f"ftaudit/templates/{name}" in names
    assert "ftaudit/causes.toml" in names
    assert not any(n.startswith(("tests/", "fixtures/", "bench/")) for n in names)
