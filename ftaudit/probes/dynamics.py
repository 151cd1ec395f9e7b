"""DynamicsProbe: what the recorded training run shows: loss and lr curves, per-layer gradient norms, dataset
cartography and area under the margin per training example, and the spread across seeds.

Cartography (Swayamdipta et al. 2020): confidence = mean over epochs of p(gold), variability = its std.
AUM (Pleiss et al. 2020): mean over epochs of (gold logit - largest other logit); AUM < threshold flags a likely
mislabelled example. Both come from the training forward passes; the probe runs no model.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from ftaudit.options import opt
from ftaudit.errors import UsageError
from ftaudit.probes.base import Need, Probe
from ftaudit.results import ProbeResult

if TYPE_CHECKING:
    from ftaudit.context import AuditContext

CURVE_POINTS = 400  # loss/lr curves are averaged into at most this many points for the report
GRID = 10  # cartography map: GRID x GRID cells of (variability, confidence)


@dataclass(frozen=True)
class FlaggedExample:
    """A training example whose label the training could not fit: a label-noise candidate."""

    index: int  # row in the training split the model was trained on
    text: str
    given: str
    predicted: str  # argmax of the last epoch's training forward pass
    confidence: float  # mean p(given label) over epochs
    variability: float  # std of p(given label) over epochs
    aum: float  # mean margin of the given label over epochs (logits)


@dataclass(frozen=True)
class LayerGradient:
    """Gradient L2 norm of one layer's parameters: median over the second half of the recorded steps."""

    layer: str  # "embeddings", "layer 0", ..., "pooler", "head"
    median: float
    series: tuple[float, ...]  # per recorded step, averaged into at most CURVE_POINTS bins (see grad_steps)


@dataclass(frozen=True)
class SeedSummary:
    seed: int
    accuracy: float | None
    majority_share: float | None  # share of the eval split predicted as the most-predicted class
    final_loss: float | None
    diverged: bool


@dataclass(frozen=True)
class DynamicsResult(ProbeResult):
    kind = "dynamics"
    source: str  # "fine-tune" | "trainer callback" | "trainer log history"
    seed: int
    epochs: int
    steps: int
    batch_size: int
    lr: float
    seconds: float
    n_classes: int
    label_entropy: float | None  # H(y) of the training labels, nats
    loss_steps: tuple[int, ...]  # curve x (step), averaged into at most CURVE_POINTS bins
    loss: tuple[float, ...]
    lr_curve: tuple[float, ...]
    initial_loss: float | None  # mean over the first 5% of steps
    final_loss: float | None  # mean over the last 10% of steps
    late_drop: float | None  # (mean loss over 60-80% of steps - over 80-100%) / the former
    nonfinite_step: int | None
    max_loss_ratio: float | None  # largest loss over a 5%-of-steps window / initial loss
    grad_steps: tuple[int, ...]
    layers: tuple[LayerGradient, ...]  # input to output
    lower_to_top_ratio: float | None  # median grad norm, lowest encoder layer / top encoder layer
    frozen_encoder: bool
    train_accuracy: float | None  # last epoch, from the training forward pass
    train_majority_share: float | None  # last epoch: share of predictions on the most-predicted class
    test_accuracy: float | None  # the audited model on test (shared prediction pass)
    test_majority_share: float | None
    majority_baseline: float | None  # share of the most frequent class in test
    n_tracked: int  # training examples with per-epoch dynamics
    aum_threshold: float  # -aum_scale x median positive AUM of this run (logits)
    n_flagged: int
    noise_rate: float | None  # estimated share of wrong labels: flagged / tracked
    flagged: tuple[FlaggedExample, ...]  # the lowest-AUM flagged examples, at most Options.max_listed
    cartography: tuple[tuple[int, ...], ...]  # [variability bin][confidence bin] counts; bins of 0.05 and 0.1
    seed_metric: str  # "validation accuracy" | "test accuracy" | ""
    seeds: tuple[SeedSummary, ...]


@dataclass(frozen=True)
class DynamicsOptions:
    aum_scale: float = opt(0.5, "flag training examples whose area under the margin is below -aum_scale x the "
                                "median AUM of the examples with a positive one: a mislabelled example mirrors a "
                                "correctly labelled one, while merely hard examples sit near 0")
    max_listed: int = opt(50, "most flagged examples listed in the report")

    def validate(self) -> None:
        if self.aum_scale < 0:
            raise UsageError(f"--dynamics-aum-scale must be >= 0, got {self.aum_scale}", "use e.g. 0.5")
        if self.max_listed < 0:
            raise UsageError(f"--dynamics-max-listed must be >= 0, got {self.max_listed}", "use e.g. 50")


def binned(x: np.ndarray, y: np.ndarray, points: int = CURVE_POINTS) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """(last x, mean y) of at most `points` consecutive bins; non-finite y kept as NaN."""
    if len(x) <= points:
        return tuple(int(v) for v in x), tuple(float(v) for v in y)
    edges = np.linspace(0, len(x), points + 1).astype(int)
    xs = tuple(int(x[e - 1]) for e in edges[1:])
    ys = tuple(float(np.mean(y[a:b])) for a, b in zip(edges[:-1], edges[1:]))
    return xs, ys


def window_mean(y: np.ndarray, start: float, end: float) -> float | None:
    n = len(y)
    if n == 0:
        return None
    a, b = int(math.floor(start * n)), max(int(math.ceil(end * n)), int(math.floor(start * n)) + 1)
    part = y[a:min(b, n)]
    part = part[np.isfinite(part)]
    return float(part.mean()) if len(part) else None


def entropy(labels: np.ndarray, n_classes: int) -> float:
    p = np.bincount(labels, minlength=n_classes) / len(labels)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def _grad_summary(rec: Any) -> tuple[tuple[LayerGradient, ...], float | None]:
    norms = np.asarray(rec.grad_norms, dtype=np.float64)
    if norms.size == 0:
        return (), None
    half = norms[len(norms) // 2:]
    steps = np.asarray(rec.grad_steps, dtype=np.int64)
    layers = tuple(LayerGradient(layer=name, median=float(np.nanmedian(half[:, j])),
                                 series=binned(steps, norms[:, j])[1])
                   for j, name in enumerate(rec.grad_layers))
    encoder = [g for g in layers if g.layer.startswith("layer ")]
    ratio = None
    if len(encoder) >= 2 and encoder[-1].median > 0:
        ratio = encoder[0].median / encoder[-1].median
    return layers, ratio


def _cartography(conf: np.ndarray, var: np.ndarray) -> tuple[tuple[int, ...], ...]:
    ci = np.clip((conf * GRID).astype(int), 0, GRID - 1)
    vi = np.clip((var / 0.5 * GRID).astype(int), 0, GRID - 1)  # std of a probability is at most 0.5
    grid = np.zeros((GRID, GRID), dtype=int)
    np.add.at(grid, (vi, ci), 1)
    return tuple(tuple(int(c) for c in row) for row in grid)


class DynamicsProbe(Probe):
    """Reads the recorded training run: collapse, divergence, vanishing gradients, label noise, seed spread."""

    name = "dynamics"
    summary = "training dynamics: loss, gradients per layer, per-example margins (label noise), seed spread"
    needs = frozenset({Need.TRAINING_RUN})
    result_type = DynamicsResult
    Options = DynamicsOptions

    def run(self, ctx: "AuditContext") -> DynamicsResult:
        rec = ctx.training
        opts: DynamicsOptions = self.options
        loss = np.asarray(rec.step_loss, dtype=np.float64)
        steps = np.asarray(rec.loss_steps, dtype=np.int64)
        xs, ys = binned(steps, loss)
        _, lrs = binned(steps, np.asarray(rec.step_lr, dtype=np.float64))
        initial = window_mean(loss, 0.0, 0.05)
        late, end = window_mean(loss, 0.6, 0.8), window_mean(loss, 0.8, 1.0)
        finite = loss[np.isfinite(loss)]
        k = max(1, len(finite) // 20)
        smooth_max = float(np.convolve(finite, np.ones(k) / k, mode="valid").max()) if len(finite) else None
        layers, ratio = _grad_summary(rec)
        names = tuple(rec.label_names) or ctx.labels.names
        n_classes = len(names)
        gold = rec.labels if rec.labels is not None else None
        h = entropy(np.asarray(gold), n_classes) if gold is not None else entropy(ctx.splits["train"].labels,
                                                                                 ctx.labels.size)
        train_acc = train_share = None
        flagged: tuple[FlaggedExample, ...] = ()
        n_tracked = n_flagged = 0
        noise = None
        grid: tuple[tuple[int, ...], ...] = ()
        aum_threshold = 0.0
        if rec.gold_prob is not None and gold is not None and rec.nonfinite_step is None:
            gp = np.asarray(rec.gold_prob, dtype=np.float64)
            mg = np.asarray(rec.margin, dtype=np.float64)
            seen = np.isfinite(gp).any(axis=0)
            n_tracked = int(seen.sum())
            with np.errstate(invalid="ignore"), _quiet_nan_warnings():
                conf = np.nanmean(gp, axis=0)
                var = np.nanstd(gp, axis=0)
                aum = np.nanmean(mg, axis=0)
            last = np.asarray(rec.pred)[-1]
            ok = last >= 0
            if ok.any():
                train_acc = float((last[ok] == gold[ok]).mean())
                train_share = float(np.bincount(last[ok], minlength=n_classes).max() / ok.sum())
            positive = aum[seen & (aum > 0)]
            aum_threshold = -opts.aum_scale * float(np.median(positive)) if len(positive) else 0.0
            bad = np.flatnonzero(seen & (aum < aum_threshold))
            n_flagged = len(bad)
            noise = n_flagged / n_tracked if n_tracked else None
            listed = bad[np.argsort(aum[bad], kind="stable")][:opts.max_listed]
            texts = rec.texts or ()
            flagged = tuple(FlaggedExample(index=int(i), text=texts[i] if i < len(texts) else "",
                                           given=names[int(gold[i])],
                                           predicted=names[int(last[i])] if last[i] >= 0 else "",
                                           confidence=float(conf[i]), variability=float(var[i]), aum=float(aum[i]))
                            for i in listed)
            grid = _cartography(conf[seen], var[seen])
        test_acc = test_share = baseline = None
        if ctx.model is not None and "test" in ctx.splits and len(ctx.splits["test"]):
            preds = ctx.predictions("test")
            pred = preds.pred
            test_acc = float(preds.correct.mean())
            test_share = float(np.bincount(pred, minlength=n_classes).max() / len(pred))
            baseline = float(np.bincount(preds.labels, minlength=n_classes).max() / len(preds.labels))
        seeds = tuple(SeedSummary(seed=s.seed, accuracy=s.accuracy, majority_share=s.majority_share,
                                  final_loss=None if not math.isfinite(s.final_loss) else s.final_loss,
                                  diverged=s.diverged) for s in rec.seed_runs)
        return DynamicsResult(
            source=rec.source, seed=rec.seed, epochs=rec.epochs, steps=rec.steps, batch_size=rec.batch_size,
            lr=rec.lr, seconds=rec.seconds, n_classes=n_classes, label_entropy=h, loss_steps=xs, loss=ys,
            lr_curve=lrs, initial_loss=initial, final_loss=end,
            late_drop=(late - end) / late if late and end is not None and late > 0 else None,
            nonfinite_step=rec.nonfinite_step,
            max_loss_ratio=smooth_max / initial if smooth_max is not None and initial else None,
            grad_steps=binned(np.asarray(rec.grad_steps, dtype=np.int64), np.zeros(len(rec.grad_steps)))[0],
            layers=layers, lower_to_top_ratio=ratio,
            frozen_encoder=rec.frozen_encoder, train_accuracy=train_acc, train_majority_share=train_share,
            test_accuracy=test_acc, test_majority_share=test_share, majority_baseline=baseline,
            n_tracked=n_tracked, aum_threshold=aum_threshold, n_flagged=n_flagged, noise_rate=noise,
            flagged=flagged, cartography=grid, seed_metric=f"{rec.eval_name} accuracy" if rec.eval_name else "",
            seeds=seeds)


@contextlib.contextmanager
def _quiet_nan_warnings() -> Iterator[None]:
    """Silence numpy's empty-slice warnings for examples never seen in an epoch (their value is NaN)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Mean of empty slice", category=RuntimeWarning)
        warnings.filterwarnings("ignore", message="Degrees of freedom", category=RuntimeWarning)
        yield
