"""LearningCurveProbe: fine-tune on log-spaced, label-stratified fractions of train; fit test accuracy vs size."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ftaudit.options import opt
from ftaudit.curvefit import GapTrend, PowerLawFit, fit_power_law, gap_trend, usable
from ftaudit.errors import UsageError
from ftaudit.probes.base import Need, Probe
from ftaudit.probes.curve_points import CurvePoint, Schedule, main_point, run_points, train_point
from ftaudit.results import ProbeResult

if TYPE_CHECKING:
    from ftaudit.context import AuditContext

N_BOOTSTRAP = 1000


@dataclass(frozen=True)
class SizeSummary:
    """One training-set size, averaged over its repeats."""

    size: int  # training examples
    fraction: float  # of the full training set
    repeats: int
    train_accuracy: float  # on the point's own training subset
    test_accuracy: float
    test_accuracy_ci: tuple[float, float]  # 95%: test resampling, and repeats when there are several
    gap: float  # train − test
    above_chance: bool  # used by the power-law fit


@dataclass(frozen=True)
class SeedFit:
    """The curve of one repeat alone (its subset fine-tunes and the main run): what a single-seed audit would say."""

    repeat: int
    gain_2x: float | None  # None when that seed's curve has too few points above chance
    gain_2x_ci: tuple[float, float] | None


@dataclass(frozen=True)
class LearningCurveResult(ProbeResult):
    kind = "learning_curve"
    n_train: int  # the full training set
    n_test: int  # the test split
    chance: float  # the best a constant prediction scores on test (its largest class share): the fit's floor
    min_steps: int  # the step floor the schedules were raised to (at most the main run's steps, within budget)
    max_epochs: int
    points: tuple[CurvePoint, ...]  # every fine-tune, one per size and repeat
    sizes: tuple[SizeSummary, ...]
    fit: PowerLawFit | None  # None when fewer than three sizes score above chance
    gap_trend: GapTrend | None
    extra_seconds: float  # wall time of the curve's own fine-tunes in this run (cached points cost nothing)
    main_seconds: float | None  # wall time of the main fine-tune, for the cost ratio
    cached_points: int
    cache_dir: str  # where the cached points came from ("" when none did)
    budget: float = 1.0  # the curve's fine-tunes may take at most this many times the main run's steps, per repeat
    wanted_min_steps: int = 0  # the floor asked for (--curve-min-steps), before the budget lowered it
    seed_fits: tuple[SeedFit, ...] = ()  # with repeats: each repeat's own curve, to show how far the seed moves it
    n_test_scored: int = 0  # test rows every point is scored on: a fixed label-stratified sample (all of test if
    # it is no larger than --curve-eval-examples); accuracies, intervals and chance are on these rows
    train_scored_max: int = 0  # most rows of a point's training subset its training accuracy is measured on

    @property
    def min_repeats(self) -> int:
        """The fewest fine-tunes at any subset size (the full size is the main fine-tune, one): with one, the
        intervals cover the sampling of the test set but not the seed."""
        return min((z.repeats for z in self.sizes[:-1]), default=1)

    @property
    def seed_gains(self) -> list[float]:
        """The predicted gains at 2x of the seeds' own curves that could be fitted (empty without repeats)."""
        return [f.gain_2x for f in self.seed_fits if f.gain_2x is not None]


@dataclass(frozen=True)
class Options:
    sizes: int = opt(4, "number of training-set sizes, log-spaced by halving down from the full set (the full "
                        "set is the main fine-tune, reused)", flag="--curve-sizes")
    repeats: int = opt(1, "fine-tunes per size, differing in seed (more gives error bars)", flag="--curve-repeats")
    min_steps: int = opt(40, "fewest optimisation steps a curve point trains for: epochs are raised for small "
                             "subsets to reach it, never beyond the main run's steps (Mosbach et al. 2021)",
                         flag="--curve-min-steps")
    max_epochs: int = opt(20, "cap on the raised epochs of a small subset", flag="--curve-max-epochs")
    budget: float = opt(1.0, "most optimisation steps the curve's fine-tunes may take together, as a multiple of "
                             "the main fine-tune's (per repeat); the step floor is lowered until they fit",
                        flag="--curve-budget")
    eval_examples: int = opt(2000, "test rows every point (the main fine-tune included) is scored on: one fixed "
                                   "label-stratified sample, all of test when it is smaller",
                             flag="--curve-eval-examples")
    train_eval_examples: int = opt(1000, "most rows of a point's training subset its training accuracy is measured "
                                         "on (a stratified sample of the subset)", flag="--curve-train-eval-examples")

    def validate(self) -> None:
        checks = [(self.sizes >= 2, f"--curve-sizes must be at least 2, got {self.sizes}", "use e.g. 4"),
                  (self.repeats >= 1, f"--curve-repeats must be at least 1, got {self.repeats}", "use 1, or 3"),
                  (self.min_steps >= 1, f"--curve-min-steps must be at least 1, got {self.min_steps}", "use e.g. 40"),
                  (self.max_epochs >= 1, f"--curve-max-epochs must be at least 1, got {self.max_epochs}",
                   "use e.g. 20"),
                  (self.budget > 0, f"--curve-budget must be above 0, got {self.budget}", "use e.g. 1.0"),
                  (self.eval_examples >= 10, f"--curve-eval-examples must be at least 10, got {self.eval_examples}",
                   "use e.g. 2000"),
                  (self.train_eval_examples >= 10, f"--curve-train-eval-examples must be at least 10, got "
                                                   f"{self.train_eval_examples}", "use e.g. 1000")]
        for ok, problem, fix in checks:
            if not ok:
                raise UsageError(problem, fix)


def curve_sizes(n: int, count: int, n_classes: int) -> list[int]:
    """n, n/2, n/4, ... (count of them, ascending), dropping any smaller than two examples per class."""
    sizes = sorted({max(1, int(round(n / 2 ** i))) for i in range(count)})
    return [s for s in sizes if s >= 2 * n_classes or s == n]


def raised_schedule(size: int, base: Schedule, min_steps: int, max_epochs: int) -> Schedule:
    """The main run's schedule on `size` examples, with epochs raised until it takes min_steps steps (capped)."""
    per_epoch = math.ceil(size / base.batch_size)
    epochs = base.epochs
    if per_epoch * epochs < min_steps:
        epochs = min(max(epochs, max_epochs), math.ceil(min_steps / per_epoch))
    return Schedule(epochs=epochs, steps=per_epoch * epochs, batch_size=base.batch_size, lr=base.lr,
                    warmup_ratio=base.warmup_ratio)


def budget_floor(sizes: list[int], base: Schedule, min_steps: int, max_epochs: int, budget: float) -> int:
    """The highest step floor (at most min_steps) whose raised schedules of `sizes` take together at most
    `budget` x the main run's steps. Halving sizes at the main run's epochs take 1/2 + 1/4 + ... < 1x, so a
    budget of 1.0 always leaves room for the plain epochs (floor 0)."""
    limit = budget * base.steps
    for floor in range(min_steps, 0, -1):
        if sum(raised_schedule(z, base, floor, max_epochs).steps for z in sizes) <= limit:
            return floor
    return 0


class LearningCurveProbe(Probe):
    """Data-size curve: test and train accuracy at halving fractions of train, with a power-law extrapolation."""

    name = "learning-curve"
    summary = "would more data help: fine-tunes on fractions of train and extrapolates test accuracy"
    needs = frozenset({Need.FINE_TUNE, Need.TRAIN, Need.TEST, Need.MODEL})
    result_type = LearningCurveResult
    Options = Options
    default = True

    def run(self, ctx: "AuditContext") -> LearningCurveResult:
        o: Options = self.options
        train, test = ctx.splits["train"], ctx.splits["test"]
        n_classes = ctx.labels.size
        from ftaudit.data import stratified_sample

        # one fixed sample of test for every point, so that the curve's cost is its training, not its scoring
        test_index = stratified_sample(test.labels, o.eval_examples, ctx.seed)
        full = main_point(ctx, test_index=test_index,
                          train_index=stratified_sample(train.labels, o.train_eval_examples, ctx.seed))
        sizes = curve_sizes(len(train), o.sizes, n_classes)
        wanted = min(o.min_steps, full.schedule.steps)
        min_steps = budget_floor(sizes[:-1], full.schedule, wanted, o.max_epochs, o.budget)
        from ftaudit.cache import cache_of

        cache = cache_of(ctx)
        jobs = [(size, r) for size in sizes[:-1] for r in range(o.repeats)]

        def train_one(job: tuple[int, int]) -> tuple[CurvePoint, np.ndarray]:
            size, repeat = job
            schedule = raised_schedule(size, full.schedule, min_steps, o.max_epochs)
            return train_point(ctx, size=size, repeat=repeat, schedule=schedule, what="learning-curve",
                               test_index=test_index, train_eval=o.train_eval_examples)

        run = run_points(ctx, jobs, "learning curve", train_one)
        points, correct, extra, cached = run.points, run.correct, run.extra_seconds, run.cached
        points.append(full)
        correct.append(ctx.predictions("test").correct[test_index])
        by_size = [np.stack([c for p, c in zip(points, correct) if p.size == s]) for s in sizes]
        train_acc = [[p.train_accuracy for p in points if p.size == s] for s in sizes]
        labels = test.labels[test_index]
        # the floor a point must clear to be fitted: a constant prediction of test's largest class scores this
        chance = float(np.bincount(labels, minlength=n_classes).max() / len(labels))
        fit = fit_power_law(sizes, by_size, chance=chance, n_bootstrap=N_BOOTSTRAP, seed=ctx.seed)
        trend = gap_trend(sizes, by_size, train_acc, n_bootstrap=N_BOOTSTRAP, seed=ctx.seed)
        seed_fits = tuple(seed_fit(sizes, points, correct, r, chance, ctx.seed) for r in range(o.repeats)) \
            if o.repeats > 1 else ()
        test_acc = [float(c.mean()) for c in by_size]
        above = usable(test_acc, chance, len(labels))
        summaries = tuple(
            SizeSummary(size=s, fraction=s / len(train), repeats=len(c), train_accuracy=float(np.mean(t)),
                        test_accuracy=acc, test_accuracy_ci=accuracy_interval(c, ctx.seed),
                        gap=float(np.mean(t)) - acc, above_chance=bool(ok))
            for s, c, t, acc, ok in zip(sizes, by_size, train_acc, test_acc, above))
        return LearningCurveResult(
            n_train=len(train), n_test=len(test), chance=chance, min_steps=min_steps, max_epochs=o.max_epochs,
            points=tuple(points), sizes=summaries, fit=fit, gap_trend=trend, extra_seconds=extra,
            main_seconds=full.seconds or None, cached_points=cached,
            cache_dir=str(cache.folder or "") if cached else "", budget=o.budget, wanted_min_steps=wanted,
            seed_fits=seed_fits, n_test_scored=len(test_index), train_scored_max=o.train_eval_examples)


def seed_fit(sizes: list[int], points: list[CurvePoint], correct: list[np.ndarray], repeat: int, chance: float,
             seed: int) -> SeedFit:
    """Fit the curve of one repeat: its own fine-tune at each subset size, and the main run at the full size."""
    own = [next(c for p, c in zip(points, correct) if p.size == s and (p.repeat == repeat or s == sizes[-1]))
           for s in sizes]
    fit = fit_power_law(sizes, [c[None, :] for c in own], chance=chance, n_bootstrap=N_BOOTSTRAP, seed=seed)
    return SeedFit(repeat=repeat, gain_2x=fit.gain_2x if fit else None, gain_2x_ci=fit.gain_2x_ci if fit else None)


def accuracy_interval(correct: np.ndarray, seed: int, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap of the mean accuracy over [R, m] correctness (test examples and repeats)."""
    from ftaudit.curvefit import resample_accuracies

    boot, _ = resample_accuracies([correct], N_BOOTSTRAP, np.random.default_rng(seed))
    lo, hi = np.quantile(boot[:, 0], [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)
