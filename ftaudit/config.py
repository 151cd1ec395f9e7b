"""AuditConfig: frozen dataclasses built from ftaudit.toml / [tool.ftaudit] in pyproject.toml, then CLI flags.

Every option is declared once, here (or in a probe's `Options`), with its help text; the CLI and
`ftaudit run --help` are generated from these declarations, so a documented default is the real default.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ftaudit.errors import UsageError
from ftaudit.options import build_section, coerce, opt

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class DataConfig:
    train: str | None = opt(None, "training split: a CSV, JSONL or Parquet file, or a `datasets` save_to_disk folder",
                            metavar="PATH")
    test: str | None = opt(None, "test split (same formats as --train)", metavar="PATH")
    validation: str | None = opt(None, "fine-tune mode: a validation file, or a fraction of train to hold out "
                                       "(e.g. 0.1); none by default", metavar="PATH|FRACTION")
    text_column: str = opt("text", "column that holds the text")
    text_pair_column: str | None = opt(None, "second text column, for sentence-pair tasks")
    label_column: str = opt("label", "column that holds the label (strings or integers)")
    max_length: int = opt(128, "tokens per example; longer inputs are truncated (and the truncation probe says how "
                               "many)")


@dataclass(frozen=True)
class ModelConfig:
    model: str | None = opt(None, "the fine-tuned model to audit: a local folder or a Hugging Face hub id",
                            metavar="PATH|ID")
    base: str | None = opt(None, "the pre-trained model it started from (for drift, and the model to fine-tune with "
                                 "--fine-tune); default: the checkpoint's recorded base", metavar="PATH|ID")
    allow_pickle: bool = opt(False, "allow loading pickle checkpoints (pytorch_model.bin) with weights_only "
                                    "loading; by default only safetensors are loaded")
    trust_remote_code: bool = opt(False, "allow a model folder's own Python code to run (never by default)")


@dataclass(frozen=True)
class TrainConfig:
    fine_tune: bool = opt(False, "fine-tune --base on --train yourself, recording the training, then audit the result")
    epochs: int = opt(3, "fine-tune mode: training epochs")
    lr: float = opt(5e-5, "fine-tune mode: peak learning rate of AdamW")
    batch_size: int = opt(32, "fine-tune mode: training batch size")
    warmup_ratio: float = opt(0.1, "fine-tune mode: share of steps with linear warm-up (then linear decay to 0)")
    weight_decay: float = opt(0.01, "fine-tune mode: AdamW weight decay (not applied to biases and LayerNorm)")
    freeze_encoder: bool = opt(False, "fine-tune mode: train only the classification head")
    seeds: int = opt(1, "fine-tune mode: number of fine-tunes differing only in seed (seed, seed+1, ...)")
    grad_norm_every: int = opt(10, "fine-tune mode: record per-layer gradient norms every N steps")
    max_grad_norm: float = opt(1.0, "fine-tune mode: clip the global gradient norm to this (0 turns clipping off)")


@dataclass(frozen=True)
class RunConfig:
    probes: tuple[str, ...] = opt((), "comma-separated probes to run (default: every probe that applies); "
                                      "`ftaudit probes` lists them", metavar="NAME,...")
    device: str = opt("auto", "where to run: auto (CUDA when present), cpu, cuda, cuda:N", metavar="DEVICE")
    seed: int = opt(0, "random seed for sampling, bootstrap and fine-tuning")
    eval_batch_size: int = opt(64, "batch size of the shared prediction pass")
    max_eval_examples: int = opt(20000, "largest number of examples per split that the prediction pass uses; "
                                        "larger splits are sampled (stratified) and the report says so")
    strict: bool = opt(False, "re-raise a probe's exception instead of recording it as an error finding")
    resume: bool = opt(False, "reuse the probes (and curve points) that an interrupted run with the same model, data "
                              "and settings finished; they are kept in .ftaudit-cache next to --out")


@dataclass(frozen=True)
class OutputConfig:
    out: str = opt("ftaudit-report", "output folder for result.json, report.html and junit.xml", metavar="DIR")
    overwrite: bool = opt(False, "replace an existing report in --out (by default it is moved aside and kept)")
    fail_on: str = opt("fail", "lowest finding severity that fails the run (exit 1)", choices=("warn", "fail"))
    quiet: bool = opt(False, "print only the verdict line and errors")


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "run": RunConfig,
    "output": OutputConfig,
}


@dataclass(frozen=True)
class AuditConfig:
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    run: RunConfig = RunConfig()
    output: OutputConfig = OutputConfig()
    # Raw, type-checked values: which names exist (and their defaults) is the plan step's knowledge
    # (`ftaudit.pipeline.plan`), so this module knows no registry.
    thresholds: Mapping[str, float] = field(default_factory=lambda: types.MappingProxyType({}))
    probe_options: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: types.MappingProxyType({}))
    source: str = ""  # the config file it was read from, if any

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}
        out["thresholds"] = dict(self.thresholds)
        out["probe_options"] = {k: dict(v) for k, v in self.probe_options.items()}
        return out


# --------------------------------------------------------------------------- validation


def _validate(config: AuditConfig) -> AuditConfig:
    """Check the values that need no registry; names of probes, thresholds and probe tables are checked by the plan."""
    t, r, d = config.train, config.run, config.data
    checks = [
        (t.epochs >= 1, f"--epochs must be at least 1, got {t.epochs}", "train for one epoch or more"),
        (t.lr > 0, f"--lr must be positive, got {t.lr}", "use a learning rate such as 2e-5"),
        (t.batch_size >= 1, f"--batch-size must be at least 1, got {t.batch_size}", "use e.g. 16 or 32"),
        (0 <= t.warmup_ratio < 1, f"--warmup-ratio must be in [0, 1), got {t.warmup_ratio}", "use e.g. 0.1"),
        (t.weight_decay >= 0, f"--weight-decay must be >= 0, got {t.weight_decay}", "use e.g. 0.01"),
        (t.seeds >= 1, f"--seeds must be at least 1, got {t.seeds}", "use 1, or 3-5 to measure seed spread"),
        (t.grad_norm_every >= 1, f"--grad-norm-every must be at least 1, got {t.grad_norm_every}", "use e.g. 10"),
        (t.max_grad_norm >= 0, f"--max-grad-norm must be >= 0, got {t.max_grad_norm}", "use 1.0, or 0 for no clipping"),
        (d.max_length >= 2, f"--max-length must be at least 2, got {d.max_length}", "use e.g. 128"),
        (r.eval_batch_size >= 1, f"--eval-batch-size must be at least 1, got {r.eval_batch_size}", "use e.g. 64"),
        (r.max_eval_examples >= 10, f"--max-eval-examples must be at least 10, got {r.max_eval_examples}",
         "use e.g. 20000"),
    ]
    for ok, problem, fix in checks:
        if not ok:
            raise UsageError(problem, fix)
    return config


# --------------------------------------------------------------------------- loading


def find_config_file(start: Path) -> tuple[Path, str] | None:
    """ftaudit.toml in the working folder, else pyproject.toml with a [tool.ftaudit] table."""
    candidate = start / "ftaudit.toml"
    if candidate.is_file():
        return candidate, ""
    pyproject = start / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            return None  # someone else's pyproject; not ours to judge
        if "ftaudit" in data.get("tool", {}):
            return pyproject, "tool.ftaudit"
    return None


def read_config_file(path: Path, table: str = "") -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"config file {path} does not exist", "check the path given to --config") from None
    except IsADirectoryError:
        raise UsageError(f"config file {path} is a folder", "pass the path of a .toml file to --config") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"config file {path} is not valid TOML ({exc})", "fix the syntax of the file") from None
    for key in table.split(".") if table else []:
        data = data.get(key, {})
    if not isinstance(data, dict):
        raise UsageError(f"[{table}] in {path} is not a table", "write it as a TOML table")
    return data


def _resolve_paths(values: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Relative file paths in a config file are relative to that file's folder."""
    out = dict(values)
    for key in ("train", "test", "validation", "model", "base", "out"):
        value = out.get(key)
        if isinstance(value, str) and value and "\0" not in value and not Path(value).is_absolute():
            candidate = base_dir / value
            if key in ("out",) or candidate.exists():
                out[key] = str(candidate)
    return out


def config_from_mapping(raw: Mapping[str, Any], *, source: str = "", base_dir: Path | None = None) -> AuditConfig:
    """Build and validate an AuditConfig from a parsed TOML mapping (sections as tables)."""
    raw = dict(raw)
    known = set(SECTIONS) | {"thresholds", "probes"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise UsageError(f"unknown section or key {unknown[0]!r} in {source or 'the config'}",
                         f"valid top-level tables are: {', '.join(sorted(known))}")
    sections = {}
    for name, cls in SECTIONS.items():
        values = raw.get(name, {})
        if not isinstance(values, dict):
            raise UsageError(f"[{name}] must be a table in {source or 'the config'}", f"write it as [{name}]")
        if base_dir is not None:
            values = _resolve_paths(values, base_dir)
        sections[name] = build_section(cls, values, name)
    thresholds = raw.get("thresholds", {})
    if not isinstance(thresholds, dict):
        raise UsageError("[thresholds] must be a table", "write it as [thresholds] with name = value lines")
    probe_tables = raw.get("probes", {})
    if not isinstance(probe_tables, dict):
        raise UsageError("[probes] must be a table of per-probe tables", "write e.g. [probes.attribution]")
    probe_options = {}
    for name, values in probe_tables.items():
        if not isinstance(values, dict):
            raise UsageError(f"[probes.{name}] must be a table", f"write it as [probes.{name}]")
        probe_options[name] = types.MappingProxyType(dict(values))
    config = AuditConfig(**sections, thresholds=types.MappingProxyType(dict(thresholds)),
                         probe_options=types.MappingProxyType(probe_options), source=source)
    return _validate(config)


def load_config(path: str | None, overrides: Mapping[str, Any], *, cwd: Path | None = None) -> AuditConfig:
    """Config file (explicit, or discovered in `cwd`) overridden by `overrides` (same nested shape)."""
    cwd = cwd or Path.cwd()
    raw: dict[str, Any] = {}
    source = ""
    base_dir = None
    if path:
        file = Path(path)
        raw = read_config_file(file, "tool.ftaudit" if file.name == "pyproject.toml" else "")
        source, base_dir = str(file), file.parent
    else:
        found = find_config_file(cwd)
        if found:
            raw = read_config_file(*found)
            source, base_dir = str(found[0]), found[0].parent
    if base_dir is not None:
        raw = {k: (_resolve_paths(v, base_dir) if k in SECTIONS and isinstance(v, dict) else v)
               for k, v in raw.items()}
    merged = _merge(raw, overrides)
    return config_from_mapping(merged, source=source)


def _merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
