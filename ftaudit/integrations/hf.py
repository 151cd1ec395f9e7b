"""FtauditCallback: record ftaudit's training dynamics during your own `transformers.Trainer` run.

    trainer = Trainer(..., callbacks=[FtauditCallback(base_model="bert-base-uncased")])
    trainer.train(); trainer.save_model()
    # then: ftaudit run --model OUTPUT_DIR --train ... --test ...

It adds no forward pass: a forward hook reads the loss and logits of each training batch. Examples are keyed by
their token ids (the Trainer shuffles and drops columns, so there is no row index to keep). Gradient norms per
layer are read before each optimizer step (after the Trainer's clipping, which scales every layer alike).
The record is written next to each checkpoint and into `output_dir` at the end (ftaudit_training.{json,npz}).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from transformers import TrainerCallback

from ftaudit.modeling import BASE_KEY
from ftaudit.training import layer_groups
from ftaudit.training_run import TrainingRecord


class FtauditCallback(TrainerCallback):
    """Records step loss and lr, per-layer gradient norms and per-example margins; writes them with checkpoints.

    base_model: the pre-trained model you fine-tuned (written into saved config.json as `ftaudit_base_model`, so
    `ftaudit run --model` finds it for drift); grad_norm_every: steps between gradient-norm readings.
    The event methods take `**kwargs` because that is the `TrainerCallback` protocol.
    """

    def __init__(self, *, base_model: str | None = None, grad_norm_every: int = 10,
                 track_examples: bool = True) -> None:
        if grad_norm_every < 1:
            raise ValueError(f"grad_norm_every must be at least 1, got {grad_norm_every}")
        self.base_model = base_model
        self.grad_norm_every = grad_norm_every
        self.track_examples = track_examples
        self._reset()

    def _reset(self) -> None:
        self._hook = None
        self._pending: list[Any] = []
        self._loss: list[float] = []
        self._lr: list[float] = []
        self._grad_steps: list[int] = []
        self._grad_rows: list[list[float]] = []
        self._groups: list[tuple[str, int, list[Any]]] = []
        self._keys: dict[tuple[int, ...], int] = {}
        self._labels: list[int] = []
        self._epoch_values: list[dict[int, tuple[float, float, int]]] = []
        self._epoch = 0
        self._start = time.perf_counter()
        self._label_names: tuple[str, ...] = ()
        self._tokenizer: Any = None

    # ----------------------------------------------------------------- events

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self._reset()
        self._tokenizer = kwargs.get("processing_class") or kwargs.get("tokenizer")
        id2label = getattr(getattr(model, "config", None), "id2label", None) or {}
        self._label_names = tuple(str(id2label[i]) for i in sorted(id2label))
        self._groups = layer_groups(model)
        if self.base_model:  # every later save_pretrained of this model records its base
            setattr(model.config, BASE_KEY, self.base_model)
        self._hook = model.register_forward_hook(self._on_forward, with_kwargs=True)

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._epoch_values.append({})

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        import torch

        optimizer = kwargs.get("optimizer")
        self._lr.append(float(optimizer.param_groups[0]["lr"]) if optimizer is not None else float("nan"))
        if state.global_step % self.grad_norm_every == 0:
            row = []
            for _layer, _order, params in self._groups:
                grads = [p.grad for p in params if p.grad is not None]
                row.append(float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))
                           if grads else 0.0)
            self._grad_steps.append(state.global_step + 1)
            self._grad_rows.append(row)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._pending:
            import torch

            self._loss.append(float(torch.stack(self._pending).float().mean()))
            self._pending.clear()

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if folder.is_dir() and state.is_world_process_zero:
            self._write(folder, args, state)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if state.is_world_process_zero:
            self._write(Path(args.output_dir), args, state)

    # ----------------------------------------------------------------- recording

    def _on_forward(self, module: Any, args: Any, kwargs: dict[str, Any], output: Any) -> None:
        import torch

        if not module.training:
            return
        loss = getattr(output, "loss", None)
        if loss is not None:
            self._pending.append(loss.detach())
        labels, ids = kwargs.get("labels"), kwargs.get("input_ids")
        logits = getattr(output, "logits", None)
        if not self.track_examples or labels is None or ids is None or logits is None or logits.dim() != 2:
            return
        if not self._epoch_values:
            self._epoch_values.append({})
        with torch.no_grad():
            logits = logits.detach().float()
            gold = labels.long()
            prob = torch.softmax(logits, dim=-1).gather(1, gold[:, None])[:, 0]
            other = logits.scatter(1, gold[:, None], float("-inf")).max(dim=1).values
            margin = logits.gather(1, gold[:, None])[:, 0] - other
            pred = logits.argmax(dim=1)
        mask = kwargs.get("attention_mask")
        rows = ids.cpu().tolist()
        lengths = mask.sum(dim=1).cpu().tolist() if mask is not None else [len(r) for r in rows]
        values = self._epoch_values[-1]
        for r, n, g, p, m, k in zip(rows, lengths, gold.cpu().tolist(), prob.cpu().tolist(), margin.cpu().tolist(),
                                    pred.cpu().tolist()):
            key = tuple(r[:int(n)])
            index = self._keys.setdefault(key, len(self._keys))
            if index == len(self._labels):
                self._labels.append(int(g))
            values[index] = (float(p), float(m), int(k))

    def record(self, args: Any, state: Any) -> TrainingRecord:
        """What was recorded so far, as a TrainingRecord."""
        n, epochs = len(self._keys), len(self._epoch_values)
        gold_prob = margin = pred = None
        texts = None
        if n and epochs:
            gold_prob = np.full((epochs, n), np.nan, dtype=np.float32)
            margin = np.full((epochs, n), np.nan, dtype=np.float32)
            pred = np.full((epochs, n), -1, dtype=np.int16)
            for e, values in enumerate(self._epoch_values):
                for i, (p, m, k) in values.items():
                    gold_prob[e, i], margin[e, i], pred[e, i] = p, m, k
            texts = tuple(self._decode(key) for key in self._keys)
        loss = np.asarray(self._loss, dtype=np.float64)
        world = max(1, int(getattr(args, "world_size", 1) or 1))
        return TrainingRecord.from_steps(
            source="trainer callback", seed=int(args.seed), epochs=epochs, steps=int(state.global_step),
            batch_size=int(args.per_device_train_batch_size) * world * int(args.gradient_accumulation_steps),
            lr=float(args.learning_rate), seconds=time.perf_counter() - self._start, label_names=self._label_names,
            step_loss=loss, step_lr=self._lr[:len(loss)], loss_steps=np.arange(1, len(loss) + 1),
            grad_steps=self._grad_steps, grad_layers=tuple(g[0] for g in self._groups), grad_norms=self._grad_rows,
            labels=self._labels if n else None, texts=texts, gold_prob=gold_prob, margin=margin, pred=pred)

    def _decode(self, ids: tuple[int, ...]) -> str:
        if self._tokenizer is None:
            return " ".join(map(str, ids))
        return self._tokenizer.decode(list(ids), skip_special_tokens=True)

    def _write(self, folder: Path, args: Any, state: Any) -> None:
        self.record(args, state).save(folder)
        config = folder / "config.json"
        if self.base_model and config.is_file():
            data = json.loads(config.read_text(encoding="utf-8"))
            data[BASE_KEY] = self.base_model
            config.write_text(json.dumps(data, indent=2), encoding="utf-8")
