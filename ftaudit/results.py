"""AuditResult and its JSON form: the single source of truth every renderer reads.

Everything here is plain data (frozen dataclasses, numbers, strings) and imports neither torch nor
transformers, so `ftaudit report result.json` works on a machine without them.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

SCHEMA_VERSION = "1.1"  # 1.1: the dynamics result records margins; the label-noise rule flags


class ExitCode(enum.IntEnum):
    """Process exit codes of the `ftaudit` command."""

    OK = 0  # every gate passed
    GATE_FAILED = 1  # at least one finding at or above --fail-on
    USAGE_ERROR = 2  # bad input: a file, a column, an option; nothing was written
    INTERNAL_ERROR = 3  # a bug in ftaudit; please report it with the traceback from --strict
    INTERRUPTED = 130  # Ctrl-C or SIGTERM; the output folder was left as it was


class Severity(str, enum.Enum):
    """Outcome of one rule. Ordered: pass < warn < fail < error; skip is outside the order."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"  # the probe behind the rule crashed, so the rule could not judge
    SKIP = "skip"  # the probe behind the rule did not run (and says why)

    @property
    def rank(self) -> int:
        return {"skip": -1, "pass": 0, "warn": 1, "fail": 2, "error": 3}[self.value]


@dataclass(frozen=True)
class ProbeResult:
    """Base of every probe's typed result; subclasses register themselves by `kind`."""

    kind: ClassVar[str] = "probe"


@dataclass(frozen=True)
class ProbeOutcome:
    """What happened to one probe: its result, or why it was skipped, or the error it raised."""

    name: str
    status: str  # "ok" | "skipped" | "error"
    seconds: float = 0.0
    result: ProbeResult | None = None
    reason: str = ""  # why skipped, or the error message


@dataclass(frozen=True)
class Finding:
    """One rule's judgement: a stable code, a severity, a message that states the fact, the numbers behind it."""

    code: str
    severity: Severity
    message: str
    probe: str
    summary: str = ""  # the rule's one-line description
    numbers: Mapping[str, float | int | str | None] = field(default_factory=dict)
    threshold: float | None = None
    threshold_name: str | None = None


@dataclass(frozen=True)
class Remedy:
    action: str
    reason: str
    reference: str = ""


@dataclass(frozen=True)
class RootCause:
    """A diagnosed cause with the findings for and against it."""

    code: str
    confidence: float  # 0..1
    summary: str
    evidence: tuple[str, ...] = ()  # one sentence per supporting finding, with its numbers
    against: tuple[str, ...] = ()  # findings that argue against this cause
    remedies: tuple[Remedy, ...] = ()
    findings: tuple[str, ...] = ()  # the codes of the supporting findings
    title: str = ""  # human name of the cause ("Learning rate too high")


@dataclass(frozen=True)
class Noticed:
    """A cause its findings support but whose measured impact does not: listed, not named as a root cause."""

    code: str
    title: str
    why: str  # what the impact measurement showed (no cost beyond noise, or nothing to measure it on)
    evidence: tuple[str, ...] = ()  # the supporting findings, one sentence each, with their numbers
    findings: tuple[str, ...] = ()  # their codes


@dataclass(frozen=True)
class Diagnosis:
    verdict: str  # one sentence for the top of the report
    root_causes: tuple[RootCause, ...] = ()
    also_noticed: tuple[Noticed, ...] = ()  # supported causes without a measured impact, strongest first


@dataclass(frozen=True)
class GateResult:
    fail_on: str
    passed: bool
    failing: tuple[str, ...] = ()  # codes of the findings at or above fail_on


@dataclass(frozen=True)
class RunInfo:
    ftaudit_version: str
    started: str  # ISO 8601, UTC
    seconds: float
    device: str
    seed: int
    mode: str  # "existing-model" | "fine-tune"
    model: str
    base: str | None
    train: str
    test: str
    labels: tuple[str, ...]
    config: Mapping[str, Any] = field(default_factory=dict)
    phases: Mapping[str, float] = field(default_factory=dict)  # wall seconds per phase
    notes: tuple[str, ...] = ()  # things the reader should know (sampling, label mapping, ...)


@dataclass(frozen=True)
class AuditResult:
    run: RunInfo
    probes: tuple[ProbeOutcome, ...]
    findings: tuple[Finding, ...]
    diagnosis: Diagnosis
    gate: GateResult
    schema_version: str = SCHEMA_VERSION

    def probe(self, name: str) -> ProbeResult | None:
        for outcome in self.probes:
            if outcome.name == name and outcome.status == "ok":
                return outcome.result
        return None

    def outcome(self, name: str) -> ProbeOutcome | None:
        return next((o for o in self.probes if o.name == name), None)

    def findings_at_least(self, level: Severity) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity.rank >= level.rank)

    @property
    def root_causes(self) -> tuple["RootCause", ...]:
        return self.diagnosis.root_causes

    @property
    def passed(self) -> bool:
        """Whether the gate passed (no finding at or above --fail-on)."""
        return self.gate.passed

    def to_json(self) -> str:
        """result.json's text."""
        return to_json(self)


# --------------------------------------------------------------------------- JSON


INLINE = {"inline": True}  # field metadata: the embedded dataclass's fields sit in the parent's JSON object


def _encode_fields(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(value):
        encoded = _encode(getattr(value, f.name))
        if f.metadata.get("inline"):
            out.update(encoded)
        else:
            out[f.name] = encoded
    return out


def _encode(value: Any) -> Any:
    if isinstance(value, ProbeResult):
        return {"kind": type(value).kind, **_encode_fields(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode_fields(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # JSON has no NaN; None reads as "not defined"
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _encode(value.item())
    return value


class SchemaError(ValueError):
    """A JSON value that does not have the type the schema gives its field; `field` is its dotted path."""

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field or "(top level)", problem
        super().__init__(f"field {self.field} {problem}")


Kinds = Mapping[str, "type[ProbeResult]"]  # `kind` -> result dataclass; the probe registry supplies it


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def _decode(tp: Any, value: Any, kinds: Kinds = types.MappingProxyType({}), *, where: str = "") -> Any:
    """`value` (parsed JSON) as the annotation `tp`; SchemaError naming the field `where` when its type is wrong.

    A field typed as the abstract ProbeResult is looked up in `kinds`. None is read as None for optional fields and
    for floats (JSON has no NaN: `_encode` writes None for it).
    """
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        for a in args:  # a scalar that is already of one of the types stays as it is
            if a in (int, float, str, bool) and _is(a, value):
                return value
        if float in args and _is(float, value):
            return float(value)
        return _decode(args[0], value, kinds, where=where)
    if value is None:
        if tp is float or (isinstance(tp, type) and issubclass(tp, ProbeResult)):
            return None
        raise SchemaError(where, f"must be {_expected(tp)}, got null")
    if origin is tuple or origin is list or tp in (tuple, list):
        if not isinstance(value, list):
            raise SchemaError(where, f"must be a list, got {_shown(value)}")
        args = typing.get_args(tp)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                raise SchemaError(where, f"must be a list of {len(args)} values, got {len(value)}")
            return tuple(_decode(a, v, kinds, where=f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        inner = args[0] if args else Any
        items = [_decode(inner, v, kinds, where=f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list or tp is list else tuple(items)
    if origin in (dict, Mapping, typing.Mapping) or tp in (dict, Mapping):
        if not isinstance(value, dict):
            raise SchemaError(where, f"must be an object, got {_shown(value)}")
        args = typing.get_args(tp)
        vt = args[1] if len(args) == 2 else Any
        return {k: _decode(vt, v, kinds, where=f"{where}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except (ValueError, TypeError):
            raise SchemaError(where, f"must be one of {', '.join(str(m.value) for m in tp)}, got {_shown(value)}") \
                from None
    if tp is ProbeResult or (isinstance(tp, type) and issubclass(tp, ProbeResult) and isinstance(value, dict)
                             and "kind" in value):
        if not isinstance(value, dict):
            raise SchemaError(where, f"must be an object, got {_shown(value)}")
        kind = value.get("kind")
        concrete = tp is not ProbeResult and kind == getattr(tp, "kind", None)
        cls = tp if concrete else (kinds.get(kind) if isinstance(kind, str) else None)
        if cls is None:
            raise SchemaError(f"{where}.kind", f"names no known probe result ({_shown(kind)})")
        upgrade = getattr(cls, "upgrade", None)  # a result type reads its own older shapes
        return _decode_dataclass(cls, upgrade(value) if upgrade else value, kinds, where=where)
    if dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, value, kinds, where=where)
    if tp in (int, float, str, bool):
        if not _is(tp, value):
            raise SchemaError(where, f"must be {_expected(tp)}, got {_shown(value)}")
        return float(value) if tp is float else value
    return value


def _is(tp: type, value: Any) -> bool:
    if tp is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if tp is float:
        return isinstance(value, (int, float))
    return isinstance(value, tp)


def _expected(tp: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, "a value")


def _decode_dataclass(cls: type, data: Any, kinds: Kinds = types.MappingProxyType({}), *, where: str = "") -> Any:
    if not isinstance(data, dict):
        raise SchemaError(where, f"must be an object, got {_shown(data)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        name = f"{where}.{f.name}" if where else f.name
        if f.metadata.get("inline"):  # an embedded dataclass whose fields sit at this level of the JSON
            kwargs[f.name] = _decode_dataclass(hints[f.name], data, kinds, where=where)
        elif f.name in data:
            kwargs[f.name] = _decode(hints[f.name], data[f.name], kinds, where=name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SchemaError(name, "is missing")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # a dataclass's own __post_init__ check
        raise SchemaError(where, f"is not valid ({str(exc).splitlines()[0][:120]})") from None


def to_dict(result: AuditResult) -> dict[str, Any]:
    data = _encode(result)
    data["schema_version"] = result.schema_version
    return data


def to_json(result: AuditResult) -> str:
    return json.dumps(to_dict(result), indent=2, sort_keys=False, allow_nan=False) + "\n"


def from_dict(data: Mapping[str, Any], *, kinds: Kinds) -> AuditResult:
    """The AuditResult in `data`, every field checked against the schema of its version (SchemaError names the
    field); `kinds` maps each probe result's `kind` to its class (probes.registry)."""
    if not isinstance(data, Mapping):
        raise SchemaError("", f"must be an object, got {_shown(data)}")
    version = data.get("schema_version", "")
    if not isinstance(version, str):
        raise SchemaError("schema_version", f"must be a string, got {_shown(version)}")
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        from ftaudit.errors import UsageError

        raise UsageError(
            f"result.json has schema version {version or 'none'}, this ftaudit reads {SCHEMA_VERSION}",
            "re-run `ftaudit run` with this version, or render it with the ftaudit that wrote it",
        )
    return _decode_dataclass(AuditResult, data, kinds)


def from_json(text: str, *, kinds: Kinds) -> AuditResult:
    return from_dict(json.loads(text), kinds=kinds)
