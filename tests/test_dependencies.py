"""Dependencies are true to use: every runtime requirement is imported by ftaudit/, optional ones say how to install."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import numpy as np
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
MODULE = {"scikit-learn": "sklearn", "pyarrow": "pyarrow", "mlflow-skinny": "mlflow"}  # distribution -> import name
# Declared though ftaudit/ never imports them, and why.
INDIRECT = {"safetensors": "transformers loads the .safetensors weights ftaudit insists on through it"}


def _imported() -> set[str]:
    names = set()
    for path in (ROOT / "ftaudit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def _dist(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]


def test_every_runtime_dependency_is_imported_by_ftaudit():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    imported = _imported()
    for requirement in project["dependencies"]:
        dist = _dist(requirement)
        if dist in INDIRECT:
            continue
        assert MODULE.get(dist, dist.replace("-", "_")) in imported, f"{dist} is declared but ftaudit/ never imports it"


def test_parquet_without_pyarrow_is_a_usage_error(tmp_path, monkeypatch):
    from ftaudit.data import read_columns
    from ftaudit.errors import UsageError

    path = tmp_path / "train.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(UsageError, match=r"needs pyarrow.*pip install 'ftaudit\[parquet\]'"):
        read_columns(path, "train")


def test_confusion_and_per_class_metrics_agree_with_sklearn():
    sklearn = pytest.importorskip("sklearn.metrics")
    from ftaudit.probes.gap import _f1_from_confusion, confusion_matrix, macro_f1

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 400)  # class 3 is never gold, only predicted
    pred = np.where(rng.random(400) < 0.6, labels, rng.integers(0, 4, 400))
    cm = confusion_matrix(labels, pred, 4)
    assert np.array_equal(cm, sklearn.confusion_matrix(labels, pred, labels=range(4)))
    precision, recall, f1 = _f1_from_confusion(cm)
    p, r, f, _ = sklearn.precision_recall_fscore_support(labels, pred, labels=range(4), zero_division=0)
    assert np.allclose(precision, p) and np.allclose(recall, r) and np.allclose(f1, f)
    # macro-F1 over the gold classes, as sklearn computes it when given those labels
    assert macro_f1(cm) == pytest.approx(sklearn.f1_score(labels, pred, labels=[0, 1, 2], average="macro",
                                                          zero_division=0))
