"""plan (config -> defaults, probe instances) -> AuditContext -> probes -> rules -> diagnosis -> AuditResult."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
import types
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ftaudit import __version__
from ftaudit.adapters import is_adapter_folder, load_adapter_model
from ftaudit.cache import CACHE, AuditCache, cache_of
from ftaudit.config import AuditConfig
from ftaudit.data import MAX_TEXT_CHARS, RawSplit, encode_labels, load_raw_split, resolve_labels, sample_split
from ftaudit.diagnosis import diagnose
from ftaudit.errors import UsageError
from ftaudit.options import build_section, coerce, refuse_unsafe_from_file
from ftaudit.output import Staging
from ftaudit.probes.base import Probe
from ftaudit.probes.registry import all_probes, all_rules, thresholds_of
from ftaudit.results import AuditResult, Finding, GateResult, ProbeOutcome, RunInfo, Severity
from ftaudit.rules.base import Rule


class Phases:
    """Wall time of each phase of the audit, for the report and the console."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def move(self, seconds: float, source: str, target: str) -> None:
        """Count `seconds` of phase `source` as phase `target` (work done inside one phase on behalf of another)."""
        if seconds > 0 and source in self.seconds:
            self.seconds[source] -= seconds
            self.seconds[target] = self.seconds.get(target, 0.0) + seconds


def read_splits(config: AuditConfig) -> dict[str, RawSplit]:
    d = config.data
    if not d.train or not d.test:
        missing = "--train" if not d.train else "--test"
        raise UsageError(f"no {missing} data was given", f"pass {missing} PATH (CSV, JSONL, Parquet or a datasets "
                                                          "folder), or run `ftaudit demo` to see an example")
    kwargs = dict(text_column=d.text_column, label_column=d.label_column, text_pair_column=d.text_pair_column,
                  max_chars=text_char_limit(d.max_length))
    splits = {"train": load_raw_split(d.train, "train", **kwargs), "test": load_raw_split(d.test, "test", **kwargs)}
    if d.validation and not _is_fraction(d.validation):
        splits["validation"] = load_raw_split(d.validation, "validation", **kwargs)
    return splits


def text_char_limit(max_length: int) -> int:
    """Characters kept per text: far more than --max-length tokens can cover (see data.MAX_TEXT_CHARS)."""
    return max(MAX_TEXT_CHARS, 64 * max_length)


def clipping_notes(raw: dict[str, RawSplit], max_length: int) -> list[str]:
    """Say which splits had texts cut before tokenizing."""
    limit = text_char_limit(max_length)
    return [f"{s.clipped} {name} text(s) longer than {limit:,} characters were cut to that length before "
            "tokenizing (they are truncated to --max-length tokens anyway)" for name, s in raw.items() if s.clipped]


def _is_fraction(value: str) -> bool:
    try:
        return 0 < float(value) < 1
    except ValueError:
        return False


@dataclass(frozen=True)
class AuditPlan:
    """What one audit will do: the config, the probe instances, every threshold and the rules, all resolved."""

    config: AuditConfig
    probes: tuple[Probe, ...]
    rules: tuple[Rule, ...]
    thresholds: Mapping[str, float]  # every rule threshold: the configured value, else its declared default
    probe_options: Mapping[str, Any]  # the configured probes' resolved Options, as recorded in result.json

    def threshold(self, name: str) -> float:
        if name not in self.thresholds:
            raise KeyError(f"no threshold named {name!r}")
        return self.thresholds[name]

    def config_dict(self) -> dict[str, Any]:
        """config.to_dict() with each configured probe's options in full (defaults filled in)."""
        out = self.config.to_dict()
        out["probe_options"] = {k: dataclasses.asdict(v) for k, v in self.probe_options.items()}
        return out


def plan(config: AuditConfig, *, probes: Sequence[type[Probe]] | None = None,
         rules: Sequence[Rule] | None = None) -> AuditPlan:
    """Resolve the config against the registries (the installed probes and rules by default); UsageError if wrong."""
    probe_types = tuple(all_probes() if probes is None else probes)
    rule_list = tuple(all_rules() if rules is None else rules)
    declared = thresholds_of(rule_list)
    known = {name: t.default for name, t in declared.items()}
    thresholds = dict(known)
    for name, value in config.thresholds.items():
        if name not in known:
            raise UsageError(f"unknown threshold {name!r}", f"valid thresholds are: {', '.join(sorted(known))}")
        value = coerce(value, float, f"thresholds.{name}")
        if not math.isfinite(value):
            raise UsageError(f"threshold {name} must be a number, got {value!r}", f"set {name} to a finite number")
        low = declared[name].minimum
        if low is not None and value < low:
            raise UsageError(f"threshold {name} must be at least {low:g}, got {value:g}",
                             f"set {name} to e.g. its default {declared[name].default:g}")
        thresholds[name] = value
    names = tuple(p.name for p in probe_types)
    for name in config.run.probes:
        if name not in names:
            raise UsageError(f"unknown probe {name!r}", f"valid probes are: {', '.join(names)}")
    option_types = {p.name: p.Options for p in probe_types if p.Options is not None}
    options = {}
    for name, values in config.probe_options.items():
        if name not in option_types:
            raise UsageError(f"unknown probe table [probes.{name}]",
                             f"probes with options are: {', '.join(sorted(option_types))}")
        if config.source:
            refuse_unsafe_from_file(option_types[name], f"probes.{name}",
                                    {k: True for k in config.file_probe_options.get(name, ())}, config.source)
        options[name] = build_section(option_types[name], values, f"probes.{name}")
    for value in options.values():
        validate = getattr(value, "validate", None)
        if validate is not None:
            validate()
    chosen = set(config.run.probes)
    instances = tuple(cls(options.get(cls.name, cls.Options()) if cls.Options is not None else None)
                      for cls in probe_types if ((cls.name in chosen) if chosen else cls.default))
    return AuditPlan(config=config, probes=instances, rules=rule_list,
                     thresholds=types.MappingProxyType(thresholds), probe_options=types.MappingProxyType(options))


def run_probes(ctx: Any, probes: list[Probe], *, strict: bool, phases: Phases) -> list[ProbeOutcome]:
    """Run each probe (or, with --resume, take its finished result from the run's cache) and record the outcome."""
    outcomes = []
    cache = cache_of(ctx)
    for probe in probes:
        reason = probe.unavailable(ctx)
        if reason:
            outcomes.append(ProbeOutcome(name=probe.name, status="skipped", reason=reason))
            continue
        hit = cache.get(probe.name, probe.result_type)
        if hit is not None:
            outcomes.append(ProbeOutcome(name=probe.name, status="ok", seconds=hit.seconds, result=hit.result))
            continue
        start = time.perf_counter()
        try:
            with phases(f"probe {probe.name}"):
                result = probe.run(ctx)
        except UsageError:
            raise
        except Exception as exc:  # a crashing probe is a recorded failure, not a crashed audit
            if strict:
                raise
            outcomes.append(ProbeOutcome(name=probe.name, status="error", seconds=time.perf_counter() - start,
                                         reason=f"{type(exc).__name__}: {exc}".splitlines()[0][:300]))
            continue
        seconds = time.perf_counter() - start
        outcomes.append(ProbeOutcome(name=probe.name, status="ok", seconds=seconds, result=result))
        cache.put(probe.name, result, seconds)
    return outcomes


def judge(plan: AuditPlan, outcomes: list[ProbeOutcome], *, strict: bool = False) -> list[Finding]:
    """Every rule of a selected probe judges that probe's outcome; a rule that raises becomes an error finding."""
    by_name = {o.name: o for o in outcomes}
    selected = {p.name for p in plan.probes}
    findings = []
    for rule in plan.rules:
        if rule.probe not in selected:
            continue
        try:
            findings.append(rule.evaluate(by_name.get(rule.probe), plan.threshold))
        except Exception as exc:  # like a crashing probe: recorded, the rest of the audit goes on
            if strict:
                raise
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            findings.append(Finding(code=rule.code, severity=Severity.ERROR, probe=rule.probe, summary=rule.summary,
                                    message=f"not checked: the rule failed ({reason})"))
    return findings


def gate(findings: list[Finding], fail_on: str) -> GateResult:
    level = Severity(fail_on)
    failing = tuple(f.code for f in findings if f.severity.rank >= level.rank)  # error ranks above fail
    return GateResult(fail_on=fail_on, passed=not failing, failing=failing)


def build_context(config: AuditConfig, raw: dict[str, RawSplit], staging: Staging, phases: Phases,
                  progress: Any) -> Any:
    """Load (or fine-tune) the model and assemble the AuditContext."""
    from ftaudit import modeling
    from ftaudit.context import AuditContext

    modeling.quiet_transformers()
    device = modeling.select_device(config.run.device)
    notes: list[str] = []
    m = config.model
    if config.train.fine_tune:
        from ftaudit.finetune import fine_tune_for_audit

        return fine_tune_for_audit(config, raw, staging, phases, progress, device)
    if not m.model:
        raise UsageError("no --model to audit was given",
                         "pass --model PATH (a fine-tuned checkpoint), or --fine-tune with --base to train one")
    adapter = None
    with phases("load model"):
        if is_adapter_folder(m.model):
            training = _recorded_training(Path(m.model).expanduser())
            folder, model, base_files, adapter = load_adapter_model(config, raw, notes,
                                                                    training.label_names if training else None)
            base_reason = ""
        else:
            folder, model, base_files, base_reason = _load_checkpoint(config)
            training = _recorded_training(folder)
        tokenizer, note = modeling.load_tokenizer(folder, trust_remote_code=m.trust_remote_code,
                                                  fallback=base_files.folder if base_files else None)
        if note:
            notes.append(note)
        modeling.check_vocab(model, tokenizer, m.model)
        positions = modeling.usable_positions(model, tokenizer)
        if positions is not None and config.data.max_length > positions:
            notes.append(f"--max-length {config.data.max_length} is more than the model's {positions} positions; "
                         f"texts were truncated to {positions} tokens")
            config = dataclasses.replace(config, data=dataclasses.replace(config.data, max_length=positions))
        model.to(device)
    id2label = {int(k): str(v) for k, v in model.config.id2label.items()}
    labels = resolve_labels(raw["train"], [s for n, s in raw.items() if n != "train"], id2label)
    if labels.note:
        notes.append(labels.note)
    splits = {name: sample_split(encode_labels(s, labels), config.run.max_eval_examples, config.run.seed, notes)
              for name, s in raw.items()}
    return AuditContext(config=config, splits=splits, labels=labels, mode="existing-model", device=device,
                        model=model, tokenizer=tokenizer, model_ref=m.model,
                        base=modeling.base_weights(base_files) if base_files else None, base_reason=base_reason,
                        notes=notes, progress=progress, training=training, adapter=adapter,
                        training_reason="the checkpoint has no recorded training (fine-tune with --fine-tune, or "
                                        "train with ftaudit.integrations.hf.FtauditCallback)")


def _load_checkpoint(config: AuditConfig) -> tuple[Path, Any, Any, str]:
    """(folder, model, base files or None, why there is no base) of a whole checkpoint given as --model."""
    from ftaudit import modeling

    m = config.model
    files = modeling.locate(m.model, "model", allow_pickle=m.allow_pickle)
    model = modeling.load_classifier(files, what="model", trust_remote_code=m.trust_remote_code,
                                     allow_pickle=m.allow_pickle)
    base_ref, base_reason = (m.base, "") if m.base else modeling.recorded_base(files)
    base_files = None
    if base_ref is not None:
        try:
            base_files = modeling.locate(base_ref, "base model", allow_pickle=m.allow_pickle)
        except UsageError as exc:
            if m.base:  # the user asked for this base: their mistake to fix
                raise
            base_reason = f"the recorded base {base_ref!r} is not available ({exc.problem})"
    if base_files is not None:
        modeling.check_base_weights(modeling.base_weights(base_files))
    return files.folder, model, base_files, base_reason


def _recorded_training(folder: Path) -> Any:
    """Training dynamics recorded by ftaudit's Trainer callback next to a checkpoint, when present."""
    try:
        from ftaudit.finetune import load_recorded_training
    except ImportError:
        return None
    return load_recorded_training(folder)


def run_audit(config: AuditConfig | AuditPlan, staging: Staging, progress: Any = None, *,
              cache: AuditCache | None = None) -> AuditResult:
    """The whole audit. Raises UsageError for bad input; probe and rule crashes become error findings.

    `config` may be a plan already made (`plan(config)`); `cache` keeps finished probe results for --resume (the
    application passes one next to --out; none: nothing is kept).
    """
    the_plan = config if isinstance(config, AuditPlan) else plan(config)
    config = the_plan.config
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    phases = Phases()
    np.random.seed(config.run.seed)
    with phases("read data"):
        raw = read_splits(config)
    ctx = build_context(config, raw, staging, phases, progress)
    ctx.notes.extend(clipping_notes(raw, config.data.max_length))
    if cache is not None:
        ctx.stash[CACHE] = cache
    outcomes = run_probes(ctx, list(the_plan.probes), strict=config.run.strict, phases=phases)
    if cache is not None and cache.reused:
        ctx.notes.append(f"--resume: the results of {', '.join(cache.reused)} were reused from {cache.folder}, "
                         "where an earlier, interrupted run with the same model, data and settings left them")
    if cache is not None:
        ctx.notes.extend(f"--resume: {text}" for text in cache.rejected)
    if cache is not None and cache.problem:
        ctx.notes.append(cache.problem)
    findings = judge(the_plan, outcomes, strict=config.run.strict)
    diagnosis = diagnose(findings)
    run = RunInfo(
        ftaudit_version=__version__,
        started=started.isoformat(timespec="seconds"),
        seconds=time.perf_counter() - t0,
        device=_device_text(ctx.device),
        seed=config.run.seed,
        mode=ctx.mode,
        model=ctx.model_ref,
        base=getattr(ctx.base, "ref", None),
        train=config.data.train or "",
        test=config.data.test or "",
        labels=ctx.labels.names,
        config=the_plan.config_dict(),
        phases=dict(phases.seconds),
        notes=tuple(ctx.notes),
    )
    return AuditResult(run=run, probes=tuple(outcomes), findings=tuple(findings), diagnosis=diagnosis,
                       gate=gate(findings, config.output.fail_on))


def _device_text(device: Any) -> str:
    if device is None:
        return "none"
    from ftaudit.modeling import describe_device

    return describe_device(device)
