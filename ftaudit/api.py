"""The Python API: `ftaudit.audit(model=..., train=..., test=..., **options) -> AuditResult`.

Options have the names of `ftaudit run`'s flags with `_` for `-` (`lr=2e-5`, `fine_tune=True`, `max_gap=0.08`,
`attribution_examples=64`); a name that is not a flag is a TypeError, a bad value a UsageError, as on the command
line. In-memory inputs (a `transformers` model with its tokenizer, a `datasets.Dataset` or a list of dicts) are
written to a temporary folder first (safetensors, JSONL) and audited exactly like files. Quiet, and writes files
only when `out=` is given.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import json
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

from ftaudit.errors import UsageError
from ftaudit.results import AuditResult
from ftaudit.rules.base import Threshold


# Options of `ftaudit run` that shape its console output or act after the audit: not audit() options.
COMMAND_LINE_ONLY = {
    "format": "it returns the AuditResult (result.to_json() is the JSON)",
    "verbose": "it prints nothing",
    "baseline": "compare with ftaudit.compare.compare(baseline_result, result)",
    "tolerance": "pass it to ftaudit.compare.compare(..., tolerance=)",
    "gate_metrics": "pass gate= to ftaudit.compare.compare(...)",
    "mlflow": "log with ftaudit.integrations.mlflow.log_audit(result, out)",
}


@dataclass(frozen=True)
class RunOption:
    """One option of `ftaudit run`: its flag, where its value goes in the config mapping, and its declaration."""

    flag: str  # "--lr"
    path: tuple[str, ...]  # ("train", "lr"): the keys in the config mapping (the CLI's dest joins them with ".")
    group: str  # "train", "probe attribution" or "thresholds"
    field: dataclasses.Field | None = None  # the opt() declaration; None for a threshold
    owner: type | None = None  # the dataclass that declares `field` (its type hints)
    threshold: Threshold | None = None

    @property
    def name(self) -> str:
        """The Python API's keyword: the flag with `_` for `-`."""
        return self.flag[2:].replace("-", "_")


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def run_options() -> tuple[RunOption, ...]:
    """Every option of `ftaudit run`, in --help order: config sections, probe options, then thresholds."""
    from ftaudit.config import SECTIONS
    from ftaudit.probes.registry import all_probes, threshold_defaults

    out = []
    for section, cls in SECTIONS.items():
        out += [RunOption(f.metadata.get("flag") or flag_of(f.name), (section, f.name), section, f, cls)
                for f in dataclasses.fields(cls)]
    for probe in all_probes():
        out += [RunOption(f.metadata.get("flag") or flag_of(f"{probe.name}_{f.name}"), ("probes", probe.name, f.name),
                          f"probe {probe.name}", f, probe.Options)
                for f in (dataclasses.fields(probe.Options) if probe.Options is not None else ())]
    out += [RunOption(flag_of(t.name), ("thresholds", t.name), "thresholds", threshold=t)
            for t in sorted(threshold_defaults().values(), key=lambda t: t.name)]
    return tuple(out)


def option_names() -> dict[str, tuple[str, ...]]:
    """Python name -> where it goes in the config mapping ('train', 'lr'), for every option of `ftaudit run`."""
    return {o.name: o.path for o in run_options()}


def _plain(value: Any) -> Any:
    """Paths as strings and iterables of names as tuples, so the config's type checks see what a TOML file gives."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(_plain(v) for v in value)
    return value


def _data_file(value: Any, name: str, folder: Path) -> str:
    """A path for `value`: itself when it is one, else its rows written as JSONL into `folder`."""
    if isinstance(value, (str, Path)):
        return str(value)
    rows = value.to_list() if hasattr(value, "to_list") else value  # datasets.Dataset -> list of dicts
    if not isinstance(rows, Iterable) or isinstance(rows, Mapping):
        raise UsageError(f"{name}= must be a path, a datasets.Dataset or a list of dicts, got {type(value).__name__}",
                         f"pass {name}= as one of those")
    path = folder / f"{name}.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise UsageError(f"{name}= row {i} is a {type(row).__name__}, not a dict",
                                 "pass rows as dicts such as {'text': ..., 'label': ...}")
            handle.write(json.dumps(dict(row), ensure_ascii=False, default=str) + "\n")
    return str(path)


def _model_folder(model: Any, tokenizer: Any, folder: Path) -> str:
    """A folder for `model`: itself when it is a path or hub id, else the model and tokenizer saved as safetensors."""
    if isinstance(model, (str, Path)):
        return str(model)
    if not hasattr(model, "save_pretrained"):
        raise UsageError(f"model= must be a path, a hub id or a transformers model, got {type(model).__name__}",
                         "pass a folder written by save_pretrained, or the model object with tokenizer=")
    if tokenizer is None:
        raise UsageError("an in-memory model= needs its tokenizer", "pass tokenizer= as well")
    target = folder / "model"
    model.save_pretrained(str(target), safe_serialization=True)
    tokenizer.save_pretrained(str(target))
    return str(target)


def audit(*, model: Any = None, train: Any = None, test: Any = None, out: str | Path | None = None,
          tokenizer: Any = None, **options: Any) -> AuditResult:
    """Audit a fine-tune (or, with `fine_tune=True` and `base=`, fine-tune and audit one); the AuditResult.

    `out=`: write result.json, report.html and junit.xml there (an earlier report is moved aside, as with the
    CLI); without it nothing is kept: the audit runs in a temporary folder that is removed afterwards.
    """
    from ftaudit.app import audit_to_folder
    from ftaudit.config import config_from_mapping

    names = option_names()
    command_line_only = sorted(set(options) & set(COMMAND_LINE_ONLY))
    if command_line_only:
        raise TypeError(f"audit() does not take {command_line_only[0]!r}: {COMMAND_LINE_ONLY[command_line_only[0]]}")
    unknown = sorted(set(options) - set(names))
    if unknown:
        close = [n for n in names if n.replace("_", "") == unknown[0].replace("_", "")]
        raise TypeError(f"audit() got an unexpected option {unknown[0]!r}"
                        + (f"; did you mean {close[0]!r}?" if close else "; options are the flags of `ftaudit run`"))
    with tempfile.TemporaryDirectory(prefix="ftaudit-api-") as tmp:
        work = Path(tmp)
        raw: dict[str, Any] = {}
        for name, value in options.items():
            node = raw
            *path, leaf = names[name]
            for part in path:
                node = node.setdefault(part, {})
            node[leaf] = _plain(value)
        data = raw.setdefault("data", {})
        if train is not None:
            data["train"] = _data_file(train, "train", work)
        if test is not None:
            data["test"] = _data_file(test, "test", work)
        if model is not None:
            raw.setdefault("model", {})["model"] = _model_folder(model, tokenizer, work)
        raw.setdefault("output", {})["out"] = str(out) if out is not None else str(work / "report")
        config = config_from_mapping(raw, source="ftaudit.audit()")
        return audit_to_folder(config, echo=False)
