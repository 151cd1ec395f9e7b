"""Curve sizes, raised schedules and a point's round trip through the run cache (no training here)."""

from __future__ import annotations

import numpy as np
import pytest

from ftaudit.probes.curve_points import CurvePoint, Schedule, pack_bits, point_from_json, point_to_json, unpack_bits
from ftaudit.probes.learning_curve import curve_sizes, raised_schedule

BASE = Schedule(epochs=3, steps=192, batch_size=32, lr=5e-5, warmup_ratio=0.1)


def test_sizes_halve_down_from_the_full_set():
    assert curve_sizes(2048, 4, 2) == [256, 512, 1024, 2048]
    assert curve_sizes(1000, 3, 2) == [250, 500, 1000]
    assert curve_sizes(10, 4, 3) == [10]  # 5, 2, 1 are too small for three classes


def test_small_subsets_get_more_epochs_up_to_the_cap():
    s = raised_schedule(256, BASE, min_steps=40, max_epochs=20)
    assert s.steps >= 40 and s.epochs == 5 and s.steps == 40  # 8 steps per epoch
    big = raised_schedule(1024, BASE, min_steps=40, max_epochs=20)
    assert big.epochs == 3 and big.steps == 96  # already enough steps: the main run's epochs
    tiny = raised_schedule(16, BASE, min_steps=40, max_epochs=20)
    assert tiny.epochs == 20 and tiny.steps == 20  # capped
    # 7 steps per epoch: 6 epochs would be 42 steps; training stops at the floor, part-way through the sixth
    part = raised_schedule(200, BASE, min_steps=40, max_epochs=20)
    assert (part.epochs, part.steps) == (6, 40)
    assert (s.lr, s.batch_size, s.warmup_ratio) == (BASE.lr, BASE.batch_size, BASE.warmup_ratio)


def test_the_budget_drops_the_smallest_sizes_and_never_lowers_the_step_floor():
    from ftaudit.probes.learning_curve import plan_sizes

    main = Schedule(epochs=3, steps=48, batch_size=32, lr=5e-5, warmup_ratio=0.1)  # 512 examples
    # at the floor of 24: 256 -> 24 steps, 128 -> 24 (raised from 12), 64 -> 24 (raised from 6): 72 in all
    kept, dropped, steps = plan_sizes([64, 128, 256], main, 24, 20, budget=1.0)
    assert (kept, dropped, steps) == ([128, 256], [64], 48)  # within 1x, every point at the floor
    assert plan_sizes([64, 128, 256], main, 24, 20, budget=1.5) == ([64, 128, 256], [], 72)
    # a run shorter than twice the floor: the two largest subsets, the fewest a fit needs, are trained anyway
    short = Schedule(epochs=2, steps=26, batch_size=32, lr=5e-5, warmup_ratio=0.1)  # 400 examples
    kept, dropped, steps = plan_sizes([50, 100, 200], short, 26, 20, budget=1.0)
    assert kept == [100, 200] and dropped == [50] and steps == 26 + 26 > 26  # 4 steps per epoch: 7 epochs, cut at 26
    assert all(raised_schedule(z, short, 26, 20).steps == 26 for z in kept)  # the floor, never more
    big = Schedule(epochs=3, steps=1920, batch_size=32, lr=5e-5, warmup_ratio=0.1)  # 20,480 examples
    assert plan_sizes([2560, 5120, 10240], big, 40, 20, budget=1.0) == ([2560, 5120, 10240], [], 240 + 480 + 960)


def test_a_point_that_fits_its_subset_worse_than_the_full_run_is_under_trained():
    from ftaudit.probes.learning_curve import under_trained

    assert under_trained(0.60, 0.87, 400)  # the 8-step point of a 2-epoch recipe: 27 points below
    assert not under_trained(0.99, 0.87, 100)  # a small subset memorised: comparable
    assert not under_trained(0.85, 0.87, 400)  # within 2 points
    # two binomial standard errors on 50 rows at 87% are 9.5 points
    assert not under_trained(0.80, 0.87, 50) and under_trained(0.76, 0.87, 50)


def test_the_loss_tail_says_how_much_the_loss_still_fell_in_the_last_quarter():
    from ftaudit.probes.curve_points import loss_tail

    assert loss_tail([1.0] * 8 + [0.8] * 4 + [0.4] * 4) == pytest.approx(0.5)
    assert loss_tail([0.7] * 16) == pytest.approx(0.0)
    assert loss_tail([0.7, float("nan")] * 3) is None  # too few finite steps


def test_bits_round_trip():
    rng = np.random.default_rng(0)
    for n in (1, 7, 8, 1001):
        bits = rng.random(n) < 0.5
        assert (unpack_bits(pack_bits(bits), n) == bits).all()


def point(size: int = 64) -> CurvePoint:
    return CurvePoint(size=size, model="2 layers", layers=2, parameters=1234, repeat=0, seed=0, train_accuracy=0.9,
                      test_accuracy=0.75, test_loss=0.6, schedule=BASE, seconds=2.5, source="trained")


def test_a_point_survives_the_cache_encoding(tmp_path):
    from ftaudit.cache import AuditCache

    cache = AuditCache(tmp_path, "run", resume=True)
    slot = cache.point({"what": "learning-curve", "size": 64, "seed": 0, "schedule": BASE})
    assert slot.get() is None
    correct = np.arange(200) % 4 != 0
    slot.put(point_to_json(point(), correct))
    got, bits = point_from_json(cache.point({"what": "learning-curve", "size": 64, "seed": 0,
                                             "schedule": BASE}).get())
    assert got.source == "cached" and got.size == 64 and got.schedule == BASE and got.test_accuracy == 0.75
    assert (bits == correct).all()
    assert cache.point({"what": "learning-curve", "size": 64, "seed": 1, "schedule": BASE}).get() is None


@pytest.mark.parametrize("bad", [{"sizes": 1}, {"repeats": 0}, {"min_steps": 0}, {"max_epochs": 0},
                                 {"budget": 0.0}])
def test_options_are_validated(bad):
    from ftaudit.errors import UsageError
    from ftaudit.probes.learning_curve import Options

    with pytest.raises(UsageError):
        Options(**bad).validate()


def test_loss_tail_and_final_loss_read_the_last_two_quarters():
    from ftaudit.probes.curve_points import final_loss, loss_tail

    losses = [1.0] * 4 + [0.8] * 2 + [0.6] * 2  # quarters of 2 steps: ..., 0.8, 0.6
    assert loss_tail(losses) == pytest.approx(0.25) and final_loss(losses) == pytest.approx(0.6)
    assert loss_tail([0.5] * 7) is None and final_loss([0.5] * 7) is None  # fewer than 8 steps
    assert final_loss([float("nan")] * 4 + [0.5] * 8) == pytest.approx(0.5)  # non-finite steps are dropped


@pytest.mark.parametrize("value", [0.0, 1.5])
def test_curve_still_learning_must_be_a_share(value):
    from ftaudit.errors import UsageError
    from ftaudit.probes.learning_curve import Options

    with pytest.raises(UsageError, match="--curve-still-learning must be in"):
        Options(still_learning=value).validate()
