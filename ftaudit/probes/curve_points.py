"""One point of a factor curve: a fine-tune on some data with some model, scored on test; kept for --resume.

Shared by the learning-curve and size-curve probes. A finished point goes into the run's `ftaudit.cache`
(a slot keyed by what decides the point: the training subset, the schedule, the model variant and the seed;
the run key already covers the base model, data files and options), so an interrupted audit rerun with
--resume does not train it again.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from ftaudit.architectures import architecture_of

if TYPE_CHECKING:
    from ftaudit.context import AuditContext


@dataclass(frozen=True)
class Schedule:
    """The optimisation schedule a point trained with: linear warm-up then linear decay, AdamW."""

    epochs: int
    steps: int
    batch_size: int
    lr: float
    warmup_ratio: float


@dataclass(frozen=True)
class CurvePoint:
    """One fine-tune of a curve, scored on test (or the curve's fixed sample of it) and on its own training subset
    (or a capped sample of it)."""

    size: int  # training examples
    model: str  # "" for the audited base; else e.g. "2 of 6 layers" or a model id
    layers: int  # encoder layers of the model trained
    parameters: int
    repeat: int
    seed: int
    train_accuracy: float
    test_accuracy: float
    test_loss: float  # mean cross-entropy, nats
    schedule: Schedule
    seconds: float  # wall time of fine-tune and evaluation when it was computed
    source: str  # "trained" | "cached" | "main fine-tune"
    loss_tail: float | None = None  # how much the training loss still fell over the last quarter of the steps:
    # 1 - mean(last quarter) / mean(the quarter before); None when not recorded (fewer than 8 steps, or a point
    # cached by an older version)
    final_loss: float | None = None  # mean training loss over the last quarter of the steps, nats; None as loss_tail
    # Scored on train rows outside its subset (a stratified sample; the learning curve's largest subset only): per
    # label id, how many were scored and how many of those it got right. Empty when not scored.
    unseen_by_class: tuple[int, ...] = ()
    unseen_correct_by_class: tuple[int, ...] = ()

    @property
    def unseen_accuracy(self) -> float | None:
        """Accuracy on the train rows it never saw, at train's class mix; None when not scored."""
        n = sum(self.unseen_by_class)
        return sum(self.unseen_correct_by_class) / n if n else None


def _digest(*chunks: Any) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk if isinstance(chunk, bytes) else str(chunk).encode())
        h.update(b"\0")
    return h.hexdigest()


def split_digest(split: Any) -> str:
    """Content hash of a TextSplit: texts, pairs and label ids."""
    pairs = split.pairs or ()
    return _digest("\n".join(split.texts), "\n".join(pairs), np.asarray(split.labels, dtype=np.int64).tobytes())


def pack_bits(correct: np.ndarray) -> str:
    return np.packbits(np.asarray(correct, dtype=bool)).tobytes().hex()


def unpack_bits(text: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(text), dtype=np.uint8))[:n].astype(bool)


def point_to_json(point: CurvePoint, test_correct: np.ndarray) -> dict[str, Any]:
    return {"point": asdict(point), "test_correct": pack_bits(test_correct), "n_test": int(len(test_correct))}


def point_from_json(data: dict[str, Any]) -> tuple[CurvePoint, np.ndarray]:
    p = dict(data["point"])
    p["schedule"] = Schedule(**p["schedule"])
    for name in ("unseen_by_class", "unseen_correct_by_class"):
        p[name] = tuple(int(v) for v in p.get(name, ()))
    p["source"] = "cached"
    return CurvePoint(**p), unpack_bits(data["test_correct"], int(data["n_test"]))


# --------------------------------------------------------------------------- computing points


def depth_name(layers: int) -> str:
    return "1 layer" if layers == 1 else f"{layers} layers"


def count_parameters(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def encoder_layers(model: Any) -> int:
    return architecture_of(model).depth_of(model.config)


def main_schedule(ctx: "AuditContext") -> Schedule:
    """The schedule of the main fine-tune, from the recorded run when there is one, else from the config."""
    import math

    t = ctx.config.train
    n = len(ctx.splits["train"])
    per_epoch = math.ceil(n / t.batch_size)
    steps = int((ctx.training.run.steps if ctx.training is not None else 0) or per_epoch * t.epochs)
    return Schedule(epochs=t.epochs, steps=steps, batch_size=t.batch_size, lr=t.lr, warmup_ratio=t.warmup_ratio)


def _quarters(step_loss: Any) -> tuple[float, float] | None:
    """(mean of the quarter before the last, mean of the last quarter) of the finite step losses; None with fewer
    than 8 of them."""
    loss = np.asarray(step_loss, dtype=np.float64)
    loss = loss[np.isfinite(loss)]
    q = len(loss) // 4
    if q < 2:
        return None
    return float(loss[-2 * q:-q].mean()), float(loss[-q:].mean())


def loss_tail(step_loss: Any) -> float | None:
    """1 - mean(last quarter of the step losses) / mean(the quarter before): 0.3 means the loss still fell by 30%
    over the last quarter of training. None with fewer than 8 finite steps."""
    quarters = _quarters(step_loss)
    if quarters is None or quarters[0] <= 0:
        return None
    return 1.0 - quarters[1] / quarters[0]


def final_loss(step_loss: Any) -> float | None:
    """Mean training loss over the last quarter of the steps (nats); None with fewer than 8 finite steps."""
    quarters = _quarters(step_loss)
    return None if quarters is None else quarters[1]


def main_point(ctx: "AuditContext", name: str = "", test_index: np.ndarray | None = None,
               train_index: np.ndarray | None = None) -> CurvePoint:
    """The main fine-tune as the curve's full-size point, from the shared prediction pass (not retrained); scored
    on the rows `test_index` of test and `train_index` of train when given, as the other points are."""
    train = ctx.predictions("train")
    test = ctx.predictions("test")
    tr = slice(None) if train_index is None else np.asarray(train_index)
    te = slice(None) if test_index is None else np.asarray(test_index)
    seconds = float(ctx.training.run.seconds if ctx.training is not None else 0.0)
    steps = ctx.training.step_loss if ctx.training is not None else None
    layers = encoder_layers(ctx.model)
    return CurvePoint(size=len(ctx.splits["train"]), model=name or depth_name(layers), layers=layers,
                      parameters=count_parameters(ctx.model), repeat=0, seed=ctx.seed,
                      train_accuracy=float(train.correct[tr].mean()), test_accuracy=float(test.correct[te].mean()),
                      test_loss=float(test.loss[te].mean()), schedule=main_schedule(ctx), seconds=seconds,
                      source="main fine-tune", loss_tail=loss_tail(steps) if steps is not None else None,
                      final_loss=final_loss(steps) if steps is not None else None)


def predict_rows(ctx: "AuditContext", model: Any, split: str, rows: np.ndarray, tokenizer: Any = None) -> Any:
    """Predictions of a freshly trained model on rows `rows` of `split`. With the audit's tokenizer the shared
    encodings are reused; another model's tokenizer encodes afresh."""
    from ftaudit.inference import Predictions, encode, pad_id_of, predict_logits

    if tokenizer is None:
        enc, pad_id = ctx.encodings(split).subset(rows), ctx.pad_id
    else:
        part = ctx.splits[split].subset(rows)
        enc, pad_id = encode(tokenizer, part.texts, part.pairs, ctx.config.data.max_length), pad_id_of(tokenizer)
    logits = predict_logits(model, enc, device=ctx.device, batch_size=ctx.config.run.eval_batch_size, pad_id=pad_id)
    return Predictions(logits=logits, labels=ctx.splits[split].labels[rows])


def evaluate(ctx: "AuditContext", model: Any, train_index: np.ndarray, tokenizer: Any = None,
             test_index: np.ndarray | None = None, unseen_index: np.ndarray | None = None
             ) -> tuple[float, np.ndarray, float, np.ndarray]:
    """(train accuracy on train rows `train_index`, test correctness [m], mean test loss, correctness on the train
    rows `unseen_index` [k]) of a freshly trained model, in one prediction pass per split.

    Test is scored on its rows `test_index` (all of it when None); no unseen rows when `unseen_index` is None.
    """
    test_rows = np.arange(len(ctx.splits["test"])) if test_index is None else np.asarray(test_index)
    unseen = np.zeros(0, dtype=np.int64) if unseen_index is None else np.asarray(unseen_index)
    test_pred = predict_rows(ctx, model, "test", test_rows, tokenizer)
    train_correct = predict_rows(ctx, model, "train", np.concatenate([train_index, unseen]), tokenizer).correct
    n = len(train_index)
    return float(train_correct[:n].mean()), test_pred.correct, float(test_pred.loss.mean()), train_correct[n:]


def train_point(ctx: "AuditContext", *, size: int, repeat: int, schedule: Schedule, what: str,
                layers: int | None = None, model_ref: str | None = None, test_index: np.ndarray | None = None,
                train_eval: int | None = None, unseen_eval: int | None = None) -> tuple[CurvePoint, np.ndarray]:
    """Fine-tune on a stratified subset of `size` training examples, then score it; kept in the run's cache.

    `layers` keeps only the first k encoder layers of the base; `model_ref` trains another model instead.
    `test_index` scores it on those test rows only (all of test when None); `train_eval` caps the training
    accuracy at a stratified sample of that many of the subset's rows (all of them when None); `unseen_eval` also
    scores it on a stratified sample of at most that many train rows outside the subset (none when None).
    """
    import time

    from ftaudit.cache import cache_of
    from ftaudit.data import stratified_sample

    seed = ctx.seed + repeat
    train, test = ctx.splits["train"], ctx.splits["test"]
    index = stratified_sample(train.labels, size, seed)
    scored = index if train_eval is None else index[stratified_sample(train.labels[index], train_eval, seed)]
    test_rows = np.arange(len(test)) if test_index is None else np.asarray(test_index)
    unseen = unseen_rows(train.labels, index, unseen_eval, seed)
    key = {"what": what, "size": size, "seed": seed, "schedule": asdict(schedule), "layers": layers,
           "model": model_ref, "train": split_digest(train.subset(index)), "test": split_digest(test.subset(test_rows))}
    if train_eval is not None:
        key["train_scored"] = split_digest(train.subset(scored))
    if len(unseen):
        key["unseen_scored"] = split_digest(train.subset(unseen))
    slot = cache_of(ctx).point(key)
    hit = slot.get()
    if isinstance(hit, dict) and int(hit.get("n_test", -1)) == len(test_rows):
        return point_from_json(hit)
    start = time.perf_counter()
    model, tokenizer, record = fine_tune_subset(ctx, index, schedule, seed, layers=layers, model_ref=model_ref)
    train_acc, test_correct, test_loss, unseen_correct = evaluate(ctx, model, scored, tokenizer, test_index, unseen)
    by_class, right_by_class = class_counts(train.labels[unseen], unseen_correct, ctx.labels.size)
    n_layers = encoder_layers(model)
    name = model_ref or depth_name(n_layers)
    point = CurvePoint(size=len(index), model=name, layers=n_layers, parameters=count_parameters(model),
                       repeat=repeat, seed=seed, train_accuracy=train_acc, test_accuracy=float(test_correct.mean()),
                       test_loss=test_loss, schedule=schedule, seconds=time.perf_counter() - start,
                       source="trained", loss_tail=loss_tail(record.step_loss),
                       final_loss=final_loss(record.step_loss), unseen_by_class=by_class,
                       unseen_correct_by_class=right_by_class)
    del model
    slot.put(point_to_json(point, test_correct))
    return point, test_correct


def class_counts(labels: np.ndarray, correct: np.ndarray, n_labels: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(rows per label id, right per label id) of scored rows; both empty when no row was scored."""
    if len(labels) == 0:
        return (), ()
    return (tuple(int(v) for v in np.bincount(labels, minlength=n_labels)),
            tuple(int(v) for v in np.bincount(labels[correct], minlength=n_labels)))


def unseen_rows(labels: np.ndarray, index: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    """A stratified sample of at most `cap` train rows outside `index` (sorted row numbers; empty when cap is None)."""
    from ftaudit.data import stratified_sample

    if cap is None:
        return np.zeros(0, dtype=np.int64)
    outside = np.setdiff1d(np.arange(len(labels)), index)
    if len(outside) == 0:
        return outside
    return np.sort(outside[stratified_sample(labels[outside], cap, seed)])


def keep_first_layers(model: Any, k: int) -> Any:
    """Drop every encoder layer after the first k, in place, where the architecture table says how."""
    return architecture_of(model).keep_first_layers(model, k)


def fine_tune_subset(ctx: "AuditContext", index: np.ndarray, schedule: Schedule, seed: int, *,
                     layers: int | None = None, model_ref: str | None = None) -> tuple[Any, Any, Any]:
    """Fine-tune with the training core (`training.train_classifier`, uninstrumented) on train rows `index`, for
    exactly `schedule.steps` steps (a step floor may end part-way through an epoch).

    Returns (model, tokenizer, its TrainingRecord): the tokenizer is the audit's, or `model_ref`'s own when another
    model is compared; the record holds the step losses only.
    """
    from dataclasses import replace

    from ftaudit import modeling
    from ftaudit.adapters import lora_spec
    from ftaudit.training import add_lora, new_classifier, train_classifier

    m = ctx.config.model
    train = ctx.splits["train"].subset(index)
    cfg = replace(ctx.config.train, epochs=schedule.epochs, batch_size=schedule.batch_size, lr=schedule.lr,
                  warmup_ratio=schedule.warmup_ratio)
    files = modeling.locate(model_ref or m.base or str(ctx.base.ref),
                            "model to compare" if model_ref else "base model", allow_pickle=m.allow_pickle)

    lora = lora_spec(cfg)

    def new_model() -> Any:  # a cut model gets its adapter after the cut
        return new_classifier(files, ctx.labels, trust_remote_code=m.trust_remote_code, allow_pickle=m.allow_pickle,
                              freeze_encoder=cfg.freeze_encoder, lora=lora if layers is None else None)

    tokenizer, encodings = None, None
    if model_ref is not None:
        tokenizer, _ = modeling.load_tokenizer(files.folder, trust_remote_code=m.trust_remote_code)
    else:
        encodings = ctx.encodings("train").subset(index)
    build = new_model
    if layers is not None:  # built before train_classifier seeds, as these points always were
        shallow = keep_first_layers(new_model(), layers)
        if lora is not None:
            shallow = add_lora(shallow, lora, files)
        build = lambda: shallow  # noqa: E731
    model, record = train_classifier(build, tokenizer or ctx.tokenizer, train, ctx.labels, train_cfg=cfg,
                                     max_length=ctx.config.data.max_length, device=ctx.device, seed=seed,
                                     record=False, encodings=encodings, max_steps=schedule.steps)
    return model, tokenizer, record


@dataclass(frozen=True)
class PointRun:
    """The points of a curve probe's jobs, with their test correctness, the extra training time and cache hits."""

    points: list[CurvePoint]
    correct: list[np.ndarray]
    extra_seconds: float  # training time of the points trained in this run (cached ones cost nothing)
    cached: int


def run_points(ctx: "AuditContext", jobs: Sequence[Any], label: str,
               train_one: Callable[[Any], tuple[CurvePoint, np.ndarray]]) -> PointRun:
    """Train (or read from the cache) one point per job, one after another, with a progress bar."""
    points: list[CurvePoint] = []
    correct: list[np.ndarray] = []
    extra, cached = 0.0, 0
    task = ctx.progress.task(label, total=len(jobs)) if ctx.progress else None
    for job in jobs:
        point, test_correct = train_one(job)
        points.append(point)
        correct.append(test_correct)
        extra += point.seconds if point.source == "trained" else 0.0
        cached += point.source == "cached"
        if task:
            task.advance()
    if task:
        task.done()
    return PointRun(points=points, correct=correct, extra_seconds=extra, cached=cached)
