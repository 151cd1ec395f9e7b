"""Golden result.json files: whole audits of the tiny fixtures, compared after normalising volatile fields.

They pin behaviour across refactors: a change that moves any measurement, finding or cause shows up as a diff.
After an intended change, regenerate with `FTAUDIT_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py
tests/test_diagnose_tiny.py` and say in the commit what moved and why.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Mapping

HERE = Path(__file__).resolve().parent
# Wall-clock values and the version: everything else in result.json is a function of the inputs and the seed.
VOLATILE_KEYS = frozenset({"seconds", "started", "phases", "extra_seconds", "ig_seconds", "screen_seconds",
                           "main_seconds", "ftaudit_version"})
# Floats agree to the last bits on one machine, but not across CPUs: the tiny fixture models are fine-tuned in the
# test session, and fp32 kernels (AVX2 on an AMD EPYC, AVX-512/AMX on a Xeon) round differently, which moves losses
# by about 1e-5 relative and a small attribution difference by up to 1e-3 relative. The tolerance absorbs that;
# a count may move by one (an example on a bin edge); codes, severities, causes and their order, and every
# string's words, stay exact.
REL_TOL = 1e-2
ABS_TOL = 1e-4
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _close(expected: float, actual: float) -> bool:
    return math.isclose(expected, actual, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _same_text(expected: str, actual: str) -> bool:
    """Equal words, and numbers equal within the float tolerance or one unit of their last printed digit (a
    value near a rounding boundary may print one digit apart on another CPU)."""
    if _NUMBER.sub("#", expected) != _NUMBER.sub("#", actual):
        return False
    for e, a in zip(_NUMBER.findall(expected), _NUMBER.findall(actual)):
        unit = 10.0 ** -len(e.partition(".")[2])
        if not (_close(float(e), float(a)) or abs(float(e) - float(a)) <= unit * 1.0001):
            return False
    return True


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
        return [] if _close(expected, actual) else [f"{where}: {expected!r} expected, {actual!r} found"]
    if type(expected) is int and type(actual) is int:  # a count: an example on a bin or threshold edge may move
        return [] if abs(expected - actual) <= 1 else [f"{where}: {expected!r} expected, {actual!r} found"]
    if isinstance(expected, str) and isinstance(actual, str) and expected != actual:
        return [] if _same_text(expected, actual) else [f"{where}: {expected!r} expected, {actual!r} found"]
    return [] if expected == actual and type(expected) is type(actual) else \
        [f"{where}: {expected!r} expected, {actual!r} found"]


def whole_results() -> list[Path]:
    """The golden files that hold a whole result.json (the others pin only an `outline`)."""
    return [p for p in sorted(HERE.glob("*.json")) if "run" in json.loads(p.read_text(encoding="utf-8"))]


def outline(result: Mapping[str, Any]) -> dict[str, Any]:
    """What a diagnosis decided, without its numbers: each probe's status, each finding's code and severity, and
    the root causes and "also noticed" codes in order."""
    diagnosis = result["diagnosis"]
    return {"probes": [[p["name"], p["status"]] for p in result["probes"]],
            "findings": [[f["code"], f["severity"]] for f in result["findings"]],
            "root_causes": [c["code"] for c in diagnosis["root_causes"]],
            "also_noticed": [c["code"] for c in diagnosis.get("also_noticed", [])]}


def check(name: str, result_json: Path, roots: Mapping[str, Path | str], *, outline_only: bool = False) -> None:
    """Compare `result_json` with tests/golden/NAME.json (write it instead when FTAUDIT_UPDATE_GOLDEN=1).

    outline_only: for a model whose training amplifies rounding, so that CPUs that round differently end with
    different numbers: a run that diverges on purpose (lr 1: a final loss of 1.14 on a Xeon, 0.89 with AVX2), or
    the fixture that memorises random labels (test accuracy 64.0% vs 65.5%). Only its `outline` is pinned."""
    actual = normalise(json.loads(result_json.read_text(encoding="utf-8")), {str(k): v for k, v in roots.items()})
    if outline_only:
        actual = outline(actual)
    golden = HERE / f"{name}.json"
    if os.environ.get("FTAUDIT_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return
    assert golden.is_file(), f"no golden file {golden}; create it with FTAUDIT_UPDATE_GOLDEN=1"
    diffs = differences(json.loads(golden.read_text(encoding="utf-8")), actual)
    assert not diffs, f"{name}: {len(diffs)} difference(s) from {golden.name}:\n" + "\n".join(sorted(diffs)[:40])
