#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU, in under 8 minutes: the GPU-marked tests, the performance table on
# MiniLM with bf16 autocast (bench/perf.py --device cuda; its `large` row is a BERT-base-shaped model's prediction
# pass over 20,000 snippets against the measured bf16 matmul peak, with peak GPU memory), then, when ../shared/data is there, the learning-curve
# benchmark with 3 seeds per size (bench/curves.py --device cuda). Run from the repository root:
#   bash bench/gpu_check.sh            (sets up .venv with `make venv` first if needed)
# On a machine without CUDA it says so and runs only the CPU smoke part, so the script itself stays tested.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
command -v "$PY" >/dev/null 2>&1 || make venv  # PY may be a path or a name on PATH (PY=python3)
if "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  "$PY" -c 'import torch; print("gpu:", torch.cuda.get_device_name(0), "| torch", torch.__version__, "| bf16:", torch.cuda.is_bf16_supported())'
  failed=()  # every step runs, so one failure does not hide the others' numbers
  timeout 120 "$PY" -m pytest -q -m gpu tests/test_gpu.py || failed+=("gpu tests")
  mkdir -p bench/out
  timeout 170 "$PY" bench/perf.py --device cuda --skip scale --json bench/out/perf-gpu.json || failed+=("perf")
  if [ -f ../shared/data/rotten_tomatoes_polarity.jsonl ]; then
    timeout 180 "$PY" bench/curves.py --device cuda --repeats 3 --no-size-curve --no-lr-range || failed+=("curves")
  fi
  if [ ${#failed[@]} -gt 0 ]; then echo "gpu_check: FAILED: ${failed[*]}"; exit 1; fi
  echo "gpu_check: all steps passed"
else
  echo "gpu_check: no CUDA GPU here; running the CPU smoke part only (GPU tests skip themselves)"
  timeout 120 "$PY" -m pytest -q tests/test_gpu.py
fi
