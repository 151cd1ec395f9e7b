"""Fine-tune mode: train --base on --train (one or several seeds), save the model, and build the AuditContext.

The core loop is `ftaudit.training.train_classifier`; this module is the audit glue around it: labels and
splits, the validation hold-out, the `--seeds` comparison, saving, and reading a recorded run back.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ftaudit.adapters import lora_spec, merged, read_adapter
from ftaudit.config import AuditConfig
from ftaudit.data import LabelSpace, RawSplit, TextSplit, encode_labels, resolve_labels, sample_split, \
    stratified_sample
from ftaudit.errors import NotMainProcess, UsageError
from ftaudit.jsonfile import Fields, read_json
from ftaudit.training import Checkpoint, new_classifier, train_classifier
from ftaudit.training_run import RECORD_META, SeedRun, TrainingRecord


def validation_fraction(value: str | None) -> float | None:
    """`--validation 0.1` as a fraction of train to hold out; None for a file (or nothing)."""
    if not value:
        return None
    try:
        frac = float(value)
    except ValueError:
        return None
    if not 0 < frac < 1:
        raise UsageError(f"--validation {value} is neither a file nor a fraction in (0, 1)",
                         "pass a validation file, or a fraction of train such as 0.1")
    return frac


def hold_out(train: TextSplit, fraction: float, seed: int) -> tuple[TextSplit, TextSplit]:
    """(train without the hold-out, validation): a stratified `fraction` of train."""
    k = int(round(fraction * len(train)))
    if k < 1 or len(train) - k < 2:
        raise UsageError(f"--validation {fraction} of {len(train)} training rows leaves no usable split",
                         "use a larger train file or a validation file")
    held = stratified_sample(train.labels, k, seed)
    rest = np.setdiff1d(np.arange(len(train)), held)
    return train.subset(rest), train.subset(held, name="validation")


def predicted_classes(model: Any, tokenizer: Any, enc: Any, *, device: Any, batch_size: int) -> np.ndarray:
    """The class `model` predicts for each encoded row."""
    from ftaudit.inference import pad_id_of, predict_logits

    return predict_logits(model, enc, device=device, batch_size=batch_size, pad_id=pad_id_of(tokenizer)).argmax(axis=1)


def score(model: Any, tokenizer: Any, split: TextSplit, *, max_length: int, device: Any,
          batch_size: int) -> tuple[float, float]:
    """(accuracy, share of the most-predicted class) of `model` on `split`."""
    from ftaudit.inference import encode

    pred = predicted_classes(model, tokenizer, encode(tokenizer, split.texts, split.pairs, max_length),
                             device=device, batch_size=batch_size)
    counts = np.bincount(pred, minlength=model.config.num_labels)
    return float((pred == split.labels).mean()), float(counts.max() / len(pred))


# The audited fine-tune predicts a stratified sample of the audit's test rows after this share of its steps, so the
# dynamics probe can measure what the last third of training bought on test (the `undertrained` cause's impact).
# One forward pass over at most CHECKPOINT_ROWS rows: measured at 3.5-5.1% of a 2-epoch fine-tune of 800 rows.
CHECKPOINT_FRACTION = 2 / 3
CHECKPOINT_ROWS = 512


def test_checkpoint(tokenizer: Any, test: TextSplit, *, max_length: int, batch_size: int, seed: int
                    ) -> tuple[np.ndarray, Checkpoint]:
    """(rows of `test`, the Checkpoint that predicts them): a stratified sample of at most CHECKPOINT_ROWS."""
    from ftaudit.inference import encode

    rows = stratified_sample(test.labels, min(CHECKPOINT_ROWS, len(test)), seed)
    part = test.subset(rows)
    enc = encode(tokenizer, part.texts, part.pairs, max_length)

    def evaluate(model: Any) -> np.ndarray:  # on the device the training put the model on
        return predicted_classes(model, tokenizer, enc, device=next(model.parameters()).device,
                                 batch_size=batch_size)

    return rows, Checkpoint(CHECKPOINT_FRACTION, evaluate)


def train_seeds(config: AuditConfig, base_files: Any, tokenizer: Any, train: TextSplit, labels: LabelSpace,
                eval_split: TextSplit, device: Any, progress: Any,
                checkpoint: tuple[np.ndarray, Checkpoint] | None = None) -> tuple[Any, TrainingRecord]:
    """`--seeds K` fine-tunes (seed, seed+1, ...); returns the first seed's model and its record with every run.
    `checkpoint` (rows, Checkpoint) evaluates the first seed part-way; the record keeps the rows it predicted."""
    k = config.train.seeds
    task = progress.task(f"seeds ({k} fine-tunes)", total=k) if progress and k > 1 else None
    first: tuple[Any, TrainingRecord] | None = None
    runs = []
    m = config.model

    def new_model() -> Any:
        return new_classifier(base_files, labels, trust_remote_code=m.trust_remote_code,
                              allow_pickle=m.allow_pickle, freeze_encoder=config.train.freeze_encoder,
                              lora=lora_spec(config.train))

    for i in range(k):
        seed = config.run.seed + i
        model, rec = train_classifier(new_model, tokenizer, train, labels, train_cfg=config.train,
                                      max_length=config.data.max_length, device=device, seed=seed,
                                      progress=progress, checkpoint=checkpoint[1] if checkpoint and i == 0 else None)
        if checkpoint and i == 0 and rec.checkpoint_step is not None:
            rec = replace(rec, checkpoint_rows=checkpoint[0])
        acc = share = None
        diverged = rec.run.nonfinite_step is not None
        if not diverged:
            acc, share = score(model, tokenizer, eval_split, max_length=config.data.max_length, device=device,
                               batch_size=config.run.eval_batch_size)
        loss = rec.final_loss()
        runs.append(SeedRun(seed=seed, accuracy=acc, majority_share=share,
                            final_loss=loss if math.isfinite(loss) else None, diverged=diverged))
        if first is None:
            first = (model, rec)
        else:
            del model
        if task:
            task.advance()
    if task:
        task.done()
    assert first is not None
    model, rec = first
    return model, rec.with_seed_runs(tuple(runs), eval_split.name, runs[0].accuracy)


def save_model(model: Any, tokenizer: Any, record: TrainingRecord, folder: Path, base_ref: str) -> None:
    """save_pretrained (safetensors) + tokenizer + the training record; config.json records the base.

    A peft model saves its adapter (adapter_config.json records the base's folder) instead of a whole model.
    """
    from ftaudit.modeling import BASE_KEY

    if not hasattr(model, "peft_config"):
        setattr(model.config, BASE_KEY, base_ref)
    model.save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
    record.save(folder)


def fine_tune_for_audit(config: AuditConfig, raw: dict[str, RawSplit], staging: Any, phases: Any, progress: Any,
                        device: Any) -> Any:
    """Fine-tune --base on --train as configured and return the AuditContext of the resulting model."""
    from ftaudit import modeling
    from ftaudit.context import AuditContext

    m = config.model
    if not m.base:
        raise UsageError("--fine-tune needs the pre-trained model to start from",
                         "pass --base PATH|ID (e.g. a local BERT folder or a hub id)")
    notes: list[str] = []
    with phases("load base"):
        base_files = modeling.locate(m.base, "base model", allow_pickle=m.allow_pickle)
        tokenizer, _ = modeling.load_tokenizer(base_files.folder, trust_remote_code=m.trust_remote_code)
    labels = resolve_labels(raw["train"], [s for n, s in raw.items() if n != "train"], None)
    splits = {name: encode_labels(s, labels) for name, s in raw.items()}
    frac = validation_fraction(config.data.validation)
    if frac is not None:
        splits["train"], splits["validation"] = hold_out(splits["train"], frac, config.run.seed)
        notes.append(f"validation: a stratified {frac:g} of train ({len(splits['validation'])} rows) was held out "
                     "before fine-tuning")
    train = splits["train"]
    if config.train.batch_size > len(train):
        notes.append(f"--batch-size {config.train.batch_size} is larger than the {len(train)} training rows: "
                     f"each epoch is a single batch of {len(train)}")
    eval_split = splits.get("validation") or splits["test"]
    audit_splits = {name: sample_split(s, config.run.max_eval_examples, config.run.seed, notes)
                    for name, s in splits.items()}
    test = audit_splits.get("test")
    checkpoint = test_checkpoint(tokenizer, test, max_length=config.data.max_length,
                                 batch_size=config.run.eval_batch_size, seed=config.run.seed) \
        if test is not None and len(test) else None
    with phases("fine-tune"):
        model, record = train_seeds(config, base_files, tokenizer, train, labels, eval_split, device, progress,
                                    checkpoint)
    phases.move(record.checkpoint_seconds, "fine-tune", "probe dynamics checkpoint")  # audit work, not training
    if not _is_main_process():
        raise NotMainProcess("this process is not rank 0 of `accelerate launch`: it trained, rank 0 audits")
    if config.train.seeds > 1:
        notes.append(f"fine-tuned {config.train.seeds} seeds ({config.run.seed}..{config.run.seed + config.train.seeds - 1});"
                     f" the audit is of the first seed, {config.run.seed}")
    if record.run.nonfinite_step is not None:
        notes.append(f"the training loss became non-finite at step {record.run.nonfinite_step}; training stopped there "
                     "and the model was audited as it was")
    folder = staging.path("model")
    with phases("save model"):
        save_model(model, tokenizer, record, folder, m.base)
    adapter = None
    if config.train.lora:
        adapter = read_adapter(model, "--lora")
        model = merged(model)
        notes.append(f"trained a LoRA adapter (r = {adapter.rank}, alpha = {adapter.alpha:g}, on "
                     f"{', '.join(adapter.target_modules)}) and the new head; the audit is of the base with the "
                     "adapter merged in, and the adapter is saved in the model folder")
    return AuditContext(config=config, splits=audit_splits, labels=labels, mode="fine-tune", device=device,
                        model=model, tokenizer=tokenizer, model_ref=str(Path(config.output.out) / "model"),
                        base=modeling.base_weights(base_files), notes=notes, progress=progress, training=record,
                        adapter=adapter)


def _is_main_process() -> bool:
    from accelerate import PartialState

    return PartialState().is_main_process


# --------------------------------------------------------------------------- recorded runs


def load_recorded_training(folder: Path) -> TrainingRecord | None:
    """The record FtauditCallback (or fine-tune mode) wrote into `folder` or its parent (a Trainer output_dir),
    else one built from `trainer_state.json`'s log history; None when neither is there."""
    folder = Path(folder)
    for candidate in (folder, folder.parent):
        if (candidate / RECORD_META).is_file():
            return TrainingRecord.load(candidate)
    state = folder / "trainer_state.json"
    if state.is_file():
        return record_from_trainer_state(state)
    return None


STATE_FIX = "delete trainer_state.json, or restore the one the Trainer wrote"


def record_from_trainer_state(path: Path) -> TrainingRecord | None:
    """A loss/lr-only record from a Trainer's `log_history` (losses averaged over each logging interval).

    Every value read is checked (a JSON object, numbers where numbers belong); a bad file is a UsageError naming
    the file and the field.
    """
    state = Fields(read_json(path, "trainer state", fix=STATE_FIX, allow_nan=True), path, fix=STATE_FIX)
    entries = [e for e in state.objects("log_history") if e.has("loss") and e.has("step")]
    if not entries:
        return None
    loss = np.array([e.get_float("loss", finite=False) for e in entries])
    lr = np.array([e.get_float("learning_rate", math.nan) for e in entries])
    steps = np.array([e.get_int("step", minimum=0) for e in entries], dtype=np.int64)
    grad = [e.get_float("grad_norm", finite=False) for e in entries if e.has("grad_norm")]
    full = len(grad) == len(entries)  # a grad norm in every logged interval, else none is used
    epoch = state.get_float("epoch", 0.0) or 0.0
    return TrainingRecord.from_steps(
        source="trainer log history", seed=state.get_int("seed", 0) or 0,
        epochs=int(math.ceil(min(max(epoch, 0.0), 1e6))),
        steps=state.get_int("global_step", int(steps[-1]), minimum=0),
        batch_size=state.get_int("train_batch_size", 0, minimum=0) or 0,
        lr=float(np.nanmax(lr)) if np.isfinite(lr).any() else math.nan, seconds=0.0, label_names=(),
        step_loss=loss, step_lr=lr, loss_steps=steps, grad_steps=steps if full else (),
        grad_layers=("all",) if full else (), grad_norms=np.asarray(grad, dtype=np.float64)[:, None] if full else ())
