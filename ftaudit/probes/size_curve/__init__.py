"""SizeCurveProbe: the same fine-tune on the first k encoder layers of the base (or on other models), compared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ftaudit.architectures import architecture_of
from ftaudit.curvefit import paired_differences
from ftaudit.errors import UsageError
from ftaudit.options import opt
from ftaudit.probes.base import Need, Probe
from ftaudit.probes.curve_points import CurvePoint, main_point, run_points, train_point
from ftaudit.probes.learning_curve import N_BOOTSTRAP, accuracy_interval
from ftaudit.results import ProbeResult

if TYPE_CHECKING:
    from ftaudit.context import AuditContext


@dataclass(frozen=True)
class ModelSummary:
    """One model of the size curve, averaged over its repeats."""

    name: str
    layers: int
    parameters: int
    repeats: int
    train_accuracy: float
    test_accuracy: float
    test_accuracy_ci: tuple[float, float]
    gap: float  # train − test
    diff: float  # test accuracy minus the reference model's (paired: the same test examples)
    diff_ci: tuple[float, float]


@dataclass(frozen=True)
class SizeCurveResult(ProbeResult):
    kind = "size_curve"
    n_train: int
    n_test: int
    chance: float
    reference: str  # name of the main fine-tune's model
    points: tuple[CurvePoint, ...]
    models: tuple[ModelSummary, ...]  # ascending parameters
    extra_seconds: float
    main_seconds: float | None
    cached_points: int
    cache_dir: str


@dataclass(frozen=True)
class Options:
    layers: tuple[int, ...] = opt((), "encoder depths to compare, e.g. 2,4 (default: a quarter and a half of the "
                                      "base's layers; the full depth is the main fine-tune)",
                                  flag="--size-curve-layers", metavar="K,...")
    compare_models: tuple[str, ...] = opt((), "instead of truncated bases, fine-tune these models (folders or hub "
                                              "ids) the same way and compare", flag="--compare-models",
                                          metavar="A,B")
    repeats: int = opt(1, "fine-tunes per model, differing in seed", flag="--size-curve-repeats")

    def validate(self) -> None:
        if any(k < 1 for k in self.layers):
            raise UsageError(f"--size-curve-layers must be positive, got {','.join(map(str, self.layers))}",
                             "use e.g. 2,4")
        if self.repeats < 1:
            raise UsageError(f"--size-curve-repeats must be at least 1, got {self.repeats}", "use 1, or 3")
        if self.layers and self.compare_models:
            raise UsageError("--size-curve-layers and --compare-models exclude each other",
                             "give one of them")


def default_depths(total: int) -> list[int]:
    """L/4 and L/2 (at least one layer each, distinct, below L)."""
    return sorted({k for k in (max(1, total // 4), max(1, total // 2)) if k < total})


class SizeCurveProbe(Probe):
    """Model-size curve: test accuracy of shallower models (first k layers of the base) on the same data."""

    name = "size-curve"
    summary = "is the model too large: the same fine-tune with fewer encoder layers, or other models, compared"
    needs = frozenset({Need.FINE_TUNE, Need.TRAIN, Need.TEST, Need.MODEL})
    result_type = SizeCurveResult
    Options = Options
    default = False

    def unavailable(self, ctx: "AuditContext") -> str | None:
        reason = super().unavailable(ctx)
        if reason or self.options.compare_models:
            return reason
        problem = architecture_of(ctx.model).truncation_problem(ctx.model)
        return f"the size curve fine-tunes the base's first layers, but {problem}" if problem else None

    def run(self, ctx: "AuditContext") -> SizeCurveResult:
        o: Options = self.options
        train, test = ctx.splits["train"], ctx.splits["test"]
        full = main_point(ctx)
        from ftaudit.cache import cache_of

        cache = cache_of(ctx)
        if o.compare_models:
            variants = [("model", ref) for ref in o.compare_models]
        else:
            total = full.layers
            step = architecture_of(ctx.model).truncation_step(ctx.model)  # ALBERT: layers per shared group
            depths = o.layers or tuple(k for k in default_depths(total) if k % step == 0)
            bad = [k for k in depths if k >= total]
            if bad:
                raise UsageError(f"--size-curve-layers {bad[0]} is not below the base's {total} layers",
                                 f"use depths from 1 to {total - 1}")
            uneven = [k for k in depths if k % step]
            if uneven:
                raise UsageError(f"--size-curve-layers {uneven[0]} is not a multiple of the {step} layers that "
                                 "share one group of weights", f"use multiples of {step}")
            variants = [("layers", k) for k in depths]
        jobs = [(v, r) for v in variants for r in range(o.repeats)]

        def train_one(job: tuple[tuple[str, Any], int]) -> tuple[CurvePoint, np.ndarray]:
            (kind, value), repeat = job
            return train_point(ctx, size=len(train), repeat=repeat, schedule=full.schedule, what="size-curve",
                               layers=value if kind == "layers" else None,
                               model_ref=value if kind == "model" else None)

        run = run_points(ctx, jobs, "size curve", train_one)
        points, correct, extra, cached = run.points, run.correct, run.extra_seconds, run.cached
        points.append(full)
        correct.append(ctx.predictions("test").correct)
        names = list(dict.fromkeys(p.model for p in points))
        grouped = [np.stack([c for p, c in zip(points, correct) if p.model == n]) for n in names]
        diffs = paired_differences(grouped, reference=len(names) - 1, n_bootstrap=N_BOOTSTRAP, seed=ctx.seed)
        models = []
        for name, c, (diff, diff_ci) in zip(names, grouped, diffs):
            mine = [p for p in points if p.model == name]
            train_acc = float(np.mean([p.train_accuracy for p in mine]))
            acc = float(c.mean())
            models.append(ModelSummary(name=name, layers=mine[0].layers, parameters=mine[0].parameters,
                                       repeats=len(mine), train_accuracy=train_acc, test_accuracy=acc,
                                       test_accuracy_ci=accuracy_interval(c, ctx.seed), gap=train_acc - acc,
                                       diff=diff, diff_ci=diff_ci))
        labels = test.labels
        chance = float(np.mean(labels == np.bincount(train.labels, minlength=ctx.labels.size).argmax()))
        return SizeCurveResult(n_train=len(train), n_test=len(labels), chance=chance, reference=full.model,
                               points=tuple(points), models=tuple(sorted(models, key=lambda m: m.parameters)),
                               extra_seconds=extra, main_seconds=full.seconds or None, cached_points=cached,
                               cache_dir=str(cache.folder or "") if cached else "")
