"""bench/perf.py's pure parts and its large-prediction row on a CPU (a tiny model: a smoke test of the GPU row)."""

from __future__ import annotations

import pytest
import torch

from bench import perf


def test_the_large_prediction_row_reports_each_batch_size_against_a_measured_peak():
    r = perf.bench_prediction_large(torch.device("cpu"), 48, (8, 32), tiny=True)
    assert r["model"] == "2-layer tiny BERT" and r["peak_dtype"] == "fp32" and r["peak_tflops"] > 0
    assert r["tokens"] > 48 * 3  # review snippets are longer than three tokens
    assert [row["batch_size"] for row in r["rows"]] == [8, 32]
    for row in r["rows"]:
        assert row["seconds"] > 0 and row["peak_memory_gb"] is None  # no GPU memory on a CPU
        assert row["useful_tflops"] == pytest.approx(row["share_of_peak"] * r["peak_tflops"])
        assert 0 < row["share_of_peak"] < 1.5  # a pass cannot beat the measured peak by much


@pytest.mark.parametrize("flags, expected", [
    ("processor : 0\nflags : fpu avx2 amx_tile avx512_bf16\n", "AMX"),
    ("processor : 0\nflags : fpu avx2 avx512f avx512_bf16\n", "AVX512-BF16"),
    ("processor : 0\nflags : fpu avx2 avx512f\n", ""),
])
def test_the_avx2_column_runs_only_where_the_cpu_has_bf16_matrix_instructions(monkeypatch, tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(flags)
    real = perf.Path

    monkeypatch.setattr(perf, "Path", lambda p: real(cpuinfo) if p == "/proc/cpuinfo" else real(p))
    assert perf.bf16_hardware() == expected
