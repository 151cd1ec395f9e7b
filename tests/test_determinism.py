"""Two CPU runs with the same seed write the same result.json, apart from timings and timestamps.

Timings are the fields named `seconds` or `*_seconds` (anywhere, probe results included) and run.phases.

The runs are separate processes with different PYTHONHASHSEED, so an order that depends on set or dict hashing
of strings shows up as a difference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
VOLATILE_RUN = ("started", "phases")  # and every *seconds field


def without_timings(value: Any) -> Any:
    """Drop every timing: fields named `seconds` or `*_seconds`, wherever they are (the house convention)."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if not (k == "seconds" or k.endswith("_seconds"))}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def normalised(path: Path, out: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8").replace(str(out), "<OUT>"))
    for key in VOLATILE_RUN:
        data["run"].pop(key)
    return without_timings(data)


@pytest.mark.slow
def test_same_seed_same_result_json(tiny, tmp_path):
    args = ["--model", str(tiny["good"]), "--train", str(tiny["train"]), "--test", str(tiny["test"]),
            "--device", "cpu", "--seed", "7", "--attribution-examples", "16", "--attribution-deletion-examples", "32",
            "--attribution-max-steps", "32"]
    procs = {}
    for name, hash_seed in (("a", "1"), ("b", "2")):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
        procs[name] = subprocess.Popen([sys.executable, "-m", "ftaudit", "run", *args, "--out", str(tmp_path / name),
                                        "--quiet"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=600)
        assert proc.returncode in (0, 1), err
    a = normalised(tmp_path / "a" / "result.json", tmp_path / "a")
    b = normalised(tmp_path / "b" / "result.json", tmp_path / "b")
    assert sum(o["status"] == "ok" for o in a["probes"]) >= 5
    if a != b:
        diffs = [o["name"] for o, p in zip(a["probes"], b["probes"]) if o != p]
        pytest.fail(f"the runs differ (probes: {diffs or 'none'}; run info equal: {a['run'] == b['run']}; "
                    f"findings equal: {a['findings'] == b['findings']})")
