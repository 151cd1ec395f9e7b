"""Golden result.json files: whole audits of the tiny fixtures, compared after normalising volatile fields.

They pin behaviour across refactors: a change that moves any measurement, finding or cause shows up as a diff.
After an intended change, regenerate with `FTAUDIT_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py
tests/test_diagnose_tiny.py` and say in the commit what moved and why.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

HERE = Path(__file__).resolve().parent
# Wall-clock values and the version: everything else in result.json is a function of the inputs and the seed.
VOLATILE_KEYS = frozenset({"seconds", "started", "phases", "extra_seconds", "ig_seconds", "screen_seconds",
                           "main_seconds", "ftaudit_version"})
REL_TOL = 1e-6  # same machine, same seed: floats agree to the last bits; this only absorbs re-associated sums


def normalise(value: Any, roots: Mapping[str, str]) -> Any:
    """The result with volatile values replaced by "<volatile>" and temporary folders by their role's name."""
    if isinstance(value, dict):
        return {k: ("<volatile>" if k in VOLATILE_KEYS else normalise(v, roots)) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, roots) for v in value]
    if isinstance(value, str):
        for folder, name in sorted(roots.items(), key=lambda kv: -len(kv[0])):
            value = value.replace(folder, name)
        return value
    return value


def differences(expected: Any, actual: Any, where: str = "") -> list[str]:
    """Paths at which two normalised results differ (floats within REL_TOL count as equal)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = [f"{where}.{k}: missing" for k in expected if k not in actual]
        out += [f"{where}.{k}: unexpected" for k in actual if k not in expected]
        for k in expected.keys() & actual.keys():
            out += differences(expected[k], actual[k], f"{where}.{k}")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: {len(expected)} items expected, {len(actual)} found"]
        return [d for i, (e, a) in enumerate(zip(expected, actual)) for d in differences(e, a, f"{where}[{i}]")]
    if isinstance(expected, float) and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        if math.isnan(expected) and math.isnan(actual):
            return []
        return [] if math.isclose(expected, actual, rel_tol=REL_TOL, abs_tol=1e-12) else \
            [f"{where}: {expected!r} expected, {actual!r} found"]
    return [] if expected == actual and type(expected) is type(actual) else \
        [f"{where}: {expected!r} expected, {actual!r} found"]


def check(name: str, result_json: Path, roots: Mapping[str, Path | str]) -> None:
    """Compare `result_json` with tests/golden/NAME.json (write it instead when FTAUDIT_UPDATE_GOLDEN=1)."""
    actual = normalise(json.loads(result_json.read_text(encoding="utf-8")), {str(k): v for k, v in roots.items()})
    golden = HERE / f"{name}.json"
    if os.environ.get("FTAUDIT_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return
    assert golden.is_file(), f"no golden file {golden}; create it with FTAUDIT_UPDATE_GOLDEN=1"
    diffs = differences(json.loads(golden.read_text(encoding="utf-8")), actual)
    assert not diffs, f"{name}: {len(diffs)} difference(s) from {golden.name}:\n" + "\n".join(sorted(diffs)[:40])
