"""Without the mlflow extra, --mlflow is a one-line usage error before any work."""

from __future__ import annotations

import sys


def test_mlflow_flag_without_mlflow_says_how_to_install(cli, tiny, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import fails as if not installed
    res = cli("run", "--model", tiny["good"], "--train", tiny["train"], "--test", tiny["test"],
              "--out", tmp_path / "rep", "--mlflow")
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1
    assert "pip install 'ftaudit[mlflow]'" in res.err
    assert not list(tmp_path.iterdir())
