"""The instrumented fine-tuning loop: AdamW, linear warm-up and decay, run through `accelerate`.

Instrumentation costs no extra forward pass: the step loss, the learning rate, per-layer gradient norms (every
`grad_norm_every` steps) and each training example's gold-label probability and margin are read from the
training step itself. Example indices travel with the shuffled batches so each value lands on its example.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ftaudit.architectures import architecture_of
from ftaudit.config import TrainConfig
from ftaudit.data import LabelSpace, TextSplit
from ftaudit.errors import UsageError

RECORD_ARRAYS = "ftaudit_training.npz"
RECORD_META = "ftaudit_training.json"
RECORD_VERSION = 1


@dataclass(frozen=True)
class TrainingRecord:
    """What one fine-tune recorded. Arrays stay here (and in an .npz next to the model), never in result.json.

    Per-example arrays are [epochs, n] in the order of `texts`; NaN where an example was not seen that epoch.
    margin = gold logit - largest other logit (Pleiss et al. 2020); gold_prob = softmax probability of the label.
    """

    source: str  # "fine-tune" | "trainer callback" | "trainer log history"
    seed: int
    epochs: int
    steps: int
    batch_size: int
    lr: float
    seconds: float
    label_names: tuple[str, ...]
    step_loss: np.ndarray  # float64 [steps]; NaN where not recorded
    step_lr: np.ndarray  # float64 [steps]
    loss_steps: np.ndarray  # int64 [steps]: the global step (1-based) of each loss value
    grad_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # int64 [g]
    grad_layers: tuple[str, ...] = ()  # "embeddings", "layer 0", ..., "pooler", "head"
    grad_norms: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # float64 [g, layers] (L2)
    labels: np.ndarray | None = None  # int64 [n] given label ids
    texts: tuple[str, ...] | None = None
    gold_prob: np.ndarray | None = None  # float32 [epochs, n]
    margin: np.ndarray | None = None  # float32 [epochs, n]
    pred: np.ndarray | None = None  # int16 [epochs, n] argmax class in the training forward pass
    nonfinite_step: int | None = None  # first step whose loss was NaN/inf (training stopped there)
    frozen_encoder: bool = False
    eval_name: str = ""  # split scored after training for the seed comparison ("validation" | "test")
    eval_accuracy: float | None = None
    seed_runs: tuple["SeedRun", ...] = ()  # every seed of a --seeds run, this one first

    def save(self, folder: Path) -> None:
        """Write the record as RECORD_META (JSON) + RECORD_ARRAYS (npz) into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {k: getattr(self, k) for k in ("step_loss", "step_lr", "loss_steps", "grad_steps", "grad_norms",
                                                "labels", "gold_prob", "margin", "pred")
                  if getattr(self, k) is not None}
        np.savez_compressed(folder / RECORD_ARRAYS, **arrays)
        meta = {"version": RECORD_VERSION, "source": self.source, "seed": self.seed, "epochs": self.epochs,
                "steps": self.steps, "batch_size": self.batch_size, "lr": self.lr, "seconds": self.seconds,
                "label_names": list(self.label_names), "grad_layers": list(self.grad_layers),
                "texts": None if self.texts is None else list(self.texts), "nonfinite_step": self.nonfinite_step,
                "frozen_encoder": self.frozen_encoder, "eval_name": self.eval_name,
                "eval_accuracy": self.eval_accuracy, "seed_runs": [vars(s) for s in self.seed_runs]}
        (folder / RECORD_META).write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "TrainingRecord":
        """Read a record back, checking every field's type and every array's shape; UsageError naming the file."""
        from ftaudit.jsonfile import Fields, read_json

        path = folder / RECORD_META
        fix = f"delete {path} and {folder / RECORD_ARRAYS}, or re-run the training"
        meta = Fields(read_json(path, "training record", fix=fix, allow_nan=True), path, fix=fix)
        version = meta.get_int("version", required=True)
        if version != RECORD_VERSION:
            raise UsageError(f"{path}: field version is {version}, this ftaudit reads {RECORD_VERSION}", fix)
        arrays = _load_arrays(folder / RECORD_ARRAYS, fix)
        texts = meta.get_strings("texts")
        seed_runs = []
        for run in meta.objects("seed_runs"):
            accuracy, share = run.get_float("accuracy"), run.get_float("majority_share")
            seed_runs.append(SeedRun(seed=run.get_int("seed", required=True),
                                     final_loss=run.get_float("final_loss", math.nan, finite=False),
                                     accuracy=accuracy, majority_share=share,
                                     diverged=run.get_bool("diverged", required=True),
                                     seconds=run.get_float("seconds", 0.0)))
        record = cls(source=meta.get_str("source", required=True), seed=meta.get_int("seed", required=True),
                     epochs=meta.get_int("epochs", required=True, minimum=1),
                     steps=meta.get_int("steps", required=True, minimum=0),
                     batch_size=meta.get_int("batch_size", required=True, minimum=0),
                     lr=meta.get_float("lr", required=True, finite=False), seconds=meta.get_float("seconds", 0.0),
                     label_names=meta.get_strings("label_names", required=True),
                     grad_layers=meta.get_strings("grad_layers") or (), texts=texts,
                     nonfinite_step=meta.get_int("nonfinite_step", minimum=0),
                     frozen_encoder=meta.get_bool("frozen_encoder", False),
                     eval_name=meta.get_str("eval_name", ""), eval_accuracy=meta.get_float("eval_accuracy"),
                     seed_runs=tuple(seed_runs),
                     step_loss=arrays["step_loss"], step_lr=arrays["step_lr"], loss_steps=arrays["loss_steps"],
                     grad_steps=arrays.get("grad_steps", np.zeros(0, dtype=np.int64)),
                     grad_norms=arrays.get("grad_norms", np.zeros((0, 0))), labels=arrays.get("labels"),
                     gold_prob=arrays.get("gold_prob"), margin=arrays.get("margin"), pred=arrays.get("pred"))
        problem = _inconsistency(record)
        if problem:
            raise UsageError(f"the training record in {folder} is inconsistent ({problem})", fix)
        return record


ARRAY_KINDS = {"step_loss": "f", "step_lr": "f", "loss_steps": "i", "grad_steps": "i", "grad_norms": "f",
               "labels": "i", "gold_prob": "f", "margin": "f", "pred": "i"}


def _load_arrays(path: Path, fix: str) -> dict[str, np.ndarray]:
    """The record's arrays: numeric, of the kind each must be (no pickled objects: allow_pickle=False)."""
    import zipfile

    from ftaudit.jsonfile import check_readable

    check_readable(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k in ARRAY_KINDS}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, AttributeError) as exc:
        raise UsageError(f"the training arrays {path} cannot be read ({type(exc).__name__})", fix) from None
    for name in ("step_loss", "step_lr", "loss_steps"):
        if name not in arrays:
            raise UsageError(f"the training arrays {path} lack {name}", fix)
    for name, array in arrays.items():
        if array.dtype.kind not in (ARRAY_KINDS[name], "u" if ARRAY_KINDS[name] == "i" else "f"):
            raise UsageError(f"the training arrays {path}: {name} must hold {'integers' if ARRAY_KINDS[name] == 'i' else 'numbers'}, "
                             f"got dtype {array.dtype}", fix)
    return arrays


def _inconsistency(r: "TrainingRecord") -> str:
    """Why the record's fields and array shapes do not fit together, or ""."""
    if not (r.step_loss.ndim == r.step_lr.ndim == r.loss_steps.ndim == 1) or \
            not len(r.step_loss) == len(r.step_lr) == len(r.loss_steps):
        return "step_loss, step_lr and loss_steps must be 1-D arrays of one length"
    if r.grad_norms.ndim != 2 or r.grad_steps.ndim != 1 or len(r.grad_norms) != len(r.grad_steps) \
            or (len(r.grad_steps) and r.grad_norms.shape[1] != len(r.grad_layers)):
        return "grad_norms must be [len(grad_steps), len(grad_layers)]"
    per_example = [a for a in (r.gold_prob, r.margin, r.pred) if a is not None]
    if per_example:
        n = None if r.labels is None else len(r.labels)
        if r.labels is None or r.labels.ndim != 1 or any(a.shape != (r.epochs, n) for a in per_example):
            return "gold_prob, margin and pred must be [epochs, len(labels)]"
        if r.texts is not None and len(r.texts) != n:
            return "texts and labels differ in length"
        if n and r.label_names and not ((r.labels >= 0) & (r.labels < len(r.label_names))).all():
            return "labels outside label_names"
    return ""


@dataclass(frozen=True)
class SeedRun:
    """One seed of a `--seeds K` run: how it ended and how it scored."""

    seed: int
    final_loss: float  # mean training loss over the last 10% of steps (NaN when it diverged)
    accuracy: float | None  # on the eval split (`TrainingRecord.eval_name`)
    majority_share: float | None  # share of the eval split predicted as the most-predicted class
    diverged: bool
    seconds: float


# --------------------------------------------------------------------------- helpers


def layer_groups(model: Any) -> list[tuple[str, int, list[Any]]]:
    """Trainable parameters grouped by layer (embeddings, layer i, pooler, head), in input-to-output order."""
    arch = architecture_of(model)
    groups: dict[tuple[str, int], list[Any]] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            g = arch.classify(name)
            groups.setdefault((g.layer, g.order), []).append(p)
    return [(layer, order, ps) for (layer, order), ps in sorted(groups.items(), key=lambda kv: kv[0][1])]


def no_decay(name: str) -> bool:
    """Biases and LayerNorm weights get no weight decay (the BERT recipe)."""
    lower = name.lower()
    return lower.endswith("bias") or "layernorm" in lower or "layer_norm" in lower or ".ln" in lower \
        or "norm.weight" in lower


def linear_schedule(step: int, warmup: int, total: int) -> float:
    """LR multiplier of 0-based `step`: (step+1)/warmup while warming up, then linear decay towards 0 at `total`."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup + 1))


def _mixed_precision(device: Any) -> str | None:
    import os

    import torch

    if os.environ.get("ACCELERATE_MIXED_PRECISION"):
        return None  # `accelerate launch` / `accelerate config` decides
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


def make_accelerator(device: Any) -> Any:
    """An `accelerate.Accelerator` on `device` (or on what `accelerate launch` configured)."""
    from accelerate import Accelerator

    return Accelerator(cpu=device.type == "cpu", mixed_precision=_mixed_precision(device))


# --------------------------------------------------------------------------- the loop


def train_classifier(base_files: Any, tokenizer: Any, train: TextSplit, labels: LabelSpace, *,
                     train_cfg: TrainConfig, max_length: int, device: Any, seed: int, progress: Any = None,
                     record: bool = True, model: Any = None, encodings: Any = None) -> tuple[Any, TrainingRecord]:
    """Fine-tune a sequence classifier on `train`; return (model in eval mode on `device`, TrainingRecord).

    base_files: a `modeling.ModelFiles` to load with a new head of `labels.size` classes; or pass `model`, an
    already-built classifier (e.g. with layers removed), which is trained in place. `encodings` reuses a
    tokenization of `train` (an `inference.Encodings` of the same rows). `record=False` trains without any
    instrumentation (the record then holds only the schedule and the wall time), for overhead comparisons.
    Training stops at the first non-finite loss (`record.nonfinite_step`). Runs under `accelerate launch`.
    """
    import torch
    from accelerate.utils import set_seed

    from ftaudit import modeling
    from ftaudit.inference import collate, encode

    start = time.perf_counter()
    set_seed(seed)
    if model is None:
        model = modeling.load_classifier(base_files, what="base model", trust_remote_code=False,
                                         allow_pickle=bool(base_files.pickles and not base_files.safetensors),
                                         id2label=dict(enumerate(labels.names)), require_head=False)
    if train_cfg.freeze_encoder:
        for p in model.base_model.parameters():
            p.requires_grad_(False)
    enc = encodings if encodings is not None else encode(tokenizer, train.texts, train.pairs, max_length)
    n = len(enc)
    pad_id = int(getattr(tokenizer, "pad_token_id", None) or 0)
    gold_all = torch.as_tensor(train.labels, dtype=torch.long)

    def collate_rows(rows: list[int]) -> dict[str, Any]:
        index = np.asarray(rows, dtype=np.int64)
        batch = collate(enc, index, pad_id, "cpu")
        batch["labels"] = gold_all[index]
        batch["index"] = torch.as_tensor(index)
        return batch

    generator = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(range(n), batch_size=train_cfg.batch_size, shuffle=True,
                                         generator=generator, collate_fn=collate_rows)
    decay = [p for name, p in model.named_parameters() if p.requires_grad and not no_decay(name)]
    plain = [p for name, p in model.named_parameters() if p.requires_grad and no_decay(name)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": train_cfg.weight_decay},
                                   {"params": plain, "weight_decay": 0.0}], lr=train_cfg.lr, betas=(0.9, 0.999),
                                  eps=1e-8)  # torch's AdamW applies bias correction to both moments
    total = len(loader) * train_cfg.epochs
    warmup = int(round(train_cfg.warmup_ratio * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: linear_schedule(s, warmup, total))
    accelerator = make_accelerator(device)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    dev = accelerator.device
    groups = layer_groups(accelerator.unwrap_model(model)) if record else []
    every = train_cfg.grad_norm_every
    losses = torch.full((total,), float("nan"), device=dev)
    lrs = np.full(total, np.nan)
    grad_steps: list[int] = []
    grad_rows: list[Any] = []
    epochs = train_cfg.epochs
    gold_prob = torch.full((epochs, n), float("nan"), device=dev) if record else None
    margin = torch.full((epochs, n), float("nan"), device=dev) if record else None
    pred = torch.full((epochs, n), -1, dtype=torch.int16, device=dev) if record else None
    nonfinite: int | None = None
    step = 0
    task = progress.task(f"fine-tune seed {seed}", total=total) if progress else None
    model.train()
    for epoch in range(epochs):
        for batch in loader:
            index = batch.pop("index")
            out = model(**batch)
            loss = out.loss
            if record:
                losses[step] = loss.detach()
            if not torch.isfinite(loss.detach()).item():
                nonfinite = step + 1  # stop: every later step would be NaN too
                break
            lrs[step] = scheduler.get_last_lr()[0]
            accelerator.backward(loss)
            if record:
                with torch.no_grad():
                    logits = out.logits.detach().float()
                    gold = batch["labels"]
                    logp = torch.log_softmax(logits, dim=-1)
                    g = logits.gather(1, gold[:, None])[:, 0]
                    other = logits.scatter(1, gold[:, None], float("-inf")).max(dim=1).values
                    idx, gp, mg, pr = accelerator.gather((index, logp.gather(1, gold[:, None])[:, 0].exp(),
                                                          g - other, logits.argmax(dim=1).to(torch.int32)))
                    gold_prob[epoch, idx] = gp
                    margin[epoch, idx] = mg
                    pred[epoch, idx] = pr.to(torch.int16)  # gathered as int32: gloo (CPU processes) lacks int16
                if step % every == 0 or step == total - 1:
                    grad_steps.append(step + 1)
                    grad_rows.append(_group_norms(groups, accelerator))
            if train_cfg.max_grad_norm > 0 and accelerator.sync_gradients:
                accelerator.clip_grad_norm_(model.parameters(), train_cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if task:
                task.advance()
        else:
            continue
        break
    if task:
        task.done()
    kept = step + (1 if nonfinite is not None else 0)  # the non-finite loss is kept in the record
    model = accelerator.unwrap_model(model)
    model.eval()
    model.to(device)
    accelerator.free_memory()
    rec = TrainingRecord(
        source="fine-tune", seed=seed, epochs=epochs, steps=step, batch_size=train_cfg.batch_size, lr=train_cfg.lr,
        seconds=time.perf_counter() - start, label_names=labels.names,
        step_loss=losses[:kept].double().cpu().numpy() if record else np.zeros(0), step_lr=lrs[:kept],
        loss_steps=np.arange(1, kept + 1, dtype=np.int64) if record else np.zeros(0, dtype=np.int64),
        grad_steps=np.asarray(grad_steps, dtype=np.int64),
        grad_layers=tuple(g[0] for g in groups),
        grad_norms=np.asarray([r.cpu().numpy() for r in grad_rows], dtype=np.float64).reshape(len(grad_rows),
                                                                                                len(groups)),
        labels=np.asarray(train.labels, dtype=np.int64) if record else None,
        texts=tuple(train.texts) if record else None,
        gold_prob=gold_prob.cpu().numpy() if record else None, margin=margin.cpu().numpy() if record else None,
        pred=pred.cpu().numpy() if record else None, nonfinite_step=nonfinite,
        frozen_encoder=train_cfg.freeze_encoder)
    return model, rec


def _group_norms(groups: list[tuple[str, int, list[Any]]], accelerator: Any) -> Any:
    """L2 norm of each group's gradient (unscaled under fp16), as one tensor [groups]; stays on device."""
    import torch

    scale = float(accelerator.scaler.get_scale()) if accelerator.scaler is not None else 1.0  # fp16: unscale
    out = []
    for _layer, _order, params in groups:
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            out.append(torch.zeros((), device=accelerator.device))
            continue
        norms = torch._foreach_norm(grads)
        out.append(torch.linalg.vector_norm(torch.stack(norms)))
    return torch.stack(out) / scale


def with_seed_runs(record: TrainingRecord, runs: tuple[SeedRun, ...], eval_name: str,
                   eval_accuracy: float | None) -> TrainingRecord:
    return replace(record, seed_runs=runs, eval_name=eval_name, eval_accuracy=eval_accuracy)


def final_loss(record: TrainingRecord) -> float:
    """Mean recorded loss over the last 10% of steps (at least one)."""
    loss = record.step_loss[np.isfinite(record.step_loss)] if record.nonfinite_step is None else np.array([])
    if record.nonfinite_step is not None or not len(loss):
        return math.nan
    k = max(1, len(loss) // 10)
    return float(loss[-k:].mean())
