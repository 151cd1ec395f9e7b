#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU, in under 5 minutes: the GPU-marked tests, then the performance
# table on MiniLM with bf16 autocast (bench/perf.py --device cuda). Run from the repository root:
#   bash bench/gpu_check.sh            (sets up .venv with `make venv` first if needed)
# On a machine without CUDA it says so and runs only the CPU smoke part, so the script itself stays tested.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || make venv
if "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  "$PY" -c 'import torch; print("gpu:", torch.cuda.get_device_name(0), "| torch", torch.__version__, "| bf16:", torch.cuda.is_bf16_supported())'
  timeout 120 "$PY" -m pytest -q -m gpu tests/test_gpu.py
  timeout 170 "$PY" bench/perf.py --device cuda --skip scale --json bench/out/perf-gpu.json
else
  echo "gpu_check: no CUDA GPU here; running the CPU smoke part only (GPU tests skip themselves)"
  timeout 120 "$PY" -m pytest -q tests/test_gpu.py
fi
