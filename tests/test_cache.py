"""The resume cache: what its key covers, how entries are read back, and that every probe's result survives it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ftaudit.cache import CACHE_DIR, AuditCache, ref_digest, run_key
from ftaudit.config import load_config
from ftaudit.results import ProbeResult

@dataclasses.dataclass(frozen=True)
class Measured(ProbeResult):
    """A stand-in probe result with the field types real ones use."""

    kind = "measured"
    accuracy: float
    counts: tuple[int, ...]
    note: str | None = None
    nan: float | None = None


@dataclasses.dataclass(frozen=True)
class Other(ProbeResult):
    kind = "other"
    accuracy: float


SMALL_ATTRIBUTION = {"probes": {"attribution": {"examples": 16, "deletion_examples": 32, "max_steps": 32}}}


def config_for(tiny, tmp_path: Path, **sections):
    overrides = {"data": {"train": str(tiny["train"]), "test": str(tiny["test"])},
                 "model": {"model": str(tiny["good"])}, "output": {"out": str(tmp_path / "report")}}
    for name, values in sections.items():
        overrides[name] = {**overrides.get(name, {}), **values}
    return load_config(None, overrides, cwd=tmp_path)


def test_key_covers_files_and_measurement_settings_not_the_verdict(tiny, tmp_path):
    base = run_key(config_for(tiny, tmp_path))
    assert base == run_key(config_for(tiny, tmp_path))
    same = [config_for(tiny, tmp_path, output={"out": str(tmp_path / "elsewhere"), "fail_on": "warn"}),
            config_for(tiny, tmp_path, thresholds={"max_gap": 0.5}),
            config_for(tiny, tmp_path, run={"probes": ("gap",), "resume": True, "strict": True})]
    assert all(run_key(c) == base for c in same)
    copy = tmp_path / "train.csv"
    copy.write_bytes(Path(tiny["train"]).read_bytes())
    changed = [config_for(tiny, tmp_path, run={"seed": 1}),
               config_for(tiny, tmp_path, data={"max_length": 32}),
               config_for(tiny, tmp_path, **SMALL_ATTRIBUTION),
               config_for(tiny, tmp_path, model={"model": str(tiny["overfit"])})]
    assert len({run_key(c) for c in changed} | {base}) == len(changed) + 1
    before = run_key(config_for(tiny, tmp_path, data={"train": str(copy)}))
    with copy.open("a", encoding="utf-8") as f:
        f.write("one more good film,positive\n")
    assert run_key(config_for(tiny, tmp_path, data={"train": str(copy)})) != before


def test_ref_digest_reads_large_files_only_at_the_edges(tmp_path, monkeypatch):
    import ftaudit.cache as cache

    monkeypatch.setattr(cache, "WHOLE_FILE_LIMIT", 1000)
    monkeypatch.setattr(cache, "EDGE", 100)
    big = tmp_path / "big.bin"
    big.write_bytes(b"a" * 5000)
    first = ref_digest(str(big))
    with big.open("r+b") as f:  # the middle changes but size and mtime are restored: not seen, by design
        stat = big.stat()
        f.seek(2500)
        f.write(b"b")
    import os

    os.utime(big, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert ref_digest(str(big)) == first
    big.write_bytes(b"a" * 4999 + b"c")
    assert ref_digest(str(big)) != first
    assert ref_digest("org/hub-id") == "ref:org/hub-id"
    assert ref_digest(str(tmp_path / "missing.csv")) == f"ref:{tmp_path / 'missing.csv'}"


def test_entries_are_read_back_only_with_resume_and_survive_torn_files(tmp_path):
    cls = Measured
    root = tmp_path / CACHE_DIR
    writer = AuditCache(root, "k1", resume=False)
    result = Measured(accuracy=0.875, counts=(3, 4), note="<b>", nan=None)
    writer.put("gap", result, 1.5)
    assert writer.stored == ["gap"] and writer.get("gap", cls) is None, "without --resume nothing is read"
    reader = AuditCache(root, "k1", resume=True)
    hit = reader.get("gap", cls)
    assert hit is not None and hit.result == result and hit.seconds == 1.5 and reader.reused == ["gap"]
    assert AuditCache(root, "k2", resume=True).get("gap", cls) is None, "another key sees nothing"
    assert AuditCache(root, "k1", resume=True).get("gap", Other) is None, "another result kind is not taken"
    entry = root / "runs" / "k1" / "probes" / "gap.json"
    entry.write_text(entry.read_text()[:20])
    assert AuditCache(root, "k1", resume=True).get("gap", cls) is None, "a torn entry is recomputed"
    reader.clear()
    assert not root.exists(), "empty cache folders are removed"


def test_a_cache_that_cannot_be_written_stops_quietly(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = AuditCache(blocker / CACHE_DIR, "k", resume=True)
    cache.put("gap", Measured(accuracy=1.0, counts=()), 1.0)
    assert cache.stored == [] and "could not be kept" in cache.problem


def test_points_round_trip_dataclasses_and_clear_keeps_other_caches(tmp_path):
    @dataclasses.dataclass(frozen=True)
    class Point:
        size: int
        accuracy: float
        curve: tuple[float, ...]

    root = tmp_path / CACHE_DIR
    (root / "curves").mkdir(parents=True)
    (root / "curves" / "p.json").write_text("{}")
    cache = AuditCache(root, "k", resume=True)
    slot = cache.point({"probe": "learning-curve", "size": 64, "seed": 0})
    assert slot.get(Point) is None
    slot.put(Point(64, 0.75, (0.5, 0.75)))
    again = AuditCache(root, "k", resume=True).point({"seed": 0, "size": 64, "probe": "learning-curve"})
    assert again.get(Point) == Point(64, 0.75, (0.5, 0.75)), "the key's order does not matter"
    assert AuditCache(root, "k", resume=False).point({"probe": "learning-curve", "size": 64, "seed": 0}).get() \
        is None
    cache.clear()
    assert not (root / "runs").exists() and (root / "curves" / "p.json").exists()


def test_every_probe_result_survives_the_cache(tiny, tmp_path):
    """Audit once (filling the cache), then resume: every probe is reused and result.json is the same."""
    from ftaudit import output
    from ftaudit.pipeline import run_audit
    from ftaudit.results import to_dict

    config = config_for(tiny, tmp_path, **SMALL_ATTRIBUTION)
    staging = output.prepare(config.output.out, overwrite=False)
    try:
        first_cache = AuditCache.for_config(config)
        first = run_audit(config, staging, cache=first_cache)
        resumed = dataclasses.replace(config, run=dataclasses.replace(config.run, resume=True))
        cache = AuditCache.for_config(resumed)
        second = run_audit(resumed, staging, cache=cache)
    finally:
        staging.discard()
    ran = [o.name for o in first.probes if o.status == "ok"]
    assert len(ran) >= 5 and first_cache.stored == ran
    assert cache.reused == ran and not any(k.startswith("probe ") for k in second.run.phases)
    assert any("--resume" in n for n in second.run.notes)

    def normal(result):
        data = to_dict(result)
        data["run"] = {k: v for k, v in data["run"].items() if k not in ("started", "seconds", "phases", "notes",
                                                                          "config")}
        return json.dumps(data, sort_keys=True)

    assert normal(first) == normal(second)
    cache.clear()
    assert not (tmp_path / CACHE_DIR).exists()
