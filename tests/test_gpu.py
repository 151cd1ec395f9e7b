"""GPU path: device auto-selection, autocast, and an audit on CUDA (run by bench/gpu_check.sh on a GPU machine)."""

from __future__ import annotations

import json

import pytest
import torch

from ftaudit.modeling import autocast, select_device

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_auto_device_matches_the_machine():
    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_autocast_is_a_no_op_on_cpu():
    with autocast(torch.device("cpu")):
        assert not torch.is_autocast_enabled("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="only meaningful without a GPU")
def test_asking_for_cuda_without_a_gpu_is_a_usage_error(cli, tiny, tmp_path):
    res = cli("run", "--model", tiny["good"], "--train", tiny["train"], "--test", tiny["test"],
              "--out", tmp_path / "r", "--device", "cuda")
    assert res.code == 2 and "no CUDA GPU" in res.err


@pytest.mark.gpu
@cuda
def test_autocast_uses_bf16_or_fp16_on_gpu():
    with autocast(torch.device("cuda")):
        y = torch.ones(8, 8, device="cuda") @ torch.ones(8, 8, device="cuda")
    assert y.dtype in (torch.bfloat16, torch.float16)


@pytest.mark.gpu
@cuda
def test_audit_on_gpu_matches_cpu(cli, tiny, tmp_path):
    common = ("--model", tiny["good"], "--train", tiny["train"], "--test", tiny["test"], "--probes", "gap")
    assert cli("run", *common, "--out", tmp_path / "gpu", "--device", "cuda").code in (0, 1)
    assert cli("run", *common, "--out", tmp_path / "cpu", "--device", "cpu").code in (0, 1)
    gpu = json.loads((tmp_path / "gpu" / "result.json").read_text())
    cpu = json.loads((tmp_path / "cpu" / "result.json").read_text())
    assert "cuda" in gpu["run"]["device"]
    acc = [next(p for p in r["probes"] if p["name"] == "gap")["result"]["test"]["accuracy"] for r in (gpu, cpu)]
    assert abs(acc[0] - acc[1]) <= 0.02  # bf16 may flip a few borderline predictions
