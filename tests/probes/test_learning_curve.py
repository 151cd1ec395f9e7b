"""LearningCurveProbe on the tiny fine-tune: sizes, schedules, the reused main run, and the cache/resume path."""

from __future__ import annotations

import json
import math

import pytest

from fixtures import curves
from ftaudit.probes import curve_points
from ftaudit.probes.learning_curve import LearningCurveProbe, LearningCurveResult, Options
from ftaudit.results import ProbeOutcome, Severity, _decode_dataclass, _encode
from ftaudit.probes.learning_curve.rules import RULES


@pytest.fixture(scope="module")
def ctx(tiny, tmp_path_factory):
    return curves.fine_tune_context(tiny, tmp_path_factory.mktemp("ft"))


@pytest.fixture(scope="module")
def cache(ctx, tmp_path_factory):
    """The run cache as `ftaudit run --resume` installs it in the context."""
    from ftaudit.cache import CACHE, AuditCache

    cache = AuditCache(tmp_path_factory.mktemp("cache"), "run-key", resume=True)
    previous = ctx.stash[CACHE] if CACHE in ctx.stash else None
    ctx.stash[CACHE] = cache
    yield cache
    ctx.stash[CACHE] = previous if previous is not None else AuditCache.disabled()


@pytest.fixture(scope="module")
def first(ctx, cache):
    return LearningCurveProbe(Options(sizes=3)).run(ctx)


def test_curve_points_sizes_schedules_and_the_reused_main_run(ctx, first):
    assert [s.size for s in first.sizes] == [100, 200, 400]
    assert [p.source for p in first.points] == ["trained", "trained", "main fine-tune"]
    main = first.points[-1]
    assert main.test_accuracy == pytest.approx(float(ctx.predictions("test").correct.mean()))
    run = ctx.training.run
    assert main.schedule.steps == run.steps == 26 and main.seconds == pytest.approx(run.seconds)
    small = first.points[0].schedule
    # 40 steps asked for, capped at the main run's 26; the budget never lowers that floor: the two subsets, the
    # fewest a fit needs, train at it although together they take more than 1x the main run's steps
    assert first.wanted_min_steps == 40 and first.budget == 1.0 and first.min_steps == 26
    assert all(p.schedule.steps == 26 for p in first.points[:-1]) and small.epochs > main.schedule.epochs
    assert first.steps_per_repeat == sum(p.schedule.steps for p in first.points[:-1]) > 26 and first.over_budget
    assert first.dropped_sizes == () and all(p.loss_tail is not None for p in first.points)
    assert all(p.final_loss is not None and p.final_loss > 0 for p in first.points)
    assert first.label_entropy == pytest.approx(math.log(2), abs=0.01) and first.still_learning_drop == 0.15
    assert first.n_test == 200 and first.cached_points == 0 and first.extra_seconds > 0
    assert all(0 <= s.train_accuracy <= 1 and s.test_accuracy_ci[0] <= s.test_accuracy <= s.test_accuracy_ci[1]
               for s in first.sizes)
    assert first.gap_trend is not None and len(first.gap_trend.gaps) == 3
    # the fit's floor is what a constant prediction of test's largest class scores, not the train majority's share
    labels = ctx.splits["test"].labels
    assert first.chance == pytest.approx(max((labels == c).mean() for c in set(labels.tolist())))


def test_result_round_trips_through_json(first):
    data = json.loads(json.dumps(_encode(first), allow_nan=False))
    assert _decode_dataclass(LearningCurveResult, data) == first


def test_a_rerun_reads_every_point_from_the_cache(ctx, cache, first, monkeypatch):
    def no_training(*args, **kw):
        raise AssertionError("a cached point was trained again")

    monkeypatch.setattr(curve_points, "fine_tune_subset", no_training)
    again = LearningCurveProbe(Options(sizes=3)).run(ctx)
    assert [p.source for p in again.points] == ["cached", "cached", "main fine-tune"]
    assert again.cached_points == 2 and again.extra_seconds == 0 and again.cache_dir == str(cache.folder)
    assert [s.test_accuracy for s in again.sizes] == [s.test_accuracy for s in first.sizes]
    assert again.fit == first.fit and again.gap_trend == first.gap_trend


def test_an_interrupted_run_resumes_with_only_the_missing_point(ctx, cache, first, monkeypatch):
    files = sorted((cache.folder / "points").glob("*.json"))
    assert len(files) == 2
    lost = next(f for f in files if json.loads(f.read_text())["value"]["point"]["size"] == 200)
    lost.unlink()  # as if the run had been interrupted while training the 200-example point
    calls = []
    real = curve_points.fine_tune_subset
    monkeypatch.setattr(curve_points, "fine_tune_subset", lambda *a, **k: calls.append(len(a[1])) or real(*a, **k))
    resumed = LearningCurveProbe(Options(sizes=3)).run(ctx)
    assert calls == [200]
    assert [p.source for p in resumed.points] == ["cached", "trained", "main fine-tune"]
    assert [s.test_accuracy for s in resumed.sizes] == [s.test_accuracy for s in first.sizes]  # deterministic


def test_two_sizes_give_the_not_enough_points_finding(ctx, cache, first):
    r = LearningCurveProbe(Options(sizes=2)).run(ctx)
    assert [s.size for s in r.sizes] == [200, 400] and r.fit is None and r.gap_trend is None
    outcome = ProbeOutcome(name="learning-curve", status="ok", result=r)
    table = {t.name: t.default for rule in RULES for t in rule.thresholds}
    found = {rule.code: rule.evaluate(outcome, table.__getitem__) for rule in RULES if rule.probe == "learning-curve"}
    assert found["curve-too-few-points"].severity is Severity.WARN
    assert "not enough points" in found["curve-too-few-points"].message
    assert found["data-limited"].severity is Severity.SKIP


def test_points_are_not_read_back_without_resume(ctx, cache, first, monkeypatch):
    from ftaudit.cache import CACHE, AuditCache

    calls = []

    def record_and_stop(ctx_, index, *args, **kw):
        calls.append(len(index))
        raise RuntimeError("stop after the first training call")

    monkeypatch.setattr(curve_points, "fine_tune_subset", record_and_stop)
    monkeypatch.setitem(ctx.stash._data, CACHE, AuditCache(cache.root, "run-key", resume=False))
    with pytest.raises(RuntimeError, match="stop"):
        LearningCurveProbe(Options(sizes=3)).run(ctx)
    assert calls == [100]  # a plain rerun trains again; only --resume reuses finished points


def test_skipped_outside_fine_tune_mode():
    from ftaudit.config import AuditConfig
    from ftaudit.context import AuditContext
    from ftaudit.data import LabelSpace

    existing = AuditContext(config=AuditConfig(), splits={}, labels=LabelSpace(("a", "b")), mode="existing-model")
    assert LearningCurveProbe.default is True
    assert "fine-tune" in existing.lacks(next(n for n in LearningCurveProbe.needs if n.name == "FINE_TUNE"))
    assert LearningCurveProbe().unavailable(existing)


def test_repeats_fit_each_seed_alone_too(ctx, cache, first):
    r = LearningCurveProbe(Options(sizes=3, repeats=2)).run(ctx)
    assert [(p.size, p.repeat, p.source) for p in r.points] == [
        (100, 0, "cached"), (100, 1, "trained"), (200, 0, "cached"), (200, 1, "trained"), (400, 0, "main fine-tune")]
    assert r.min_repeats == 2 and [f.repeat for f in r.seed_fits] == [0, 1]
    # repeat 0's own curve is the single-repeat audit's curve
    alone = first.fit
    assert r.seed_fits[0].gain_2x == (alone.gain_2x if alone else None)
    assert r.seed_fits[0].gain_2x_ci == (alone.gain_2x_ci if alone else None)
    assert first.seed_fits == ()
    data = json.loads(json.dumps(_encode(r), allow_nan=False))
    assert _decode_dataclass(LearningCurveResult, data) == r


def test_every_point_is_scored_on_one_fixed_stratified_sample_of_test(ctx, cache, first):
    """--curve-eval-examples below the test size: the same rows for every point, the main run's included."""
    from ftaudit.data import stratified_sample

    r = LearningCurveProbe(Options(sizes=3, eval_examples=60, train_eval_examples=50)).run(ctx)
    assert r.n_test == 200 and r.n_test_scored == 60 and r.train_scored_max == 50
    rows = stratified_sample(ctx.splits["test"].labels, 60, ctx.seed)
    assert r.points[-1].test_accuracy == pytest.approx(float(ctx.predictions("test").correct[rows].mean()))
    assert r.chance == pytest.approx(max((ctx.splits["test"].labels[rows] == c).mean() for c in (0, 1)))
    # a point trained with the same subset and schedule scores (almost) as on all of test; its interval is wider
    for small, full in zip(r.sizes[:-1], first.sizes[:-1]):
        assert small.size == full.size
        width = small.test_accuracy_ci[1] - small.test_accuracy_ci[0]
        assert width > full.test_accuracy_ci[1] - full.test_accuracy_ci[0]
    assert first.n_test_scored == 200  # the default sample (2,000) holds all of this test split


def test_the_largest_subset_is_scored_on_the_train_rows_it_never_saw(ctx, first):
    """Its fine-tune against test, at test's class mix: the train-test-mismatch measurement."""
    import numpy as np

    from ftaudit.data import stratified_sample

    largest, smaller = first.points[1], first.points[0]
    assert largest.size == 200 and sum(largest.unseen_by_class) == 400 - 200  # every other row (cap 1,000)
    assert smaller.unseen_by_class == () and smaller.unseen_accuracy is None  # only the largest subset is scored
    train_labels = ctx.splits["train"].labels
    index = stratified_sample(train_labels, 200, ctx.seed)
    outside = np.setdiff1d(np.arange(len(train_labels)), index)
    assert list(largest.unseen_by_class) == np.bincount(train_labels[outside], minlength=2).tolist()
    assert all(0 <= right <= n for n, right in zip(largest.unseen_by_class, largest.unseen_correct_by_class))
    u = first.unseen_train
    assert u is not None and u.size == 200 and u.repeats == 1
    assert u.unseen_accuracy == pytest.approx(largest.unseen_accuracy)
    assert u.train_accuracy == largest.train_accuracy
    assert u.contrast.n == 200 and u.contrast.n_rest == 200  # all of test against the 200 unseen train rows
    assert u.contrast.accuracy == pytest.approx(largest.test_accuracy)
    assert u.in_distribution_gap == pytest.approx(largest.train_accuracy - largest.unseen_accuracy)
