"""CalibrationProbe: ECE (reusing the gap probe's), its chance level, reliability bins, on known answers."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.data import data_context, sentences, with_predictions
from ftaudit.probes.calibration import CalibrationProbe, calibration
from ftaudit.probes.gap import expected_calibration_error


def probs_with(confidence: np.ndarray, correct: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Binary probabilities whose top class has `confidence` and is right where `correct`."""
    top = np.where(correct, labels, 1 - labels)
    p = np.empty((len(labels), 2))
    p[np.arange(len(labels)), top] = confidence
    p[np.arange(len(labels)), 1 - top] = 1 - confidence
    return p


def test_calibrated_model_scores_below_its_chance_level():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 5000)
    conf = rng.uniform(0.5, 1.0, 5000)
    r = calibration(probs_with(conf, rng.random(5000) < conf, labels), labels, bins=10, seed=0)
    assert r.ece < 0.02 and r.ece <= r.ece_noise * 1.5
    assert r.n == 5000 and r.n_bins == 10 and sum(b.n for b in r.bins) == 5000
    assert all(b.low <= b.confidence <= b.high for b in r.bins)


def test_overconfident_model_has_large_ece_and_the_bins_add_up():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 2000)
    conf = rng.uniform(0.95, 1.0, 2000)
    correct = rng.random(2000) < 0.7
    probs = probs_with(conf, correct, labels)
    r = calibration(probs, labels, bins=10, seed=0)
    assert r.ece == pytest.approx(expected_calibration_error(conf, correct, 10))
    assert r.ece == pytest.approx(sum(b.n * abs(b.accuracy - b.confidence) for b in r.bins) / 2000)
    assert r.ece > 0.2 and r.mean_confidence > r.accuracy
    assert r.brier == pytest.approx(((probs - np.eye(2)[labels]) ** 2).sum(axis=1).mean())


def test_small_test_sets_have_a_high_chance_level():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 40)
    conf = rng.uniform(0.5, 1.0, 40)
    r = calibration(probs_with(conf, rng.random(40) < conf, labels), labels, bins=10, seed=0)
    assert r.ece_noise > 0.1


def test_probe_reads_the_shared_test_predictions():
    labels = np.array([0, 1] * 100)
    ctx = data_context((sentences(10, 1), [0, 1] * 5), (sentences(200, 2), labels))
    with_predictions(ctx, "test", np.eye(2)[labels] * 10.0)  # always right, confidence ~1
    r = CalibrationProbe().run(ctx)
    assert r.accuracy == 1.0 and r.ece == pytest.approx(1 - r.mean_confidence) and r.ece < 1e-3
