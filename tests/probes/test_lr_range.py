"""LrRangeProbe: the analysis of loss traces with known features, and a short range test on the tiny base."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fixtures import curves
from ftaudit.errors import UsageError
from ftaudit.probes.lr_range import LrRangeProbe, LrRangeResult, Options, analyse, lr_schedule
from ftaudit.results import _decode_dataclass, _encode


def test_schedule_is_geometric():
    lrs = lr_schedule(1e-6, 1e-2, 5)
    assert lrs[0] == pytest.approx(1e-6) and lrs[-1] == pytest.approx(1e-2)
    assert np.allclose(lrs[1:] / lrs[:-1], 10.0)


@pytest.mark.parametrize("fall_at", [1e-5, 5e-5, 3e-4])
def test_the_steepest_fall_is_found_where_it_was_put(fall_at):
    lrs = lr_schedule(1e-7, 0.1, 150)
    a = analyse(lrs, curves.lr_losses(lrs, fall_at=fall_at, diverge_at=fall_at * 60, seed=1))
    assert abs(math.log10(a.steepest_lr / fall_at)) < 0.25
    assert a.range_low < fall_at < a.range_high and a.diverged_lr > a.min_loss_lr > a.range_high


def test_a_loss_that_becomes_nan_diverges_there():
    lrs = lr_schedule(1e-7, 0.1, 100)
    losses = curves.lr_losses(lrs, fall_at=5e-5, diverge_at=1.0)
    losses[80:] = np.nan
    a = analyse(lrs, losses)
    assert a.used_steps == 80 and a.diverged_lr == pytest.approx(lrs[80]) and len(a.smoothed) == 80


def test_a_loss_that_falls_and_climbs_back_above_its_start_has_diverged():
    lrs = lr_schedule(1e-5, 1.0, 60)
    x = np.log10(lrs)
    losses = np.where(x < -2.2, 0.69 - 0.4 / (1 + np.exp(-(x + 2.6) * 6)), 0.69 + (x + 2.2) * 1.2)
    a = analyse(lrs, losses)
    assert a.diverged_lr is not None and a.diverged_lr < 0.1


def test_options_are_validated():
    with pytest.raises(UsageError):
        Options(steps=5).validate()
    with pytest.raises(UsageError):
        Options(start_lr=1e-2, end_lr=1e-3).validate()


def test_range_test_on_the_tiny_base(tiny, tmp_path_factory):
    ctx = curves.fine_tune_context(tiny, tmp_path_factory.mktemp("ft"))
    r = LrRangeProbe(Options(steps=30, start_lr=1e-4, end_lr=1.0)).run(ctx)
    assert 5 <= len(r.lrs) <= 30 and len(r.losses) == len(r.lrs) == len(r.smoothed)
    assert r.lrs[0] == pytest.approx(1e-4) and all(b > a for a, b in zip(r.lrs, r.lrs[1:]))
    assert r.range_low <= r.steepest_lr <= r.range_high <= r.min_loss_lr
    assert r.user_lr == ctx.config.train.lr and r.batch_size == 32
    assert all(math.isfinite(v) for v in r.losses)
    # the low end for this run: the lowest peak rate whose schedule adds up what the sweep had when it fell
    assert r.run_lr_sum == pytest.approx(float(np.nansum(ctx.training.step_lr)))
    assert r.falls_from_lr_sum == pytest.approx(sum(v for v in r.lrs if v <= r.falls_from_lr))
    assert r.run_low_lr == pytest.approx(r.user_lr * r.falls_from_lr_sum / r.run_lr_sum)
    data = json.loads(json.dumps(_encode(r), allow_nan=False))
    assert _decode_dataclass(LrRangeResult, data) == r
