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
from ftaudit.stats import Contrast, contrast

if TYPE_CHECKING:
    from ftaudit.context import AuditContext

N_BOOTSTRAP = 1000
FITTED_LOSS = 0.3  # share of H(y): below it a falling loss is memorisation of the subset, not learning the task
# (the same floor as the dynamics rule `still-improving`'s still_improving_min_loss)


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
    above_chance: bool  # test accuracy clears chance by two standard errors
    under_trained: bool = False  # fits its own subset clearly worse than the full run fits train: trained too
    # little to be comparable (see `under_trained`); left out of the fit and the gap trend
    still_learning: bool = False  # its training loss was still falling when it stopped (see `still_learning`):
    # a subset's raised schedule is not the recipe's, so it measures the training length as well as the data and is
    # left out likewise; the main fine-tune is the recipe itself and stays (`data-saturated` reads its flag)
    main: bool = False  # the full size: the main fine-tune, reused

    @property
    def comparable(self) -> bool:
        """Trained comparably to the recipe: not under-trained, and not a subset still learning."""
        return not self.under_trained and (self.main or not self.still_learning)

    @property
    def fitted(self) -> bool:
        """Whether the power law (and the gap trend) use this size."""
        return self.above_chance and self.comparable

    @property
    def learning_subset(self) -> bool:
        """A subset left out (or at chance) because it was still learning, not because it was under-trained."""
        return self.still_learning and not self.main and not self.under_trained

    @property
    def unfitted_reason(self) -> str:
        """Why the fit leaves this size out: "at chance", "under-trained" or "still learning"; "" when fitted."""
        if self.fitted:
            return ""
        return "at chance" if not self.above_chance else "under-trained" if self.under_trained else "still learning"


@dataclass(frozen=True)
class SeedFit:
    """The curve of one repeat alone (its subset fine-tunes and the main run): what a single-seed audit would say."""

    repeat: int
    gain_2x: float | None  # None when that seed's curve has too few points above chance
    gain_2x_ci: tuple[float, float] | None


@dataclass(frozen=True)
class UnseenTrain:
    """The largest subset's fine-tunes scored on test and on train rows outside their subset: does test score like
    data drawn as train was, by a model that saw neither? In `contrast` the group is test and the rest the unseen
    train rows, weighted to test's class mix (within class), so its `difference` is unseen-train minus test accuracy:
    positive when test is harder than train data the model never saw (test drawn unlike train), negative when the
    train rows' own labels are harder to predict than test's (wrong training labels)."""

    size: int  # training examples in the subset
    repeats: int  # its fine-tunes (each scored on its own unseen rows)
    train_accuracy: float  # on their own subset rows, mean over repeats
    unseen_accuracy: float  # on the unseen train rows at train's class mix (all repeats' rows pooled)
    contrast: Contrast

    @property
    def in_distribution_gap(self) -> float:
        """Subset train accuracy minus unseen-train accuracy: the gap a model opens on data drawn like its own."""
        return self.train_accuracy - self.unseen_accuracy


def unseen_train(points: list[CurvePoint], correct: list[np.ndarray], test_labels: np.ndarray,
                 size: int | None) -> UnseenTrain | None:
    """The UnseenTrain of the trained points of `size` that were scored on unseen train rows; None when none were."""
    chosen = [(p, c) for p, c in zip(points, correct) if p.size == size and p.source != "main fine-tune"
              and sum(p.unseen_by_class) > 0]
    if not chosen:
        return None
    group = np.concatenate([c for _, c in chosen]).astype(bool)
    group_labels = np.concatenate([test_labels for _ in chosen])
    rest, rest_labels = [], []
    for p, _ in chosen:
        for label, (n, right) in enumerate(zip(p.unseen_by_class, p.unseen_correct_by_class)):
            rest.append(np.arange(n) < right)
            rest_labels.append(np.full(n, label))
    rest_correct, rest_label = np.concatenate(rest), np.concatenate(rest_labels)
    c = contrast(np.concatenate([group, rest_correct]), np.concatenate([np.ones(len(group), bool),
                                                                      np.zeros(len(rest_correct), bool)]),
                 labels=np.concatenate([group_labels, rest_label]))
    return UnseenTrain(size=int(size or 0), repeats=len(chosen),
                       train_accuracy=float(np.mean([p.train_accuracy for p, _ in chosen])),
                       unseen_accuracy=float(rest_correct.mean()), contrast=c)


@dataclass(frozen=True)
class LearningCurveResult(ProbeResult):
    kind = "learning_curve"
    n_train: int  # the full training set
    n_test: int  # the test split
    chance: float  # the best a constant prediction scores on test (its largest class share): the fit's floor
    min_steps: int  # the step floor every subset was raised to (--curve-min-steps, at most the main run's steps)
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
    wanted_min_steps: int = 0  # the floor asked for (--curve-min-steps), before the main run's steps capped it
    seed_fits: tuple[SeedFit, ...] = ()  # with repeats: each repeat's own curve, to show how far the seed moves it
    n_test_scored: int = 0  # test rows every point is scored on: a fixed label-stratified sample (all of test if
    # it is no larger than --curve-eval-examples); accuracies, intervals and chance are on these rows
    train_scored_max: int = 0  # most rows of a point's training subset its training accuracy is measured on
    dropped_sizes: tuple[int, ...] = ()  # subset sizes left out because the budget could not train them at the floor
    steps_per_repeat: int = 0  # optimisation steps of one repeat's subset fine-tunes together
    label_entropy: float | None = None  # H(y) of the training labels, nats: the loss of predicting the prior
    still_learning_drop: float = 0.0  # --curve-still-learning: the fall over the last quarter that marks a point
    unseen_train: UnseenTrain | None = None  # the largest subset scored on train rows it never saw vs test; None
    # when no subset was trained
    fitted_loss: float = FITTED_LOSS  # share of H(y) below which a falling loss is not counted as still learning

    @property
    def min_repeats(self) -> int:
        """The fewest fine-tunes at any subset size (the full size is the main fine-tune, one): with one, the
        intervals cover the sampling of the test set but not the seed."""
        return min((z.repeats for z in self.sizes[:-1]), default=1)

    @property
    def over_budget(self) -> bool:
        """The two largest subsets, the fewest a fit needs, took more than the budget at the step floor."""
        main = self.points[-1].schedule.steps if self.points else 0
        return main > 0 and self.steps_per_repeat > self.budget * main

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
                             "subsets to reach it (never beyond the main run's steps); the budget never lowers "
                             "it (Mosbach et al. 2021)", flag="--curve-min-steps")
    max_epochs: int = opt(20, "cap on the raised epochs of a small subset", flag="--curve-max-epochs")
    budget: float = opt(1.0, "most optimisation steps the curve's fine-tunes may take together, as a multiple of "
                             "the main fine-tune's (per repeat): the smallest sizes are dropped until they fit; "
                             "the two largest subsets, the fewest a fit needs, are always trained",
                        flag="--curve-budget")
    eval_examples: int = opt(2000, "test rows every point (the main fine-tune included) is scored on: one fixed "
                                   "label-stratified sample, all of test when it is smaller",
                             flag="--curve-eval-examples")
    train_eval_examples: int = opt(1000, "most rows of a point's training subset its training accuracy is measured "
                                         "on (a stratified sample of the subset), and most train rows outside the "
                                         "largest subset that it is also scored on (does test score like unseen "
                                         "train data?)", flag="--curve-train-eval-examples")
    still_learning: float = opt(0.15, "a subset point whose training loss still fell by at least this share over "
                                      f"its last quarter of steps, while above {FITTED_LOSS:g} H(y), was still "
                                      "learning: it is marked and not fitted (the main fine-tune is marked only)",
                                flag="--curve-still-learning")

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
                                                   f"{self.train_eval_examples}", "use e.g. 1000"),
                  (0 < self.still_learning <= 1, f"--curve-still-learning must be in (0, 1], got "
                                                 f"{self.still_learning}", "use e.g. 0.15")]
        for ok, problem, fix in checks:
            if not ok:
                raise UsageError(problem, fix)


def curve_sizes(n: int, count: int, n_classes: int) -> list[int]:
    """n, n/2, n/4, ... (count of them, ascending), dropping any smaller than two examples per class."""
    sizes = sorted({max(1, int(round(n / 2 ** i))) for i in range(count)})
    return [s for s in sizes if s >= 2 * n_classes or s == n]


def raised_schedule(size: int, base: Schedule, min_steps: int, max_epochs: int) -> Schedule:
    """The main run's schedule on `size` examples; when that is fewer than min_steps steps, epochs are raised and
    training stops at exactly min_steps (part-way through the last epoch), or at max_epochs whole epochs."""
    per_epoch = math.ceil(size / base.batch_size)
    epochs, steps = base.epochs, per_epoch * base.epochs
    if steps < min_steps:
        epochs = min(max(base.epochs, max_epochs), math.ceil(min_steps / per_epoch))
        steps = min(min_steps, per_epoch * epochs)
    return Schedule(epochs=epochs, steps=steps, batch_size=base.batch_size, lr=base.lr,
                    warmup_ratio=base.warmup_ratio)


def plan_sizes(subsets: list[int], base: Schedule, min_steps: int, max_epochs: int,
               budget: float) -> tuple[list[int], list[int], int]:
    """(subset sizes to train, sizes dropped, their steps together): largest first, every one at the step floor, while their steps
    together stay within `budget` x the main run's; the two largest are always kept, since a fit needs three sizes
    with the full one. The cost is held by training fewer points, never by training them less: a point cut to a
    few steps measures its training length, not its data (at 8 steps a 100-example point stays at chance)."""
    limit = budget * base.steps
    kept: list[int] = []
    total = 0
    for size in sorted(subsets, reverse=True):
        steps = raised_schedule(size, base, min_steps, max_epochs).steps
        if len(kept) >= 2 and total + steps > limit:
            break
        kept.append(size)
        total += steps
    return sorted(kept), sorted(set(subsets) - set(kept)), total


def still_learning(points: list[CurvePoint], label_entropy: float | None, drop: float) -> bool:
    """Whether the fine-tunes of one size were still learning when they stopped: their training loss fell by at least
    `drop` over the last quarter of steps (mean over repeats) and ended at or above FITTED_LOSS x H(y). Unknown (no
    loss recorded, as for a fine-tune ftaudit did not run) is not marked."""
    known = [p for p in points if p.loss_tail is not None and p.final_loss is not None]
    if not known or not label_entropy:
        return False
    return (float(np.mean([p.loss_tail for p in known])) >= drop
            and float(np.mean([p.final_loss for p in known])) >= FITTED_LOSS * label_entropy)


def under_trained(train_accuracy: float, full_train_accuracy: float, n_scored: int) -> bool:
    """Whether a subset fits its own training rows clearly worse than the full run fits train: with the same
    recipe a smaller set is fitted at least as well, so a point below the full run's training accuracy by more than
    two binomial standard errors (and 2 points) trained too little to be a point of the data curve."""
    p = min(max(full_train_accuracy, 0.0), 1.0)
    margin = max(0.02, 2.0 * math.sqrt(max(p * (1.0 - p), 1e-12) / max(n_scored, 1)))
    return train_accuracy < full_train_accuracy - margin


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
        candidates = curve_sizes(len(train), o.sizes, n_classes)
        min_steps = min(o.min_steps, full.schedule.steps)
        subsets, dropped, steps = plan_sizes(candidates[:-1], full.schedule, min_steps, o.max_epochs, o.budget)
        sizes = subsets + candidates[-1:]
        from ftaudit.cache import cache_of

        cache = cache_of(ctx)
        jobs = [(size, r) for size in sizes[:-1] for r in range(o.repeats)]
        largest = sizes[-2] if len(sizes) > 1 else None  # also scored on the train rows outside its subset

        def train_one(job: tuple[int, int]) -> tuple[CurvePoint, np.ndarray]:
            size, repeat = job
            schedule = raised_schedule(size, full.schedule, min_steps, o.max_epochs)
            return train_point(ctx, size=size, repeat=repeat, schedule=schedule, what="learning-curve",
                               test_index=test_index, train_eval=o.train_eval_examples,
                               unseen_eval=o.train_eval_examples if size == largest else None)

        run = run_points(ctx, jobs, "learning curve", train_one)
        points, correct, extra, cached = run.points, run.correct, run.extra_seconds, run.cached
        points.append(full)
        correct.append(ctx.predictions("test").correct[test_index])
        by_size = [np.stack([c for p, c in zip(points, correct) if p.size == s]) for s in sizes]
        train_acc = [[p.train_accuracy for p in points if p.size == s] for s in sizes]
        labels = test.labels[test_index]
        # the floor a point must clear to be fitted: a constant prediction of test's largest class scores this
        chance = float(np.bincount(labels, minlength=n_classes).max() / len(labels))
        from ftaudit.stats import label_entropy

        h = label_entropy(train.labels, n_classes)
        learning = [still_learning([p for p in points if p.size == s], h, o.still_learning) for s in sizes]
        summaries, fit, trend = judge_sizes(sizes, by_size, train_acc, n_train=len(train), chance=chance,
                                            train_scored_max=o.train_eval_examples, seed=ctx.seed,
                                            still_learning=learning)
        comparable = [z.comparable for z in summaries]
        seed_fits = tuple(seed_fit(sizes, points, correct, r, chance, ctx.seed, comparable)
                          for r in range(o.repeats)) if o.repeats > 1 else ()
        return LearningCurveResult(
            n_train=len(train), n_test=len(test), chance=chance, min_steps=min_steps, max_epochs=o.max_epochs,
            points=tuple(points), sizes=summaries, fit=fit, gap_trend=trend, extra_seconds=extra,
            main_seconds=full.seconds or None, cached_points=cached,
            cache_dir=str(cache.folder or "") if cached else "", budget=o.budget, wanted_min_steps=o.min_steps,
            seed_fits=seed_fits, n_test_scored=len(test_index), train_scored_max=o.train_eval_examples,
            dropped_sizes=tuple(dropped), steps_per_repeat=steps, label_entropy=h,
            still_learning_drop=o.still_learning, unseen_train=unseen_train(points, correct, labels, largest))


def judge_sizes(sizes: list[int], by_size: list[np.ndarray], train_acc: list[list[float]], *, n_train: int,
                chance: float, train_scored_max: int, seed: int, still_learning: list[bool] | None = None
                ) -> tuple[tuple[SizeSummary, ...], PowerLawFit | None, GapTrend | None]:
    """Summarise each size (the last is the full run) and fit the curve on those that clear chance and trained
    comparably: not under-trained, and no subset `still_learning` (per size, the full one's kept for the record;
    none when not given). by_size: per size, test correctness [repeats, m]; train_acc: per size, each repeat's
    accuracy on its own training subset (scored on at most `train_scored_max` rows)."""
    full_train = float(np.mean(train_acc[-1]))
    learning = list(still_learning) if still_learning is not None else [False] * len(sizes)
    weak = [under_trained(float(np.mean(t)), full_train, min(z, train_scored_max))
            for z, t in zip(sizes[:-1], train_acc[:-1])] + [False]  # the full run is the reference
    excluded = [w or s for w, s in zip(weak, learning[:-1])] + [False]  # the full run is the recipe itself
    fit = fit_power_law(sizes, by_size, chance=chance, n_bootstrap=N_BOOTSTRAP, seed=seed,
                        allowed=[not e for e in excluded])
    kept = [i for i, e in enumerate(excluded) if not e]
    trend = gap_trend([sizes[i] for i in kept], [by_size[i] for i in kept], [train_acc[i] for i in kept],
                      n_bootstrap=N_BOOTSTRAP, seed=seed)
    test_acc = [float(c.mean()) for c in by_size]
    above = usable(test_acc, chance, by_size[0].shape[1])
    summaries = tuple(
        SizeSummary(size=z, fraction=z / n_train, repeats=len(c), train_accuracy=float(np.mean(t)),
                    test_accuracy=acc, test_accuracy_ci=accuracy_interval(c, seed),
                    gap=float(np.mean(t)) - acc, above_chance=bool(ok), under_trained=bool(w),
                    still_learning=bool(s), main=i == len(sizes) - 1)
        for i, (z, c, t, acc, ok, w, s) in enumerate(zip(sizes, by_size, train_acc, test_acc, above, weak, learning)))
    return summaries, fit, trend


def seed_fit(sizes: list[int], points: list[CurvePoint], correct: list[np.ndarray], repeat: int, chance: float,
             seed: int, allowed: list[bool]) -> SeedFit:
    """Fit the curve of one repeat: its own fine-tune at each subset size, and the main run at the full size."""
    own = [next(c for p, c in zip(points, correct) if p.size == s and (p.repeat == repeat or s == sizes[-1]))
           for s in sizes]
    fit = fit_power_law(sizes, [c[None, :] for c in own], chance=chance, n_bootstrap=N_BOOTSTRAP, seed=seed,
                        allowed=allowed)
    return SeedFit(repeat=repeat, gain_2x=fit.gain_2x if fit else None, gain_2x_ci=fit.gain_2x_ci if fit else None)


def accuracy_interval(correct: np.ndarray, seed: int, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap of the mean accuracy over [R, m] correctness (test examples and repeats)."""
    from ftaudit.curvefit import resample_accuracies

    boot, _ = resample_accuracies([correct], N_BOOTSTRAP, np.random.default_rng(seed))
    lo, hi = np.quantile(boot[:, 0], [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)
