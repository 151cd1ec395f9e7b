"""GapProbe's metrics against hand-computed answers and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

from ftaudit.probes.gap import bootstrap_confusions, confusion_matrix, expected_calibration_error, macro_f1, \
    split_metrics


def logits_for(pred: np.ndarray, n_classes: int, confidence: float = 4.0) -> np.ndarray:
    out = np.zeros((len(pred), n_classes), dtype=np.float32)
    out[np.arange(len(pred)), pred] = confidence
    return out


def test_split_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 500)
    pred = np.where(rng.random(500) < 0.7, labels, rng.integers(0, 3, 500))
    m, _ = split_metrics("test", labels, logits_for(pred, 3), ("a", "b", "c"), majority=0,
                         rng=np.random.default_rng(1))
    assert m.accuracy == pytest.approx(np.mean(pred == labels))
    assert m.macro_f1 == pytest.approx(f1_score(labels, pred, average="macro"))
    assert m.balanced_accuracy == pytest.approx(balanced_accuracy_score(labels, pred))
    assert m.accuracy_ci[0] < m.accuracy < m.accuracy_ci[1]
    assert m.majority_baseline == pytest.approx(np.mean(labels == 0))
    assert sum(m.predicted_share) == pytest.approx(1.0)
    assert np.array(m.confusion).sum() == 500


def test_bootstrap_interval_has_the_binomial_width():
    labels = np.zeros(1000, dtype=int)
    pred = np.r_[np.zeros(800, dtype=int), np.ones(200, dtype=int)]
    cm = confusion_matrix(labels, pred, 2)
    boot = bootstrap_confusions(cm, 4000, np.random.default_rng(0))
    acc = np.trace(boot, axis1=1, axis2=2) / 1000
    assert acc.std() == pytest.approx(np.sqrt(0.8 * 0.2 / 1000), rel=0.1)


def test_macro_f1_ignores_classes_absent_from_gold():
    cm = np.array([[5, 0, 0], [0, 5, 0], [0, 0, 0]])
    assert macro_f1(cm) == pytest.approx(1.0)


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_overconfident():
    conf = np.full(1000, 0.8)
    correct = np.r_[np.ones(800, bool), np.zeros(200, bool)]
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0, abs=1e-9)  # ties share a bin
    assert expected_calibration_error(np.full(1000, 0.99), np.r_[np.ones(500, bool), np.zeros(500, bool)]) \
        == pytest.approx(0.49, abs=1e-6)
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 20000)
    assert expected_calibration_error(conf, rng.random(20000) < conf) < 0.02  # calibrated by construction


def test_gap_probe_on_the_tiny_models(tiny):
    from ftaudit.pipeline import Phases, build_context, read_splits
    from ftaudit.config import load_config
    from ftaudit.probes.gap import GapProbe

    config = load_config(None, {"data": {"train": str(tiny["train_random"]), "test": str(tiny["test"])},
                                "model": {"model": str(tiny["overfit"])}})
    ctx = build_context(config, read_splits(config), staging=None, phases=Phases(), progress=None)
    r = GapProbe().run(ctx)
    assert r.train.accuracy > 0.9 and r.test.accuracy < 0.75
    assert r.accuracy_gap == pytest.approx(r.train.accuracy - r.test.accuracy)
    assert r.accuracy_gap_ci[0] < r.accuracy_gap < r.accuracy_gap_ci[1]
    assert r.labels == ("negative", "positive")
