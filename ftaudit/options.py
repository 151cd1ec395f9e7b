"""Declared options: `opt()` declares one option once (default, help, flag), and the coercion of raw values.

A leaf module (no registry, no torch): config sections and probes' `Options` both declare their fields with `opt`,
and `build_section` turns a TOML table or CLI overrides into one of those frozen dataclasses, with a one-line
UsageError for every wrong name or type.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import field
from typing import Any, Mapping

from ftaudit.errors import UsageError


INT_LIMIT = 2 ** 63  # integer options beyond int64 are refused: numpy and torch cannot hold them


def opt(default: Any, help: str, *, flag: str | None = None, choices: tuple[str, ...] | None = None,
        metavar: str | None = None, short: str | None = None, weakens_safety: bool = False) -> Any:
    """Declare one option: its default, its help line and (optionally) its CLI flag, short flag and choices.

    A help line that states the default itself ("default: ...", "by default") is shown as written.
    `weakens_safety` marks an option that lets untrusted files run code (remote code, pickles): it is taken from the
    command line or the Python API only, never from a config file (`refuse_unsafe_from_file`).
    """
    meta = {"help": help, "flag": flag, "choices": choices, "metavar": metavar, "short": short,
            "weakens_safety": weakens_safety}
    if isinstance(default, (list, dict, set)):
        raise TypeError("use tuples or mappings proxies for defaults")
    return field(default=default, metadata=meta)


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against the annotation `tp`; accept ints for floats and comma strings for tuples."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce(value, inner[0], where)
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise UsageError(f"{where} must be a list, got {value!r}", "write it as a list or comma-separated")
        (inner,) = typing.get_args(tp)[:1]
        return tuple(coerce(v, inner, where) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise UsageError(f"{where} must be true or false, got {value!r}", f"set {where} = true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) >= INT_LIMIT:
                raise UsageError(f"{where} is out of range ({str(value)[:30]})", f"set {where} to a smaller number")
            return value
        raise UsageError(f"{where} must be an integer, got {value!r}", f"set {where} to a whole number")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise UsageError(f"{where} must be a number, got {value!r}", f"set {where} to a finite number")
    if tp is str:
        if isinstance(value, str):
            if "\0" in value:
                raise UsageError(f"{where} holds a NUL character", f"remove it from {where}")
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise UsageError(f"{where} must be a string, got {value!r}", f"quote the value of {where}")
    return value


def build_section(cls: type, values: Mapping[str, Any], where: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise UsageError(f"unknown option {where}.{unknown[0]}",
                         f"valid options in [{where}] are: {', '.join(sorted(names))}")
    hints = typing.get_type_hints(cls)
    kwargs = {k: coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    for f in dataclasses.fields(cls):
        choices = f.metadata.get("choices")
        if choices and f.name in kwargs and kwargs[f.name] not in choices:
            raise UsageError(f"{where}.{f.name} must be one of {', '.join(choices)}, got {kwargs[f.name]!r}",
                             f"set {where}.{f.name} to one of: {', '.join(choices)}")
    return cls(**kwargs)


def refuse_unsafe_from_file(cls: type, table: str, from_file: Mapping[str, Any], source: str) -> None:
    """UsageError when the config file `source` set (in `from_file`, its table `table`) an option of `cls` declared
    with `weakens_safety`: running ftaudit inside someone's repository must never be enough to run its code."""
    for f in dataclasses.fields(cls):
        if f.metadata.get("weakens_safety") and f.name in from_file:
            flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
            raise UsageError(f"config file {source} sets {table}.{f.name}, an option that weakens safety, which "
                             "ftaudit takes only from the command line",
                             f"remove it from {source}, and pass {flag} on the command line when you trust the model")
