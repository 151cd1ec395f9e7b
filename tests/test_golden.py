"""Whole audits of the tiny fixture models must match their golden result.json (see tests/golden/)."""

from __future__ import annotations

import pytest

from tests import golden

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("model", ["good", "overfit"])
def test_existing_model_audit_matches_its_golden_result(cli, tiny, tmp_path, model):
    out = tmp_path / "r"
    res = cli("run", "--model", tiny[model], "--base", tiny["base"], "--train", tiny["train"], "--test", tiny["test"],
              "--out", out, "--quiet")
    assert res.code in (0, 1), res.err
    golden.check(f"existing-{model}", out / "result.json", {tiny["base"].parent: "<tiny>", out: "<out>"})
