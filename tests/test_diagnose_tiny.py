"""The diagnostic benchmark in miniature (bench/diagnose.py on tiny models): a planted cause must be diagnosed.

Each scenario fine-tunes the tiny fixture base through the public CLI with one planted defect, on data where the
answer is unambiguous, and checks the top root cause in result.json (the shortcut scenario, whose unmarked test set
also makes the model overfit, checks the top three).
"""

from __future__ import annotations

import json

import pytest

from fixtures import tiny as fx
from tests import golden

pytestmark = pytest.mark.slow

SCENARIOS = {
    # name: (extra CLI args, data variant, expected cause, rank it must reach)
    "collapse": (["--lr", "1.0"], "train", "lr-too-high", 1),
    "frozen-encoder": (["--freeze-encoder"], "train", "frozen-encoder", 1),
    "leakage": ([], "leak", "leakage", 1),
    "truncation": (["--max-length", "5"], "train", "truncation", 1),
    "shortcut": ([], "marker", "shortcut", 3),
}


@pytest.fixture(scope="module")
def variants(tiny, tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted")
    train = fx._read(tiny["train"])
    test = fx._read(tiny["test"])
    return {
        "train": tiny["train"],
        "leak": fx.write_csv(folder / "leak.csv", train[:260] + test[:140]),  # 70% of test copied into train
        "marker": fx.write_csv(folder / "marker.csv", fx.make_rows(400, seed=5, marker="zqx")),
    }


@pytest.mark.parametrize("name", SCENARIOS)
def test_planted_cause_is_diagnosed(cli, tiny, variants, tmp_path, name):
    extra, variant, expected, rank = SCENARIOS[name]
    res = cli("run", "--fine-tune", "--base", tiny["base"], "--train", variants[variant], "--test", tiny["test"],
              "--epochs", "3", "--lr", "3e-3", "--out", tmp_path / "r", "--quiet", *extra,
              "--attribution-precision", "fp32")  # the golden holds across CPUs (auto is bf16 with AMX)
    assert res.code == 1, res.err  # every planted defect fails the default gate
    result = json.loads((tmp_path / "r" / "result.json").read_text())
    causes = [c["code"] for c in result["diagnosis"]["root_causes"]]
    assert expected in causes[:rank], causes
    golden.check(f"tiny-{name}", tmp_path / "r" / "result.json",
                 {tiny["base"].parent: "<tiny>", variants["leak"].parent: "<variants>", tmp_path / "r": "<out>"},
                 outline_only=name == "collapse")
