"""LrRangeProbe: raise the learning rate geometrically over a short run and read the loss (Smith 2017)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ftaudit.options import opt
from ftaudit.errors import UsageError
from ftaudit.probes.base import Need, Probe
from ftaudit.results import ProbeResult

if TYPE_CHECKING:
    from ftaudit.context import AuditContext



@dataclass(frozen=True)
class LrCurveSettings:
    """The numbers that read a range-test loss trace; the rule `lr-outside-range` takes them from its thresholds
    (these are their defaults), the probe describes the curve with the defaults."""

    smooth_share: float = 0.04  # Gaussian smoothing width, as a share of the steps: centred, so no lag in lr
    diverge_factor: float = 4.0  # diverged when the smoothed loss exceeds this multiple of its best (fastai's lr_find)
    fell_ratio: float = 0.9  # a loss below this share of its start has clearly fallen
    fast_share: float = 0.5  # the fastest range: where the loss falls at least this share as fast as at its steepest
    start_share: float = 0.1  # the loss "starts to fall" where it falls at least this share as fast as at its steepest


DEFAULT_SETTINGS = LrCurveSettings()


@dataclass(frozen=True)
class LrRangeResult(ProbeResult):
    kind = "lr_range"
    lrs: tuple[float, ...]  # learning rate of each step
    losses: tuple[float, ...]  # training loss of each step's batch
    smoothed: tuple[float, ...]
    start_lr: float
    end_lr: float
    steps_planned: int
    batch_size: int
    steepest_lr: float  # where d(smoothed loss)/d(log lr) is most negative
    range_low: float  # the fastest range: loss falls at least fast_share as fast as at the steepest point
    range_high: float
    min_loss_lr: float
    diverged_lr: float | None  # first lr where the smoothed loss exceeded diverge_factor x its best
    suggested_lr: float
    user_lr: float
    seconds: float
    # Smith (2017)'s usable range for a fixed learning rate: from where the loss starts to fall (at least
    # start_share as fast as at its steepest) to where it is lowest (min_loss_lr); 0.0 in results before 0.2
    falls_from_lr: float = 0.0
    falls_from_lr_sum: float = 0.0  # Σ lr of the sweep's steps up to where the loss starts to fall
    run_lr_sum: float | None = None  # Σ lr over the steps of the audited fine-tune (its schedule), when recorded
    nonfinite_lr: float | None = None  # lr of the step whose loss was NaN/inf, where the sweep stopped (not in lrs)

    @property
    def run_low_lr(self) -> float | None:
        """The lowest peak learning rate whose run adds up falls_from_lr_sum: user_lr · falls_from_lr_sum / run_lr_sum.

        A one-step-per-rate sweep shows where a rate works within a few steps; a run of many steps gets as far
        with a smaller rate (gradient-flow time Σ lr; Adam's step is about lr per parameter).
        """
        if not self.run_lr_sum or not self.falls_from_lr_sum:
            return None
        return self.user_lr * self.falls_from_lr_sum / self.run_lr_sum


@dataclass(frozen=True)
class LrAnalysis:
    smoothed: tuple[float, ...]
    steepest_lr: float
    range_low: float
    range_high: float
    min_loss_lr: float
    diverged_lr: float | None
    suggested_lr: float
    used_steps: int  # steps up to (excluding) the divergence
    falls_from_lr: float = 0.0  # where the loss starts to fall: the low end of the usable range
    falls_from_lr_sum: float = 0.0  # Σ lr up to and including that step


@dataclass(frozen=True)
class Options:
    steps: int = opt(100, "steps of the range test (fewer when the loss diverges first)", flag="--lr-range-steps")
    start_lr: float = opt(1e-7, "learning rate of the first step", flag="--lr-range-start")
    end_lr: float = opt(0.1, "learning rate of the last step (raised geometrically from the start)",
                        flag="--lr-range-end")

    def validate(self) -> None:
        if self.steps < 20:
            raise UsageError(f"--lr-range-steps must be at least 20, got {self.steps}", "use e.g. 100")
        if not 0 < self.start_lr < self.end_lr:
            raise UsageError(f"--lr-range-start {self.start_lr:g} must be positive and below --lr-range-end "
                             f"{self.end_lr:g}", "use e.g. 1e-7 and 0.1")


def lr_schedule(start: float, end: float, steps: int) -> np.ndarray:
    """Geometric ramp: lr_t = start · (end/start)^(t/(steps−1))."""
    return start * (end / start) ** (np.arange(steps) / max(steps - 1, 1))


def smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """Centred Gaussian smoothing (edges repeat the end values), so features stay at their lr."""
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(np.asarray(values, dtype=float), sigma=max(sigma, 0.5), mode="nearest")


def diverging(smoothed: np.ndarray, s: LrCurveSettings = DEFAULT_SETTINGS) -> np.ndarray:
    """Where the loss has diverged: above diverge_factor x its best so far, or, once it had fallen clearly
    (below fell_ratio x its start), back above where it started (training undid everything it had learnt)."""
    best = np.minimum.accumulate(smoothed)
    start = smoothed[0]
    return (smoothed > s.diverge_factor * best) | ((best < s.fell_ratio * start) & (smoothed > start))


def analyse(lrs: Sequence[float], losses: Sequence[float], s: LrCurveSettings = DEFAULT_SETTINGS) -> LrAnalysis:
    """Steepest descent, good range, minimum and divergence of a range-test loss trace."""
    lrs_arr = np.asarray(lrs, dtype=float)
    raw = np.asarray(losses, dtype=float)
    finite = np.isfinite(raw)
    end = int(np.argmin(finite)) if not finite.all() else len(raw)  # stop at the first NaN/inf
    if end < 5:
        raise ValueError(f"the range test produced only {end} finite losses")
    sm = smooth(raw[:end], s.smooth_share * len(lrs_arr))
    over = np.flatnonzero(diverging(sm, s))
    diverged_at = int(over[0]) if len(over) else (end if end < len(raw) else None)
    used = diverged_at if diverged_at is not None else end
    sm_used, log_lr = sm[:used], np.log10(lrs_arr[:used])
    slope = np.gradient(sm_used, log_lr)
    i_min = int(np.argmin(sm_used))
    i_steep = int(np.argmin(slope[: i_min + 1]))  # the fall before the minimum
    fast = slope <= s.fast_share * slope[i_steep]
    lo = i_steep
    while lo > 0 and fast[lo - 1]:
        lo -= 1
    hi = i_steep
    while hi + 1 <= i_min and fast[hi + 1]:
        hi += 1
    start = i_steep
    while start > 0 and slope[start - 1] <= s.start_share * slope[i_steep]:
        start -= 1
    steepest = float(lrs_arr[i_steep])
    return LrAnalysis(smoothed=tuple(float(v) for v in sm), steepest_lr=steepest, range_low=float(lrs_arr[lo]),
                      range_high=float(lrs_arr[hi]), min_loss_lr=float(lrs_arr[i_min]),
                      diverged_lr=None if diverged_at is None else float(lrs_arr[min(diverged_at, len(lrs_arr) - 1)]),
                      suggested_lr=float(f"{steepest:.2g}"),
                      used_steps=used, falls_from_lr=float(lrs_arr[start]),
                      falls_from_lr_sum=float(lrs_arr[: start + 1].sum()))


def run_lr_sum(training: Any) -> float | None:
    """Σ lr over the recorded fine-tune's steps (warm-up and decay included); None without a recorded schedule."""
    lrs = np.asarray(getattr(training, "step_lr", ()), dtype=float)
    total = float(np.nansum(lrs)) if lrs.size else 0.0
    return total if total > 0 else None


class DivergenceStop:
    """Stop condition of the sweep: a while (a tenth of the steps) after the running loss diverged (by the default
    settings), where the rest of the sweep would only cost time. The running loss is an exponential moving
    average (0.9). It saves time only: the rule judges the recorded trace with its own thresholds."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.emas: list[float] = []
        self.diverged_at: int | None = None

    def __call__(self, loss: float) -> bool:
        self.emas.append(loss if not self.emas else 0.9 * self.emas[-1] + 0.1 * loss)
        n, tenth = len(self.emas), self.steps // 10
        if self.diverged_at is None and n > tenth and diverging(np.asarray(self.emas))[-1]:
            self.diverged_at = n
        return self.diverged_at is not None and n >= self.diverged_at + tenth


def range_losses(ctx: "AuditContext", lrs: np.ndarray) -> np.ndarray:
    """Batch losses of a fresh copy of the base trained one step at each lr in `lrs` (the training core with the
    user's batch size, weight decay and clipping); stops early once the loss has clearly diverged."""
    from ftaudit import modeling
    from ftaudit.adapters import lora_spec
    from ftaudit.training import new_classifier, random_batches, train_classifier

    t, m = ctx.config.train, ctx.config.model
    files = modeling.locate(m.base or str(ctx.base.ref), "base model", allow_pickle=m.allow_pickle)

    def new_model() -> Any:
        return new_classifier(files, ctx.labels, trust_remote_code=m.trust_remote_code, allow_pickle=m.allow_pickle,
                              freeze_encoder=t.freeze_encoder, lora=lora_spec(t))

    train = ctx.splits["train"]
    steps = len(lrs)
    _model, record = train_classifier(
        new_model, ctx.tokenizer, train, ctx.labels, train_cfg=t, max_length=ctx.config.data.max_length,
        device=ctx.device, seed=ctx.seed, progress=ctx.progress, record=False, encodings=ctx.encodings("train"),
        lr_at=lambda step: float(lrs[step]), batches=random_batches(len(train), t.batch_size, steps, ctx.seed),
        max_steps=steps, stop=DivergenceStop(steps), task_name="lr range test")
    return np.asarray(record.step_loss, dtype=float)


class LrRangeProbe(Probe):
    """Learning-rate range test: loss against a geometrically rising learning rate, on a copy of the base."""

    name = "lr-range"
    summary = "is the learning rate right: loss of a short run with a geometrically rising learning rate"
    needs = frozenset({Need.FINE_TUNE, Need.TRAIN})
    result_type = LrRangeResult
    Options = Options
    default = False

    def run(self, ctx: "AuditContext") -> LrRangeResult:
        import time

        o: Options = self.options
        lrs = lr_schedule(o.start_lr, o.end_lr, o.steps)
        start = time.perf_counter()
        losses = range_losses(ctx, lrs)
        a = analyse(lrs[: len(losses)], losses)
        keep = len(a.smoothed)  # up to the first non-finite loss: JSON has no NaN
        return LrRangeResult(
            lrs=tuple(float(v) for v in lrs[:keep]), losses=tuple(float(v) for v in losses[:keep]),
            smoothed=a.smoothed, start_lr=o.start_lr, end_lr=o.end_lr, steps_planned=o.steps,
            batch_size=ctx.config.train.batch_size, steepest_lr=a.steepest_lr, range_low=a.range_low,
            range_high=a.range_high, min_loss_lr=a.min_loss_lr, diverged_lr=a.diverged_lr,
            suggested_lr=a.suggested_lr, user_lr=ctx.config.train.lr, seconds=time.perf_counter() - start,
            falls_from_lr=a.falls_from_lr, falls_from_lr_sum=a.falls_from_lr_sum,
            run_lr_sum=run_lr_sum(ctx.training), nonfinite_lr=float(lrs[keep]) if keep < len(losses) else None)
