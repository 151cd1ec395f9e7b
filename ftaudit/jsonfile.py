"""Read JSON files from a user's folders (config.json, trainer_state.json, ftaudit's own records) safely.

`read_json` refuses what would crash a plain `json.loads` later: unreadable files, bytes that are not UTF-8,
invalid JSON, nesting deeper than MAX_DEPTH, non-finite or oversized numbers. `Fields` then reads typed values
with the file and the field named in every error, so a bad file always ends as one UsageError (exit 2).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Mapping

from ftaudit.errors import UsageError

MAX_DEPTH = 64  # transformers' own configs nest 3-4 levels; 64 is far from the interpreter's recursion limit
MAX_BYTES = 64 << 20  # a config or a state file; a bigger one is not what ftaudit reads
INT_LIMIT = 2 ** 63  # integers beyond int64 are refused: numpy and torch cannot hold them


def read_bytes(path: Path, what: str, *, limit: int | None = None) -> bytes:
    """The bytes of a user's file; permission, folder and I/O problems are UsageErrors naming the file."""
    try:
        with open(path, "rb") as f:
            data = f.read() if limit is None else f.read(limit + 1)
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist", "check the path") from None
    except PermissionError:
        raise UsageError(f"cannot read {path}: permission denied",
                         "make the file readable by this user (chmod u+r), or run as a user who may read it") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {path} is a folder, not a file", "restore the file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}", "check the file and the disk") from None
    if limit is not None and len(data) > limit:
        raise UsageError(f"{what} {path} is larger than {limit >> 20} MiB", "restore the file written by its tool")
    return data


def check_readable(path: Path) -> None:
    """Open `path` for reading once, so a permission problem is reported before anything else reads it."""
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        raise UsageError(f"cannot read {path}: permission denied",
                         "make the file readable by this user (chmod u+r), or run as a user who may read it") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}", "check the file and the disk") from None


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting of a JSON text, counted outside strings (no recursion)."""
    depth = deepest = 0
    for match in _BRACKET_OR_STRING.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


_BRACKET_OR_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]')


def _bad_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _checked_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large for a number")
    return value


def parse_json(text: str, where: str, fix: str, *, max_depth: int = MAX_DEPTH, allow_nan: bool = False) -> Any:
    """json.loads with a depth limit, finite numbers and no NaN (unless `allow_nan`); UsageError naming `where`.

    Integers stay unbounded here (tokenizer configs write 10**30 for "no limit"); `Fields.get_int` bounds them.
    """
    if nesting_depth(text) > max_depth:
        raise UsageError(f"{where} is nested too deeply (more than {max_depth} levels)", fix)
    try:
        if allow_nan:
            return json.loads(text)
        return json.loads(text, parse_constant=_bad_constant, parse_float=_checked_float)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{where} is not valid JSON ({str(exc).splitlines()[0][:160]})", fix) from None


def read_json(path: Path, what: str, *, fix: str = "restore the file written by its tool",
              max_bytes: int = MAX_BYTES, allow_nan: bool = False) -> Any:
    """A JSON file from a user's folder, checked as `parse_json` does; `what` names it in errors."""
    data = read_bytes(path, what, limit=max_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text", fix) from None
    return parse_json(text, str(path), fix, allow_nan=allow_nan)


class Fields:
    """Typed access to one JSON object of a file: `get_str`, `get_int`, ... name the file and field in errors."""

    def __init__(self, data: Any, file: Path | str, *, where: str = "", fix: str = "restore the file") -> None:
        self.file, self.where, self.fix = str(file), where, fix
        if not isinstance(data, Mapping):
            raise UsageError(f"{self._name('')} must be a JSON object, got {_kind(data)}", fix)
        self.data = data

    def _name(self, key: str) -> str:
        path = ".".join(p for p in (self.where, key) if p)
        return f"{self.file}: field {path}" if path else self.file

    def _bad(self, key: str, expected: str) -> UsageError:
        return UsageError(f"{self._name(key)} must be {expected}, got {_kind(self.data[key])}", self.fix)

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def raw(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def _get(self, key: str, default: Any, required: bool, kind: type, expected: str) -> Any:
        """The value at `key` when it is a `kind` (bool is not an int here); the default when absent."""
        if not self.has(key):
            return self._missing(key, default, required)
        value = self.data[key]
        if not isinstance(value, kind):
            raise self._bad(key, expected)
        return value

    def get_str(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        return self._get(key, default, required, str, "a string")

    def get_int(self, key: str, default: int | None = None, *, required: bool = False, minimum: int | None = None,
                integral_float: bool = False) -> int | None:
        if not self.has(key):
            return self._missing(key, default, required)
        value = self.data[key]
        if integral_float and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or abs(value) >= INT_LIMIT:
            raise self._bad(key, "an integer")
        if minimum is not None and value < minimum:
            raise UsageError(f"{self._name(key)} must be at least {minimum}, got {value}", self.fix)
        return value

    def get_float(self, key: str, default: float | None = None, *, required: bool = False,
                  finite: bool = True) -> float | None:
        if not self.has(key):
            return self._missing(key, default, required)
        value = self.data[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise self._bad(key, "a number")
        try:
            number = float(value)
        except OverflowError:
            raise self._bad(key, "a number of float range") from None
        if finite and not math.isfinite(number):
            raise self._bad(key, "a finite number")
        return number

    def get_bool(self, key: str, default: bool | None = None, *, required: bool = False) -> bool | None:
        return self._get(key, default, required, bool, "true or false")

    def get_list(self, key: str, *, required: bool = False) -> list[Any] | None:
        return self._get(key, None, required, list, "a list")

    def get_strings(self, key: str, *, required: bool = False) -> tuple[str, ...] | None:
        values = self.get_list(key, required=required)
        if values is None:
            return None
        if not all(isinstance(v, str) for v in values):
            raise UsageError(f"{self._name(key)} must be a list of strings", self.fix)
        return tuple(values)

    def get_object(self, key: str, *, required: bool = False) -> "Fields | None":
        if not self.has(key):
            return self._missing(key, None, required)
        return Fields(self.data[key], self.file, where=".".join(p for p in (self.where, key) if p), fix=self.fix)

    def objects(self, key: str) -> list["Fields"]:
        """Each element of the list `key` as Fields (`key[i]` in errors); [] when absent."""
        values = self.get_list(key) or []
        prefix = ".".join(p for p in (self.where, key) if p)
        return [Fields(v, self.file, where=f"{prefix}[{i}]", fix=self.fix) for i, v in enumerate(values)]

    def _missing(self, key: str, default: Any, required: bool) -> Any:
        if required:
            raise UsageError(f"{self._name(key)} is missing", self.fix)
        return default


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"[:60]
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "…"
        return f"the string {shown!r}"
    return {"list": "a list", "dict": "an object"}.get(type(value).__name__, type(value).__name__)
