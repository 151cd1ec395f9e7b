"""The training core: one classifier loader, one optimizer, one loop (AdamW, a per-step learning rate, `accelerate`).

Every fine-tune ftaudit runs goes through `train_classifier`: the audited fine-tune and its seeds, the curve
points and the LR range test. Instrumentation costs no extra forward pass: the step loss, the learning rate,
per-layer gradient norms (every `grad_norm_every` steps) and each training example's gold-label probability and
margin are read from the training step itself. Example indices travel with the batches so each value lands on its
example.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np

from ftaudit.adapters import LoraSpec, plain_name, wrap_lora
from ftaudit.architectures import architecture_of
from ftaudit.config import TrainConfig
from ftaudit.data import LabelSpace, TextSplit
from ftaudit.training_run import TrainingRecord


# --------------------------------------------------------------------------- helpers


def layer_groups(model: Any) -> list[tuple[str, int, list[Any]]]:
    """Trainable parameters grouped by layer (embeddings, layer i, pooler, head), in input-to-output order."""
    arch = architecture_of(model)
    groups: dict[tuple[str, int], list[Any]] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            g = arch.classify(plain_name(name))
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


def new_classifier(files: Any, labels: LabelSpace, *, trust_remote_code: bool, allow_pickle: bool,
                   freeze_encoder: bool = False, lora: LoraSpec | None = None) -> Any:
    """A sequence classifier from `files` (a `modeling.ModelFiles`) with a new head of `labels.size` classes.

    The head's initialisation draws from torch's global generator: seed it first. `freeze_encoder` freezes
    `base_model`, so only the classification head trains. `lora` wraps the model in a peft LoRA adapter: the
    adapter and every module the checkpoint lacks (the new head) train, the rest is frozen.
    """
    from ftaudit import modeling

    model = modeling.load_classifier(files, what="base model", trust_remote_code=trust_remote_code,
                                     allow_pickle=allow_pickle, id2label=dict(enumerate(labels.names)),
                                     require_head=False)
    if freeze_encoder:
        for p in model.base_model.parameters():
            p.requires_grad_(False)
    return add_lora(model, lora, files) if lora is not None else model


def add_lora(model: Any, lora: LoraSpec, files: Any) -> Any:
    """`model` (loaded from `files`, perhaps cut to fewer layers) in a LoRA adapter; its new modules train in full."""
    from ftaudit import modeling

    return wrap_lora(model, lora, new_modules(model, modeling.base_weights(files).keys()))


def new_modules(model: Any, checkpoint_keys: Any) -> tuple[str, ...]:
    """Modules with a parameter that the checkpoint lacks (the new head, a missing pooler), by dotted name."""
    keys = set(checkpoint_keys)
    prefix = getattr(model, "base_model_prefix", "")
    out = set()
    for name, _ in model.named_parameters():
        bare = name[len(prefix) + 1:] if prefix and name.startswith(prefix + ".") else name
        if not {name, bare, f"{prefix}.{name}"} & keys:
            out.add(name.rsplit(".", 1)[0])
    return tuple(sorted(out))


def build_optimizer(model: Any, *, weight_decay: float, lr: float = 1.0) -> Any:
    """AdamW over the trainable parameters: `weight_decay` on weights, none on biases and LayerNorms.

    `lr` is the rate a scheduler multiplies; train_classifier keeps 1.0, so its schedule gives the rate itself.
    """
    import torch

    params = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    decay = [p for name, p in params if not no_decay(name)]
    plain = [p for name, p in params if no_decay(name)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": plain, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.999),
                             eps=1e-8)  # torch's AdamW applies bias correction to both moments


def random_batches(n: int, batch_size: int, steps: int, seed: int) -> list[list[int]]:
    """`steps` batches of rows drawn without replacement from successive permutations of range(n)."""
    rng = np.random.default_rng(seed)
    order: list[int] = []
    out = []
    for _ in range(steps):
        if len(order) < batch_size:
            order.extend(rng.permutation(n).tolist())
        out.append(order[:batch_size])
        order = order[batch_size:]
    return out


# --------------------------------------------------------------------------- the loop


@dataclass(frozen=True)
class Checkpoint:
    """Evaluate the model once, part-way through training: `evaluate(model)` (in eval mode) returns what the
    record keeps as `checkpoint_pred` (the audited fine-tune: its predicted class of each checkpoint row)."""

    fraction: float  # of the steps, after which to evaluate
    evaluate: Callable[[Any], Any]

    def step_of(self, total: int) -> int | None:
        """The 1-based step after which to evaluate; None when the run has no step strictly inside it."""
        step = int(round(self.fraction * total))
        return step if 1 <= step < total else None


def train_classifier(new_model: Callable[[], Any], tokenizer: Any, train: TextSplit, labels: LabelSpace, *,
                     train_cfg: TrainConfig, max_length: int, device: Any, seed: int, progress: Any = None,
                     record: bool = True, encodings: Any = None, lr_at: Callable[[int], float] | None = None,
                     batches: Sequence[Sequence[int]] | None = None, max_steps: int | None = None,
                     stop: Callable[[float], bool] | None = None, task_name: str | None = None,
                     checkpoint: Checkpoint | None = None) -> tuple[Any, TrainingRecord]:
    """Fine-tune a sequence classifier on `train`; return (model in eval mode on `device`, TrainingRecord).

    new_model: builds the classifier to train (e.g. `new_classifier`, or one with layers removed); it is called
    after seeding, so a new head's initialisation follows `seed`. `encodings` reuses a tokenization of `train`.
    The step loss and learning rate are always recorded; `record=False` skips the per-example values and the
    gradient norms (the overhead comparison of bench/dynamics.py; the curve points).
    lr_at(step): the learning rate of 0-based `step` (default: `train_cfg.lr` with linear warm-up and decay);
    batches: the training rows of each step, in order (default: `train_cfg.epochs` shuffled passes);
    max_steps: stop after this many steps; stop(loss): called after each step with its (finite) loss, True ends
    training. Training also stops at the first non-finite loss (`record.run.nonfinite_step`).
    checkpoint: evaluates the model part-way through (`Checkpoint`); the record keeps what it returned, and the
    training itself is unchanged by it (no dropout or random draw happens in eval mode).
    Runs under `accelerate launch`.
    """
    import torch
    from accelerate.utils import set_seed

    from ftaudit.inference import collate, encode, pad_id_of

    start = time.perf_counter()
    set_seed(seed)
    model = new_model()
    enc = encodings if encodings is not None else encode(tokenizer, train.texts, train.pairs, max_length)
    n = len(enc)
    pad_id = pad_id_of(tokenizer)
    gold_all = torch.as_tensor(train.labels, dtype=torch.long)

    def collate_rows(rows: list[int]) -> dict[str, Any]:
        index = np.asarray(rows, dtype=np.int64)
        batch = collate(enc, index, pad_id, "cpu")
        batch["labels"] = gold_all[index]
        batch["index"] = torch.as_tensor(index)
        return batch

    generator = torch.Generator().manual_seed(seed)  # the loader never draws from the global generator
    if batches is None:
        loader = torch.utils.data.DataLoader(range(n), batch_size=train_cfg.batch_size, shuffle=True,
                                             generator=generator, collate_fn=collate_rows)
        epochs = train_cfg.epochs
    else:
        loader = torch.utils.data.DataLoader(range(n), batch_sampler=[list(b) for b in batches],
                                             generator=generator, collate_fn=collate_rows)
        epochs = 1
    total = len(loader) * epochs if max_steps is None else min(len(loader) * epochs, max_steps)
    warmup = int(round(train_cfg.warmup_ratio * total))
    schedule = lr_at or (lambda s: train_cfg.lr * linear_schedule(s, warmup, total))
    optimizer = build_optimizer(model, weight_decay=train_cfg.weight_decay)
    # base lr 1.0, so lr = schedule(step); the step after the last one only ends the schedule
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: schedule(min(s, total - 1)))
    accelerator = make_accelerator(device)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    dev = accelerator.device
    groups = layer_groups(accelerator.unwrap_model(model)) if record else []
    every = train_cfg.grad_norm_every
    losses = torch.full((total,), float("nan"), device=dev)
    lrs = np.full(total, np.nan)
    grad_steps: list[int] = []
    grad_rows: list[Any] = []
    gold_prob = torch.full((epochs, n), float("nan"), device=dev) if record else None
    margin = torch.full((epochs, n), float("nan"), device=dev) if record else None
    pred = torch.full((epochs, n), -1, dtype=torch.int16, device=dev) if record else None
    nonfinite = False
    step = 0
    # this process's own steps: under data parallelism each runs len(loader) per epoch, fewer than `total` counts
    # (accelerate advances the schedule once per process each step, so the schedule itself spans `total`)
    own_steps = min(len(loader) * epochs, total)
    check_at = checkpoint.step_of(own_steps) if checkpoint is not None else None
    checked: tuple[int, Any, float] | None = None  # (step, what it returned, seconds)
    task = progress.task(task_name or f"fine-tune seed {seed}", total=total) if progress else None
    model.train()
    for epoch in range(epochs):
        for batch in loader:
            index = batch.pop("index")
            out = model(**batch)
            loss = out.loss
            losses[step] = loss.detach()
            if not torch.isfinite(loss.detach()).item():
                nonfinite = True  # stop: every later step would be NaN too
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
            if step == check_at:
                assert checkpoint is not None
                began = time.perf_counter()
                model.eval()
                checked = (step, checkpoint.evaluate(accelerator.unwrap_model(model)), time.perf_counter() - began)
                model.train()
            if task:
                task.advance()
            if step >= total or (stop is not None and stop(float(loss.detach()))):
                break
        else:
            continue
        break
    if task:
        task.done()
    kept = step + (1 if nonfinite else 0)  # the non-finite loss is kept in the record
    model = accelerator.unwrap_model(model)
    model.eval()
    model.to(device)
    accelerator.free_memory()
    rec = TrainingRecord.from_steps(
        source="fine-tune", seed=seed, epochs=epochs, steps=step, batch_size=train_cfg.batch_size,
        lr=train_cfg.lr, seconds=time.perf_counter() - start, label_names=labels.names,
        step_loss=losses[:kept].double().cpu().numpy(), step_lr=lrs[:kept],
        loss_steps=np.arange(1, kept + 1, dtype=np.int64), grad_steps=grad_steps,
        grad_layers=tuple(g[0] for g in groups), grad_norms=[r.cpu().numpy() for r in grad_rows],
        frozen_encoder=train_cfg.freeze_encoder, lora_rank=_lora_rank(model), labels=train.labels if record else None,
        texts=train.texts if record else None, gold_prob=gold_prob.cpu().numpy() if record else None,
        margin=margin.cpu().numpy() if record else None, pred=pred.cpu().numpy() if record else None)
    if checked is not None:
        rec = replace(rec, checkpoint_step=checked[0], checkpoint_pred=np.asarray(checked[1]),
                      checkpoint_seconds=checked[2])
    return model, rec


def _lora_rank(model: Any) -> int:
    """The rank of the LoRA adapter a peft model trains (0 for a plain model)."""
    configs = getattr(model, "peft_config", None) or {}
    config = configs.get(getattr(model, "active_adapter", ""))
    return int(getattr(config, "r", 0) or 0)


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
