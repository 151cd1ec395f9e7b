"""Finished probe results and curve points kept on disk, so an interrupted audit resumes (`--resume`).

Layout, next to --out (the same hidden folder the curve probes keep their points in):

    <parent of --out>/.ftaudit-cache/runs/<key>/probes/<probe>.json
    <parent of --out>/.ftaudit-cache/runs/<key>/points/<hash of the point's key>.json

`key` hashes what decides the measurements: the model, base and data files (whole content of files up to
16 MiB; size, mtime and the first and last MiB of larger ones), the options of [data], [model], [train] and
[run] apart from --probes, --strict and --resume, every probe's options, and the ftaudit version. Thresholds,
--fail-on and --out are left out: they change the verdict, not the measurements.

Every run writes its finished probes there as they finish; only a run with --resume reads them. Each entry records
the run key it was made for and a sha256 of its content; an entry read back must match both and decode against its
result type's schema, else it is computed again and the report's notes say so (this finds damaged, edited and
misplaced entries; it is no defence against someone who may write to the folder and recomputes the checksum). The folder is
removed once a report has been written, and kept when a run is interrupted or crashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ftaudit import __version__
from ftaudit.context import StashKey
from ftaudit.errors import UsageError
from ftaudit.jsonfile import parse_json, read_json
from ftaudit.results import ProbeResult, _decode, _decode_dataclass, _encode

if TYPE_CHECKING:
    from ftaudit.config import AuditConfig

CACHE_DIR = ".ftaudit-cache"
FORMAT = 1  # bump when the stored layout changes
WHOLE_FILE_LIMIT = 16 << 20  # files up to this size are hashed whole
EDGE = 1 << 20  # larger ones: size, mtime, and this many bytes from each end
MAX_FILES = 10_000  # a folder with more files than this is fingerprinted by its first MAX_FILES names


@dataclass(frozen=True)
class CachedProbe:
    """A probe result read back from the cache, with the seconds it took when it was computed."""

    result: ProbeResult
    seconds: float


class CachePoint:
    """One cached value (e.g. a learning-curve point): `get(type)` returns it or None, `put(value)` stores it.

    Values are dataclasses, numbers, strings, lists and mappings, stored as JSON with ftaudit.results' encoding.
    """

    def __init__(self, cache: "AuditCache", digest: str) -> None:
        self.cache = cache
        self.digest = digest

    def get(self, tp: Any = Any) -> Any:
        data = self.cache._read(("points", self.digest))
        if data is None:
            return None
        try:
            return _decode(tp, data["value"], where="value")
        except (KeyError, TypeError, ValueError) as exc:  # SchemaError is a ValueError
            self.cache._reject(f"a cached curve point ({self.digest[:8]})", str(exc))
            return None

    def put(self, value: Any) -> None:
        self.cache._write(("points", self.digest), {"value": _encode(value)})


class AuditCache:
    """Probe results and points of one run key under `root`; a None root caches nothing."""

    def __init__(self, root: Path | None, key: str | Callable[[], str], *, resume: bool) -> None:
        self.root = root
        self._key = key
        self.resume = resume
        self.reused: list[str] = []  # probes whose results came from the cache in this run
        self.stored: list[str] = []  # probes this run wrote to the cache
        self.problem = ""  # why writing stopped (a full disk, a read-only folder), if it did
        self.rejected: list[str] = []  # cached entries that failed their checks and were computed again, and why

    @classmethod
    def for_config(cls, config: "AuditConfig") -> "AuditCache":
        """The cache next to --out; the key is computed when first needed (after the data were validated)."""
        root = Path(config.output.out).expanduser().resolve().parent / CACHE_DIR
        return cls(root, lambda: run_key(config), resume=config.run.resume)

    @classmethod
    def disabled(cls) -> "AuditCache":
        return cls(None, "", resume=False)

    @property
    def key(self) -> str:
        if callable(self._key):
            self._key = self._key()
        return self._key

    @property
    def folder(self) -> Path | None:
        return None if self.root is None else self.root / "runs" / self.key

    # ------------------------------------------------------------------ probes

    def get(self, name: str, result_type: type[ProbeResult]) -> CachedProbe | None:
        """The finished result of probe `name` (only with --resume), or None."""
        if not self.resume:
            return None
        data = self._read(("probes", name))
        if data is None:
            return None
        try:
            if data.get("kind") != result_type.kind:
                raise ValueError(f"it holds a {str(data.get('kind'))[:40]!r} result, not {result_type.kind!r}")
            result = _decode_dataclass(result_type, data["result"], where="result")
            seconds = data.get("seconds", 0.0)
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not seconds >= 0:
                raise ValueError("field seconds is not a duration")
        except (KeyError, TypeError, ValueError) as exc:  # SchemaError is a ValueError
            self._reject(f"the cached result of {name}", str(exc))
            return None
        self.reused.append(name)
        return CachedProbe(result=result, seconds=float(seconds))

    def put(self, name: str, result: ProbeResult, seconds: float) -> None:
        if self._write(("probes", name), {"kind": type(result).kind, "seconds": seconds, "result": _encode(result)}):
            self.stored.append(name)

    # ------------------------------------------------------------------ points

    def point(self, key: Mapping[str, Any] | str) -> CachePoint:
        """A slot for one value named by `key` (a string, or a JSON-able mapping of what decides the value).

        Like probe results, a stored point is read back only with --resume.
        """
        text = key if isinstance(key, str) else json.dumps(_encode(key), sort_keys=True)
        return CachePoint(self, hashlib.sha256(text.encode()).hexdigest()[:32])

    # ------------------------------------------------------------------ files

    def _path(self, parts: tuple[str, str]) -> Path | None:
        folder = self.folder
        if folder is None:
            return None
        kind, name = parts
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return folder / kind / f"{safe}.json"

    def _read(self, parts: tuple[str, str]) -> dict[str, Any] | None:
        path = self._path(parts)
        if path is None or (parts[0] == "points" and not self.resume):
            return None
        if not path.exists():
            return None
        what = f"the cached {'result of' if parts[0] == 'probes' else 'point'} {parts[1][:40]}"
        try:
            data = parse_json(path.read_text(encoding="utf-8"), str(path), "")
        except (OSError, ValueError, UsageError) as exc:  # torn by a crash, unreadable, or not JSON
            self._reject(what, getattr(exc, "problem", None) or type(exc).__name__)
            return None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            self._reject(what, "it was written in another format")
            return None
        if data.get("fingerprint") != self.key:
            self._reject(what, "it was made for other inputs or settings than this run's")
            return None
        if data.get("digest") != _digest(data):
            self._reject(what, "its content does not match its checksum (edited or damaged)")
            return None
        return data

    def _reject(self, what: str, why: str) -> None:
        self.rejected.append(f"{what} was not reused ({why[:160]}) and was computed again")

    def _write(self, parts: tuple[str, str], data: dict[str, Any]) -> bool:
        path = self._path(parts)
        if path is None or self.problem:
            return False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
            entry = {"format": FORMAT, "fingerprint": self.key, **data}
            entry["digest"] = _digest(entry)
            tmp.write_text(json.dumps(entry, allow_nan=False), encoding="utf-8")
            os.replace(tmp, path)  # a reader sees the whole entry or none
        except (OSError, ValueError) as exc:
            self.problem = f"finished probes could not be kept for --resume ({getattr(exc, 'strerror', None) or exc})"
            return False
        return True

    def clear(self) -> None:
        """Remove this key's entries, then the cache folders that are left empty."""
        if self.root is None or callable(self._key):  # the key was never needed: nothing was written
            return
        folder = self.root / "runs" / self._key
        if not folder.exists():
            return
        shutil.rmtree(folder, ignore_errors=True)
        for empty in (folder.parent, folder.parent.parent):
            try:
                empty.rmdir()
            except OSError:
                break  # not empty (other runs, curve points) or already gone

    def kept_message(self) -> str:
        """What an interrupted run says about the results it kept."""
        if not self.stored or self.folder is None:
            return ""
        names = ", ".join(self.stored)
        return f"the finished probes ({names}) are kept in {self.folder}: rerun with --resume to reuse them"


def _digest(entry: Mapping[str, Any]) -> str:
    """sha256 of an entry without its digest, in canonical JSON: finds damaged and hand-edited entries."""
    body = {k: v for k, v in entry.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, allow_nan=False).encode()).hexdigest()


CACHE: StashKey[AuditCache] = StashKey("audit-cache")


def cache_of(ctx: Any) -> AuditCache:
    """The run's cache from the context's stash; a disabled one for contexts built without (tests, notebooks)."""
    stash = getattr(ctx, "stash", None)
    if stash is not None and CACHE in stash:
        return stash[CACHE]
    return AuditCache.disabled()


# --------------------------------------------------------------------------- the key


def file_digest(path: Path) -> str:
    """Content hash of a file up to WHOLE_FILE_LIMIT; else of its size, mtime and first and last EDGE bytes."""
    stat = path.stat()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        if stat.st_size <= WHOLE_FILE_LIMIT:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        else:
            h.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
            h.update(f.read(EDGE))
            f.seek(-EDGE, os.SEEK_END)
            h.update(f.read(EDGE))
    return h.hexdigest()


def ref_digest(ref: str | None) -> str:
    """A file, a folder (its files, recursively, hidden ones skipped) or a hub id (the id itself)."""
    if not ref:
        return ""
    path = Path(ref).expanduser()
    try:
        if path.is_file():
            return "file:" + file_digest(path)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file()
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))[:MAX_FILES]
            h = hashlib.sha256()
            for p in files:
                h.update(f"{p.relative_to(path).as_posix()}={file_digest(p)};".encode())
            return "dir:" + h.hexdigest()
    except (OSError, ValueError) as exc:
        return f"unreadable:{ref}:{type(exc).__name__}"
    return "ref:" + ref


NOT_IN_KEY = {"run": ("probes", "strict", "resume")}


def _recorded_base(model: str | None) -> str | None:
    """The base a local checkpoint records in its config.json (what drift compares with when --base is absent)."""
    from ftaudit.modeling import BASE_KEY

    if not model:
        return None
    try:
        config = read_json(Path(model).expanduser() / "config.json", "model config")
    except (UsageError, OSError, ValueError):
        return None
    for key in (BASE_KEY, "_name_or_path"):
        value = config.get(key) if isinstance(config, dict) else None
        if isinstance(value, str) and value and "\0" not in value:
            return value if Path(value).expanduser().is_dir() else None  # a hub id is never fetched (drift skips)
    return None


def run_key(config: "AuditConfig") -> str:
    """Hash of the files and the settings that decide the measurements (see the module docstring)."""
    settings = config.to_dict()
    for section in ("output", "thresholds"):
        settings.pop(section, None)
    for section, names in NOT_IN_KEY.items():
        for name in names:
            settings[section].pop(name, None)
    d, m = config.data, config.model
    files = {name: ref_digest(ref) for name, ref in
             (("train", d.train), ("test", d.test), ("validation", d.validation), ("model", m.model),
              ("base", m.base or _recorded_base(m.model)))}
    text = json.dumps({"format": FORMAT, "version": __version__, "settings": settings, "files": files},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]
