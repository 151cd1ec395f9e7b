"""What a fine-tune was and what it recorded: `TrainingRun`, `SeedRun` and `TrainingRecord` (torch-free).

`TrainingRun` holds the scalars result.json carries (the dynamics result embeds it); `TrainingRecord` adds the
step-by-step and example-by-example arrays, which stay in an .npz next to the model and never reach result.json.
The fine-tune loop, the Trainer callback and the `trainer_state.json` reader all build a record through
`TrainingRecord.from_steps`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ftaudit.errors import UsageError

RECORD_ARRAYS = "ftaudit_training.npz"
RECORD_META = "ftaudit_training.json"
RECORD_VERSION = 1
_ARRAYS = ("step_loss", "step_lr", "loss_steps", "grad_steps", "grad_norms", "labels", "gold_prob", "margin", "pred")


@dataclass(frozen=True)
class TrainingRun:
    """How one fine-tune was set up and how it ended."""

    source: str  # "fine-tune" | "trainer callback" | "trainer log history"
    seed: int
    epochs: int
    steps: int
    batch_size: int
    lr: float
    seconds: float
    nonfinite_step: int | None = None  # first step whose loss was NaN/inf (training stopped there)
    frozen_encoder: bool = False
    lora_rank: int = 0  # the rank of the LoRA adapter that was trained (0: every weight trained)


@dataclass(frozen=True)
class SeedRun:
    """One seed of a `--seeds K` run: how it ended and how it scored."""

    seed: int
    accuracy: float | None  # on the eval split (`TrainingRecord.eval_name`)
    majority_share: float | None  # share of the eval split predicted as the most-predicted class
    final_loss: float | None  # mean training loss over the last 10% of steps (None when it diverged)
    diverged: bool


@dataclass(frozen=True)
class TrainingRecord:
    """A TrainingRun with what it recorded.

    Per-example arrays are [epochs, n] in the order of `texts`; NaN where an example was not seen that epoch.
    margin = gold logit - largest other logit (Pleiss et al. 2020); gold_prob = softmax probability of the label.
    """

    run: TrainingRun
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
    eval_name: str = ""  # split scored after training for the seed comparison ("validation" | "test")
    eval_accuracy: float | None = None
    seed_runs: tuple[SeedRun, ...] = ()  # every seed of a --seeds run, this one first
    # The fine-tune's own test checkpoint (fine-tune mode only; not saved with the record, whose test split may
    # not be the next audit's): after step `checkpoint_step` the model predicted `checkpoint_pred` on the audit's
    # test rows `checkpoint_rows`.
    checkpoint_step: int | None = None
    checkpoint_rows: np.ndarray | None = None  # int64 [k] indices into the audited test split
    checkpoint_pred: np.ndarray | None = None  # int64 [k]
    checkpoint_seconds: float = 0.0  # its wall time, part of `run.seconds` (the audit counts it as the probe's)

    @classmethod
    def from_steps(cls, *, source: str, seed: int, epochs: int, steps: int, batch_size: int, lr: float,
                   seconds: float, label_names: Sequence[str], step_loss: Any, step_lr: Any, loss_steps: Any,
                   grad_steps: Any = (), grad_layers: Sequence[str] = (), grad_norms: Any = (),
                   frozen_encoder: bool = False, lora_rank: int = 0, labels: Any = None,
                   texts: Sequence[str] | None = None,
                   gold_prob: Any = None, margin: Any = None, pred: Any = None) -> "TrainingRecord":
        """The record of a run from its per-step values; `nonfinite_step` is the step of the first NaN/inf loss."""
        loss = np.asarray(step_loss, dtype=np.float64)
        at = np.asarray(loss_steps, dtype=np.int64)
        bad = np.flatnonzero(~np.isfinite(loss))
        layers = tuple(grad_layers)
        norms = np.asarray(grad_norms, dtype=np.float64)
        run = TrainingRun(source=source, seed=seed, epochs=epochs, steps=steps, batch_size=batch_size, lr=lr,
                          seconds=seconds, nonfinite_step=int(at[bad[0]]) if len(bad) else None,
                          frozen_encoder=frozen_encoder, lora_rank=lora_rank)
        return cls(run=run, label_names=tuple(label_names), step_loss=loss,
                   step_lr=np.asarray(step_lr, dtype=np.float64), loss_steps=at,
                   grad_steps=np.asarray(grad_steps, dtype=np.int64), grad_layers=layers,
                   grad_norms=norms.reshape(len(norms), len(layers)),
                   labels=None if labels is None else np.asarray(labels, dtype=np.int64),
                   texts=None if texts is None else tuple(texts), gold_prob=gold_prob, margin=margin, pred=pred)

    def with_seed_runs(self, runs: tuple[SeedRun, ...], eval_name: str, eval_accuracy: float | None
                       ) -> "TrainingRecord":
        return replace(self, seed_runs=runs, eval_name=eval_name, eval_accuracy=eval_accuracy)

    def final_loss(self) -> float:
        """Mean recorded loss over the last 10% of steps (at least one); NaN when the run diverged."""
        if self.run.nonfinite_step is not None:
            return math.nan
        loss = self.step_loss[np.isfinite(self.step_loss)]
        if not len(loss):
            return math.nan
        k = max(1, len(loss) // 10)
        return float(loss[-k:].mean())

    def save(self, folder: Path) -> None:
        """Write the record as RECORD_META (JSON) + RECORD_ARRAYS (npz) into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {k: getattr(self, k) for k in _ARRAYS if getattr(self, k) is not None}
        np.savez_compressed(folder / RECORD_ARRAYS, **arrays)
        r = self.run
        meta = {"version": RECORD_VERSION, "source": r.source, "seed": r.seed, "epochs": r.epochs, "steps": r.steps,
                "batch_size": r.batch_size, "lr": r.lr, "seconds": r.seconds,
                "label_names": list(self.label_names), "grad_layers": list(self.grad_layers),
                "texts": None if self.texts is None else list(self.texts), "nonfinite_step": r.nonfinite_step,
                "frozen_encoder": r.frozen_encoder, "lora_rank": r.lora_rank, "eval_name": self.eval_name,
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
        seed_runs = []
        for run in meta.objects("seed_runs"):  # older records also hold `seconds`, and NaN for a diverged loss
            loss = run.get_float("final_loss", math.nan, finite=False)
            seed_runs.append(SeedRun(seed=run.get_int("seed", required=True), accuracy=run.get_float("accuracy"),
                                     majority_share=run.get_float("majority_share"),
                                     final_loss=None if loss is None or not math.isfinite(loss) else float(loss),
                                     diverged=run.get_bool("diverged", required=True)))
        run = TrainingRun(source=meta.get_str("source", required=True), seed=meta.get_int("seed", required=True),
                          epochs=meta.get_int("epochs", required=True, minimum=1),
                          steps=meta.get_int("steps", required=True, minimum=0),
                          batch_size=meta.get_int("batch_size", required=True, minimum=0),
                          lr=meta.get_float("lr", required=True, finite=False),
                          seconds=meta.get_float("seconds", 0.0),
                          nonfinite_step=meta.get_int("nonfinite_step", minimum=0),
                          frozen_encoder=meta.get_bool("frozen_encoder", False),
                          lora_rank=meta.get_int("lora_rank", 0, minimum=0) or 0)
        record = cls(run=run, label_names=meta.get_strings("label_names", required=True),
                     grad_layers=meta.get_strings("grad_layers") or (), texts=meta.get_strings("texts"),
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
        kind = ARRAY_KINDS[name]
        if array.dtype.kind not in (kind, "u" if kind == "i" else "f"):
            raise UsageError(f"the training arrays {path}: {name} must hold "
                             f"{'integers' if kind == 'i' else 'numbers'}, got dtype {array.dtype}", fix)
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
        if r.labels is None or r.labels.ndim != 1 or any(a.shape != (r.run.epochs, n) for a in per_example):
            return "gold_prob, margin and pred must be [epochs, len(labels)]"
        if r.texts is not None and len(r.texts) != n:
            return "texts and labels differ in length"
        if n and r.label_names and not ((r.labels >= 0) & (r.labels < len(r.label_names))).all():
            return "labels outside label_names"
    return ""
