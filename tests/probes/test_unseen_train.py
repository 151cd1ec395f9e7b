"""The train-test-mismatch measurement: a subset's fine-tune scored on train rows outside its subset vs on test."""

from __future__ import annotations

import numpy as np
import pytest

from ftaudit.probes.curve_points import CurvePoint, Schedule, point_from_json, point_to_json, unseen_rows
from ftaudit.probes.learning_curve import unseen_train

SCHEDULE = Schedule(epochs=2, steps=40, batch_size=16, lr=5e-5, warmup_ratio=0.1)


def point(size: int, by_class: tuple[int, ...], right: tuple[int, ...], *, test_accuracy: float = 0.6,
          repeat: int = 0, source: str = "trained") -> CurvePoint:
    return CurvePoint(size=size, model="6 layers", layers=6, parameters=1, repeat=repeat, seed=repeat,
                      train_accuracy=0.95, test_accuracy=test_accuracy, test_loss=0.7, schedule=SCHEDULE,
                      seconds=1.0, source=source, unseen_by_class=by_class, unseen_correct_by_class=right)


def test_unseen_rows_are_outside_the_subset_stratified_and_capped():
    labels = np.array([0] * 80 + [1] * 20)
    index = np.arange(0, 100, 2)  # 40 of class 0, 10 of class 1
    rows = unseen_rows(labels, index, 20, seed=0)
    assert len(rows) == 20 and not np.isin(rows, index).any()
    assert (labels[rows] == 1).sum() == 4  # the outside rows' 80/20 shares kept
    assert len(unseen_rows(labels, index, 1000, seed=0)) == 50  # all of them under the cap
    assert len(unseen_rows(labels, index, None, seed=0)) == 0
    assert len(unseen_rows(labels, np.arange(100), 10, seed=0)) == 0  # a subset that is all of train


def test_the_difference_is_unseen_train_minus_test_at_test_class_mix():
    # unseen train rows: class 0 90/100 right, class 1 30/100 right (60% at train's 50/50 mix)
    p = point(200, (100, 100), (90, 30), test_accuracy=0.7)
    # test: 90 rows of class 0 (63 right, 70%), 10 of class 1 (7 right, 70%): 70% overall
    test_labels = np.array([0] * 90 + [1] * 10)
    test_correct = np.array([True] * 63 + [False] * 27 + [True] * 7 + [False] * 3)
    u = unseen_train([p], [test_correct], test_labels, 200)
    assert u is not None and u.unseen_accuracy == pytest.approx(0.6)
    # at test's mix the unseen rows score 0.9 * 0.9 + 0.1 * 0.3 = 84%: test is 14 points below, not 10 above
    assert u.contrast.rest_accuracy == pytest.approx(0.84)
    assert u.contrast.difference == pytest.approx(0.14)
    assert u.contrast.unadjusted_difference == pytest.approx(0.6 - 0.7)
    lo, hi = u.contrast.difference_ci
    assert lo < 0.14 < hi
    assert u.in_distribution_gap == pytest.approx(0.95 - 0.6)


def test_repeats_are_pooled_and_unscored_points_are_ignored():
    test_labels = np.array([0, 1] * 50)
    correct = np.ones(100, dtype=bool)
    a = point(200, (50, 50), (40, 40), repeat=0)
    b = point(200, (50, 50), (30, 30), repeat=1)
    smaller = point(100, (), ())
    main = point(400, (), (), source="main fine-tune")
    u = unseen_train([smaller, a, b, main], [correct] * 4, test_labels, 200)
    assert u is not None and u.repeats == 2 and u.contrast.n == 200 and u.contrast.n_rest == 200
    assert u.unseen_accuracy == pytest.approx(0.7)
    assert unseen_train([smaller, main], [correct] * 2, test_labels, 200) is None
    assert unseen_train([a], [correct], test_labels, None) is None


def test_a_cached_point_keeps_its_unseen_counts():
    p = point(200, (3, 4), (2, 1))
    back, correct = point_from_json(point_to_json(p, np.array([True, False])))
    assert back.unseen_by_class == (3, 4) and back.unseen_correct_by_class == (2, 1)
    assert back.unseen_accuracy == pytest.approx(3 / 7) and correct.tolist() == [True, False]
