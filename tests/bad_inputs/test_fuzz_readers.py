"""Fuzzing the readers of files ftaudit does not write itself (issue 21): any bytes and any JSON tree in a model
folder's config.json, a checkpoint's trainer_state.json or ftaudit training record, a --resume cache entry and a
result.json give a value or a one-line UsageError (exit 2), never another exception or exit code.

About 30 s in all on two shared cores (settings below); `ftaudit report` runs through the CLI, the others call the same
readers the CLI calls, so that no example pays for loading a model.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftaudit.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
RESULT = ROOT / "tests" / "report" / "data" / "overfit.result.json"
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
REPORT_FUZZ = settings(FUZZ, max_examples=30)  # each example renders the HTML report: ~0.6 s
SCALARS = (st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70) | st.floats(allow_nan=True)
           | st.text(max_size=8) | st.sampled_from(["loss", "step", "bert", "LABEL_0", "../x", "org/model"]))
KEYS = st.sampled_from(["loss", "step", "learning_rate", "grad_norm", "log_history", "epoch", "seed", "global_step",
                        "id2label", "label2id", "auto_map", "_name_or_path", "ftaudit_base_model", "architectures",
                        "model_type", "version", "source", "epochs", "steps", "label_names", "texts", "seed_runs",
                        "format", "fingerprint", "digest", "kind", "result", "seconds", "run", "probes"]) \
    | st.text(max_size=4)
TREES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
                     max_leaves=12)
OBJECTS = st.dictionaries(KEYS, TREES, max_size=6)
NESTED = st.integers(60, 3000).map(lambda n: "[" * n + "]" * n)


def contained(fn, *args: Any) -> Any:
    """fn(*args), or None when it raised a UsageError that makes a proper one-line message."""
    try:
        return fn(*args)
    except UsageError as exc:
        line = exc.one_line()
        assert "\n" not in line and exc.problem and exc.fix and len(line) < 1200
        return None


def _dump(tree: Any) -> str:
    return json.dumps(tree, allow_nan=True)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    """A model folder as `locate` sees it: config.json (fuzzed) next to weights and a tokenizer config."""
    folder = tmp_path_factory.mktemp("fuzz") / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"\0" * 16)
    (folder / "tokenizer_config.json").write_text('{"model_max_length": 1000000000000000019884624838656}')
    return folder


@FUZZ
@given(content=st.binary(max_size=300) | TREES.map(_dump) | OBJECTS.map(_dump) | NESTED)
def test_model_config(model_folder: Path, content: Any):
    from ftaudit.cache import _recorded_base
    from ftaudit.modeling import locate, recorded_base, refuse_remote_code

    path = model_folder / "config.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    files = contained(lambda: locate(str(model_folder), "model", allow_pickle=False))
    if files is not None:
        assert isinstance(files.config, dict)
        ref, reason = recorded_base(files)
        assert ref is None or Path(ref).expanduser().is_dir()
        assert ref is not None or reason
        contained(lambda: refuse_remote_code(model_folder, "model", trust_remote_code=False))
    cached = _recorded_base(str(model_folder))  # the cache key's view of the base: a local folder or nothing
    assert cached is None or Path(cached).expanduser().is_dir()


@FUZZ
@given(content=st.binary(max_size=300) | TREES.map(_dump) | OBJECTS.map(_dump) | NESTED
       | st.lists(st.dictionaries(KEYS, SCALARS, max_size=4), max_size=6).map(lambda h: _dump({"log_history": h})))
def test_trainer_state(content: Any):
    from ftaudit.finetune import load_recorded_training

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trainer_state.json"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
        record = contained(load_recorded_training, Path(folder))
        if record is not None:
            assert len(record.step_loss) == len(record.step_lr) == len(record.loss_steps) > 0
            assert record.run.epochs >= 0 and record.run.steps >= 0 and record.run.batch_size >= 0


def _record_files(folder: Path) -> dict[str, Any]:
    import numpy as np

    np.savez_compressed(folder / "ftaudit_training.npz", step_loss=np.array([0.7, 0.6]), step_lr=np.array([1e-5, 2e-5]),
                        loss_steps=np.array([1, 2]))
    return {"version": 1, "source": "trainer callback", "seed": 0, "epochs": 1, "steps": 2, "batch_size": 8,
            "lr": 1e-5, "seconds": 1.0, "label_names": ["negative", "positive"], "grad_layers": [], "texts": None,
            "nonfinite_step": None, "frozen_encoder": False, "eval_name": "", "eval_accuracy": None, "seed_runs": []}


META_KEYS = ["version", "source", "seed", "epochs", "steps", "batch_size", "lr", "seconds", "label_names",
             "grad_layers", "texts", "nonfinite_step", "frozen_encoder", "eval_name", "eval_accuracy", "seed_runs"]


@FUZZ
@given(content=st.binary(max_size=300) | TREES.map(_dump) | NESTED,
       changes=st.dictionaries(st.sampled_from(META_KEYS), TREES, max_size=3) | OBJECTS,
       which=st.sampled_from(["json", "changes", "npz"]))
def test_training_record(content: Any, changes: dict, which: str):
    from ftaudit.training_run import TrainingRecord

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        meta = _record_files(folder)
        text = _dump({**meta, **changes}) if which == "changes" else _dump(meta)
        (folder / "ftaudit_training.json").write_text(text)
        raw = content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
        if which == "json":
            (folder / "ftaudit_training.json").write_bytes(raw)
        elif which == "npz":
            (folder / "ftaudit_training.npz").write_bytes(raw)
        record = contained(TrainingRecord.load, folder)
        if record is not None:
            assert len(record.step_loss) == len(record.loss_steps) and record.run.epochs >= 1


def _real_gap_entry() -> tuple[type, dict]:
    from ftaudit.probes.registry import result_kinds

    data = json.loads(RESULT.read_text())
    gap = next(p for p in data["probes"] if p["name"] == "gap")["result"]
    return result_kinds()[gap["kind"]], gap


def _mutate(tree: Any, path: list[int], value: Any) -> Any:
    """`tree` with the node that `path` picks (indices into sorted keys / list items) replaced by `value`."""
    if not path or not isinstance(tree, (dict, list)) or not tree:
        return value
    if isinstance(tree, dict):
        keys = sorted(tree)
        key = keys[path[0] % len(keys)]
        return {**tree, key: _mutate(tree[key], path[1:], value)}
    i = path[0] % len(tree)
    return tree[:i] + [_mutate(tree[i], path[1:], value)] + tree[i + 1:]


@FUZZ
@given(content=st.binary(max_size=200) | TREES.map(_dump) | NESTED, path=st.lists(st.integers(0, 50), max_size=6),
       value=TREES, how=st.sampled_from(["bytes", "mutated", "mutated-and-signed"]))
def test_cache_entries(tmp_path_factory, content: Any, path: list[int], value: Any, how: str):
    from ftaudit.cache import AuditCache, _digest

    result_type, gap = _real_gap_entry()
    root = tmp_path_factory.mktemp("cache")
    cache = AuditCache(root, "k" * 24, resume=True)
    entry = root / "runs" / cache.key / "probes" / "gap.json"
    entry.parent.mkdir(parents=True)
    if how == "bytes":
        entry.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    else:
        data = {"format": 1, "fingerprint": cache.key, "kind": gap["kind"], "seconds": 1.0,
                "result": _mutate(gap, path, value)}
        if how == "mutated-and-signed":
            try:
                data["digest"] = _digest(data)
            except ValueError:  # NaN in the tree: the cache itself never writes one
                return
        entry.write_text(_dump(data))
    hit = cache.get("gap", result_type)  # never raises: a bad entry is computed again
    if hit is None:
        assert cache.rejected, "a rejected entry is reported"
    else:
        assert isinstance(hit.result, result_type) and how == "mutated-and-signed"


@REPORT_FUZZ
@given(content=st.binary(max_size=200) | TREES.map(_dump) | OBJECTS.map(_dump) | NESTED,
       path=st.lists(st.integers(0, 60), min_size=1, max_size=7), value=TREES,
       how=st.sampled_from(["bytes", "mutated", "mutated", "same-type"]))
def test_report_on_any_result_json(cli, tmp_path_factory, content: Any, path: list[int], value: Any, how: str):
    folder = tmp_path_factory.mktemp("report")
    target = folder / "result.json"
    if how == "bytes":
        target.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    else:
        data = json.loads(RESULT.read_text())
        if how == "same-type":  # a value of the type the field already has: only the renderers can trip on it
            value = _same_type(_pick(data, path), value)
        target.write_text(_dump(_mutate(data, path, value)))
    res = cli("report", str(target), "--out", str(folder / "out"), "--quiet")
    assert res.code in (0, 1, 2), res.err
    assert "Traceback" not in res.err and len(res.err.splitlines()) <= 1, res.err
    if res.code == 2:
        assert res.err.startswith("ftaudit: error: ")


def _pick(tree: Any, path: list[int]) -> Any:
    if not path or not isinstance(tree, (dict, list)) or not tree:
        return tree
    if isinstance(tree, dict):
        keys = sorted(tree)
        return _pick(tree[keys[path[0] % len(keys)]], path[1:])
    return _pick(tree[path[0] % len(tree)], path[1:])


def _same_type(old: Any, new: Any) -> Any:
    if isinstance(old, bool):
        return bool(new)
    if isinstance(old, (int, float)):
        return new if isinstance(new, (int, float)) and not isinstance(new, bool) else -1
    if isinstance(old, str):
        return new if isinstance(new, str) else ""
    if isinstance(old, list):
        return old[: len(str(new)) % (len(old) + 1)]
    return old
