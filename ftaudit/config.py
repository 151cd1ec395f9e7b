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
from ftaudit.options import build_section, coerce, opt, refuse_unsafe_from_file

MAX_SEED = 2 ** 32 - 1  # numpy's seeds are 32-bit

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
    text_pair_column: str | None = opt(None, "second text column, for sentence-pair tasks; by default single texts")
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
                                    "loading; by default only safetensors are loaded (command line only)",
                             weakens_safety=True)
    trust_remote_code: bool = opt(False, "allow a model folder's own Python code to run (never by default; command "
                                         "line only)", weakens_safety=True)


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
    lora: int = opt(0, "fine-tune mode: train a LoRA adapter of this rank (peft: pip install 'ftaudit[peft]') and the "
                       "new head instead of every weight; 0, the default, fine-tunes every weight", metavar="R")
    lora_alpha: float = opt(16.0, "fine-tune mode with --lora: LoRA's alpha; the update B·A is scaled by alpha / R")
    lora_dropout: float = opt(0.1, "fine-tune mode with --lora: dropout on the adapter's input")
    lora_target_modules: tuple[str, ...] = opt((), "fine-tune mode with --lora: names of the modules to adapt "
                                                   "(default: the architecture's attention query and value "
                                                   "projections, e.g. query,value for BERT)", metavar="NAME,...")


@dataclass(frozen=True)
class RunConfig:
    probes: tuple[str, ...] = opt((), "comma-separated probes to run (default: every probe that applies); "
                                      "`ftaudit probes` lists them", metavar="NAME,...")
    device: str = opt("auto", "where to run: auto (CUDA when present), cpu, cuda, cuda:N, mps", metavar="DEVICE")
    seed: int = opt(0, "random seed for sampling, bootstrap and fine-tuning")
    eval_batch_size: int = opt(64, "batch size of the shared prediction pass")
    max_eval_examples: int = opt(20000, "largest number of examples per split that the prediction pass uses; "
                                        "larger splits are sampled (stratified) and the report says so")
    strict: bool = opt(False, "re-raise a probe's exception instead of recording it as an error finding")
    resume: bool = opt(False, "reuse the probes (and curve points) that an interrupted run with the same model, data "
                              "and settings finished; they are kept in .ftaudit-cache next to --out")


GATE_METRICS = ("accuracy", "macro_f1", "gap", "ece", "recall")  # what `ftaudit compare` can gate on
QUIET_HELP = "print only the verdict line (or the JSON) on stdout and errors on stderr: no progress or logs"
VERBOSE_HELP = "also list every check and the time of each phase"
FORMAT_HELP = "stdout: text for people, or json (the result only); progress and logs always go to stderr"


@dataclass(frozen=True)
class OutputConfig:
    out: str = opt("ftaudit-report", "output folder for result.json, report.html and junit.xml", metavar="DIR")
    overwrite: bool = opt(False, "replace an existing report in --out (by default it is moved aside and kept)")
    fail_on: str = opt("fail", "lowest finding severity that fails the run (exit 1)", choices=("warn", "fail"))
    quiet: bool = opt(False, QUIET_HELP, short="-q")
    verbose: bool = opt(False, VERBOSE_HELP, short="-v")
    format: str = opt("text", FORMAT_HELP, choices=("text", "json"))
    baseline: str | None = opt(None, "compare with this earlier audit (its result.json or report folder): write "
                                     "compare.html and compare.json next to the report and fail (exit 1) on a "
                                     "regression; by default no comparison is made", metavar="PATH")
    tolerance: float = opt(0.01, "with --baseline: how much worse (absolute, 0.01 = 1 point) a gated metric may get "
                                 "before the change can fail the run; it must also be outside noise")
    gate_metrics: tuple[str, ...] = opt(("accuracy", "macro_f1", "gap"), "with --baseline: the metrics that gate, "
                                        f"of {', '.join(GATE_METRICS)}", metavar="NAME,...")
    mlflow: bool = opt(False, "log the headline metrics, findings, root causes and the report to MLflow (the active "
                              "run, else a new one; needs pip install 'ftaudit[mlflow]')")


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
    # [probes.NAME] keys the config file itself set (not the command line): the plan refuses those of them that
    # weaken safety (`options.refuse_unsafe_from_file`), once it knows each probe's Options.
    file_probe_options: Mapping[str, frozenset[str]] = field(default_factory=lambda: types.MappingProxyType({}))

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
        (0 <= r.seed <= MAX_SEED - (t.seeds - 1), f"--seed must be in 0..{MAX_SEED - max(t.seeds - 1, 0)}, got {r.seed}"
         + (f" (with --seeds {t.seeds})" if t.seeds > 1 else ""), "use a seed such as 0 or 42"),
        (t.epochs >= 1, f"--epochs must be at least 1, got {t.epochs}", "train for one epoch or more"),
        (t.lr > 0, f"--lr must be positive, got {t.lr}", "use a learning rate such as 2e-5"),
        (t.batch_size >= 1, f"--batch-size must be at least 1, got {t.batch_size}", "use e.g. 16 or 32"),
        (0 <= t.warmup_ratio < 1, f"--warmup-ratio must be in [0, 1), got {t.warmup_ratio}", "use e.g. 0.1"),
        (t.weight_decay >= 0, f"--weight-decay must be >= 0, got {t.weight_decay}", "use e.g. 0.01"),
        (t.seeds >= 1, f"--seeds must be at least 1, got {t.seeds}", "use 1, or 3-5 to measure seed spread"),
        (t.grad_norm_every >= 1, f"--grad-norm-every must be at least 1, got {t.grad_norm_every}", "use e.g. 10"),
        (t.max_grad_norm >= 0, f"--max-grad-norm must be >= 0, got {t.max_grad_norm}", "use 1.0, or 0 for no clipping"),
        (t.lora >= 0, f"--lora must be a rank >= 1 (or 0 for a full fine-tune), got {t.lora}", "use e.g. --lora 8"),
        (t.lora_alpha > 0, f"--lora-alpha must be positive, got {t.lora_alpha}", "use e.g. 16 (twice the rank)"),
        (0 <= t.lora_dropout < 1, f"--lora-dropout must be in [0, 1), got {t.lora_dropout}", "use e.g. 0.1"),
        (not (t.lora and t.freeze_encoder), "--lora and --freeze-encoder contradict each other (--freeze-encoder "
         "trains the head alone, --lora trains an adapter and the head)", "pass one of them"),
        (d.max_length >= 2, f"--max-length must be at least 2, got {d.max_length}", "use e.g. 128"),
        (r.eval_batch_size >= 1, f"--eval-batch-size must be at least 1, got {r.eval_batch_size}", "use e.g. 64"),
        (config.output.tolerance >= 0, f"--tolerance must be >= 0, got {config.output.tolerance}",
         "use e.g. 0.01 for one point"),
        (set(config.output.gate_metrics) <= set(GATE_METRICS),
         f"unknown --gate-metrics {sorted(set(config.output.gate_metrics) - set(GATE_METRICS))}",
         f"choose from {', '.join(GATE_METRICS)}"),
        (not (config.output.quiet and config.output.verbose), "--quiet and --verbose contradict each other",
         "pass one of them"),
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
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
            return None  # someone else's pyproject (broken or unreadable); not ours to judge
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
    except PermissionError:
        raise UsageError(f"cannot read {path}: permission denied", "make the config file readable by this user") \
            from None
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
    for key in ("train", "test", "validation", "model", "base", "out", "baseline"):
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
    file_probes: dict[str, frozenset[str]] = {}
    if source:  # options that weaken safety come from the command line only
        for name, cls in SECTIONS.items():
            table = raw.get(name)
            if isinstance(table, Mapping):
                refuse_unsafe_from_file(cls, name, table, source)
        probes = raw.get("probes")
        if isinstance(probes, Mapping):
            file_probes = {k: frozenset(v) for k, v in probes.items() if isinstance(v, Mapping)}
    if base_dir is not None:
        raw = {k: (_resolve_paths(v, base_dir) if k in SECTIONS and isinstance(v, dict) else v)
               for k, v in raw.items()}
    merged = _merge(raw, overrides)
    config = config_from_mapping(merged, source=source)
    return dataclasses.replace(config, file_probe_options=types.MappingProxyType(file_probes))


def _merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
