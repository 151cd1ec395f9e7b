"""DynamicsProbe: what the recorded training run shows: loss and lr curves, per-layer gradient norms, dataset
cartography and area under the margin per training example, and the spread across seeds.

Cartography (Swayamdipta et al. 2020): confidence = mean over epochs of p(gold), variability = its std.
AUM (Pleiss et al. 2020): mean over epochs of (gold logit - largest other logit); a very negative AUM marks a likely
mislabelled example (the rule `label-noise-suspected` sets how negative). Both come from the training forward
passes; the probe runs no model.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from ftaudit.options import opt
from ftaudit.errors import UsageError
from ftaudit.probes.base import Need, Probe
from ftaudit.results import INLINE, ProbeResult
from ftaudit.stats import PairedGain, label_entropy, paired_gain
from ftaudit.training_run import SeedRun, TrainingRun

if TYPE_CHECKING:
    from ftaudit.context import AuditContext

CURVE_POINTS = 400  # loss/lr curves are averaged into at most this many points for the report
GRID = 10  # cartography map: GRID x GRID cells of (variability, confidence)
# Loss windows, as shares of the recorded steps (the rules' messages name them: keep the two in step)
INITIAL_WINDOW = 0.05  # initial_loss: mean over the first 5% of steps
FINAL_WINDOW = 0.2  # final_loss: mean over the last 20%; late_drop compares it with the 20% before (60-80%)
SPIKE_WINDOW = 0.05  # max_loss_ratio: the largest mean over a moving window of 5% of the steps


@dataclass(frozen=True)
class MarginExample:
    """A training example whose given label kept losing to another class in training: a label-noise candidate."""

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
class DynamicsResult(ProbeResult):
    kind = "dynamics"
    run: TrainingRun = field(metadata=INLINE)  # its fields sit at the top level of the JSON object
    n_classes: int
    label_entropy: float | None  # H(y) of the training labels, nats
    loss_steps: tuple[int, ...]  # curve x (step), averaged into at most CURVE_POINTS bins
    loss: tuple[float, ...]
    lr_curve: tuple[float, ...]
    initial_loss: float | None  # mean over the first 5% of steps
    final_loss: float | None  # mean over the last 20% of steps
    late_drop: float | None  # (mean loss over 60-80% of steps - over 80-100%) / the former
    max_loss_ratio: float | None  # largest loss over a 5%-of-steps window / initial loss
    grad_steps: tuple[int, ...]
    layers: tuple[LayerGradient, ...]  # input to output
    lower_to_top_ratio: float | None  # median grad norm, lowest encoder layer / top encoder layer
    train_accuracy: float | None  # last epoch, from the training forward pass
    train_majority_share: float | None  # last epoch: share of predictions on the most-predicted class
    test_accuracy: float | None  # the audited model on test (shared prediction pass)
    test_majority_share: float | None
    majority_baseline: float | None  # share of the most frequent class in test
    n_tracked: int  # training examples with per-epoch dynamics
    cartography: tuple[tuple[int, ...], ...]  # [variability bin][confidence bin] counts; bins of 0.05 and 0.1
    seed_metric: str  # "validation accuracy" | "test accuracy" | ""
    seeds: tuple[SeedRun, ...]
    positive_aum_median: float | None = None  # median AUM of the tracked examples with a positive one (logits)
    negative_aum: tuple[float, ...] = ()  # AUM of every tracked example below 0, ascending
    lowest: tuple[MarginExample, ...] = ()  # the examples of negative_aum[:max_listed], in that order
    # What the last third of training bought on test (fine-tune mode): accuracy on a stratified sample of the test
    # rows after step checkpoint_step and at the end, paired (stats.paired_gain); None without a checkpoint.
    checkpoint_step: int | None = None
    checkpoint_rows: int = 0
    checkpoint_accuracy: float | None = None
    end_accuracy: float | None = None  # the same rows at the end of training
    late_gain: float | None = None  # end_accuracy - checkpoint_accuracy
    late_gain_ci: tuple[float, float] | None = None  # 90%, conditional on the rows that changed (McNemar)

    @staticmethod
    def upgrade(data: dict[str, Any]) -> dict[str, Any]:
        """Results before schema 1.1 listed the probe's own flagged examples: they are the lowest ones."""
        if "flagged" in data and "lowest" not in data:
            data = {**data, "lowest": data["flagged"]}
        return data


@dataclass(frozen=True)
class DynamicsOptions:
    max_listed: int = opt(50, "most label-noise candidates (lowest area under the margin) listed in the report")

    def validate(self) -> None:
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
        initial = window_mean(loss, 0.0, INITIAL_WINDOW)
        late = window_mean(loss, 1.0 - 2 * FINAL_WINDOW, 1.0 - FINAL_WINDOW)
        end = window_mean(loss, 1.0 - FINAL_WINDOW, 1.0)
        finite = loss[np.isfinite(loss)]
        k = max(1, int(len(finite) * SPIKE_WINDOW))
        smooth_max = float(np.convolve(finite, np.ones(k) / k, mode="valid").max()) if len(finite) else None
        layers, ratio = _grad_summary(rec)
        names = tuple(rec.label_names) or ctx.labels.names
        n_classes = len(names)
        gold = rec.labels if rec.labels is not None else None
        h = (label_entropy(np.asarray(gold), n_classes) if gold is not None
             else label_entropy(ctx.splits["train"].labels, ctx.labels.size))
        train_acc = train_share = None
        lowest: tuple[MarginExample, ...] = ()
        n_tracked = 0
        grid: tuple[tuple[int, ...], ...] = ()
        typical: float | None = None
        negative: tuple[float, ...] = ()
        if rec.gold_prob is not None and gold is not None and rec.run.nonfinite_step is None:
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
            typical = float(np.median(positive)) if len(positive) else None
            below = np.flatnonzero(seen & (aum < 0))
            below = below[np.argsort(aum[below], kind="stable")]
            negative = tuple(float(aum[i]) for i in below)
            texts = rec.texts or ()
            lowest = tuple(MarginExample(index=int(i), text=texts[i] if i < len(texts) else "",
                                         given=names[int(gold[i])],
                                         predicted=names[int(last[i])] if last[i] >= 0 else "",
                                         confidence=float(conf[i]), variability=float(var[i]), aum=float(aum[i]))
                           for i in below[:opts.max_listed])
            grid = _cartography(conf[seen], var[seen])
        test_acc = test_share = baseline = None
        gained: PairedGain | None = None
        if ctx.model is not None and "test" in ctx.splits and len(ctx.splits["test"]):
            preds = ctx.predictions("test")
            pred = preds.pred
            test_acc = float(preds.correct.mean())
            test_share = float(np.bincount(pred, minlength=n_classes).max() / len(pred))
            baseline = float(np.bincount(preds.labels, minlength=n_classes).max() / len(preds.labels))
            if rec.checkpoint_pred is not None and rec.checkpoint_rows is not None:
                rows = np.asarray(rec.checkpoint_rows, dtype=np.int64)
                gained = paired_gain(np.asarray(rec.checkpoint_pred) == preds.labels[rows], preds.correct[rows])
        return DynamicsResult(
            run=rec.run, n_classes=n_classes, label_entropy=h, loss_steps=xs, loss=ys,
            lr_curve=lrs, initial_loss=initial, final_loss=end,
            late_drop=(late - end) / late if late and end is not None and late > 0 else None,
            max_loss_ratio=smooth_max / initial if smooth_max is not None and initial else None,
            grad_steps=binned(np.asarray(rec.grad_steps, dtype=np.int64), np.zeros(len(rec.grad_steps)))[0],
            layers=layers, lower_to_top_ratio=ratio,
            train_accuracy=train_acc, train_majority_share=train_share,
            test_accuracy=test_acc, test_majority_share=test_share, majority_baseline=baseline,
            n_tracked=n_tracked, cartography=grid, seed_metric=f"{rec.eval_name} accuracy" if rec.eval_name else "",
            seeds=rec.seed_runs, positive_aum_median=typical, negative_aum=negative, lowest=lowest,
            checkpoint_step=rec.checkpoint_step if gained else None, checkpoint_rows=gained.n if gained else 0,
            checkpoint_accuracy=gained.before if gained else None, end_accuracy=gained.after if gained else None,
            late_gain=gained.gain if gained else None, late_gain_ci=gained.gain_ci if gained else None)


@contextlib.contextmanager
def _quiet_nan_warnings() -> Iterator[None]:
    """Silence numpy's empty-slice warnings for examples never seen in an epoch (their value is NaN)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Mean of empty slice", category=RuntimeWarning)
        warnings.filterwarnings("ignore", message="Degrees of freedom", category=RuntimeWarning)
        yield
