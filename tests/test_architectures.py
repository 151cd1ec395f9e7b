"""The architecture matrix: every probe on a tiny fine-tune of each architecture, through the CLI (contract test).

One audit per architecture (module-scoped: the base of fixtures/architectures.py fine-tuned with every default and
opt-in probe on small budgets), then one assertion per probe on its result.json.
"""

from __future__ import annotations

import json

import pytest

from fixtures.architectures import ALL_PROBES, ARCHITECTURES, AUDIT_ARGS, write_data

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # the first test of an architecture runs its audit

PROBES = ALL_PROBES.split(",")
ENCODER_GROUPS = {name: ("layer 0", "layer 1") for name in ARCHITECTURES}
ENCODER_GROUPS["albert"] = ("layer group 0",)  # one group of weights shared by both layers
NOT_TRUNCATED = {"albert": "shares one set of layer weights across all 2 layers"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("matrix-data"))


@pytest.fixture(scope="module")
def audits(arch_bases, data, tmp_path_factory):
    """{architecture: (exit code, result.json)}, each audited once, lazily, when its first test needs it."""
    from tests.conftest import run_cli

    done: dict[str, tuple[int, dict]] = {}

    def get(name: str) -> tuple[int, dict]:
        if name not in done:
            out = tmp_path_factory.mktemp(f"audit-{name}")
            r = run_cli("run", "--fine-tune", "--base", arch_bases[name], "--train", data["train"], "--test",
                        data["test"], *AUDIT_ARGS, "--out", out, "--quiet")
            assert r.code in (0, 1), r.err  # 0: passed, 1: findings; never a usage error or a crash
            done[name] = (r.code, json.loads((out / "result.json").read_text()))
        return done[name]

    return get


def _outcome(result: dict, probe: str) -> dict:
    return next(p for p in result["probes"] if p["name"] == probe)


@pytest.mark.parametrize("probe", PROBES)
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_probe_runs_on_every_architecture(audits, arch, probe):
    _code, result = audits(arch)
    outcome = _outcome(result, probe)
    assert outcome["status"] != "error", outcome["reason"]
    r = outcome.get("result") or {}
    if probe == "drift":
        encoder = tuple(g["layer"] for g in r["layers"] if g["layer"] not in ("embeddings", "pooler", "head"))
        assert encoder == ENCODER_GROUPS[arch] + (("final norm",) if arch == "modernbert" else ())
        assert "other" not in [g["layer"] for g in r["layers"]]
        drift = next(f for f in result["findings"] if f["code"] == "drift-too-large")
        assert drift["severity"] != "skip" and drift["numbers"]["layer"] in encoder + ("embeddings",)
    elif probe == "attribution":
        assert r["items"] >= 10 and r["within_tolerance"] >= 0.95, r  # IG on the screened share of 20 examples
        if arch in ("bert", "roberta", "xlm-roberta"):  # position ids: no step raising needed at all
            assert r["within_tolerance_initial"] >= 0.95 and r["mean_steps"] == r["initial_steps"], r
    elif probe == "size-curve":
        if arch in NOT_TRUNCATED:
            assert outcome["status"] == "skipped" and NOT_TRUNCATED[arch] in outcome["reason"]
        else:
            assert outcome["status"] == "ok"
            assert [m["layers"] for m in r["models"]] == [1, 2] and r["models"][0]["parameters"] < \
                r["models"][1]["parameters"]
    else:
        assert outcome["status"] == "ok", outcome["reason"]
