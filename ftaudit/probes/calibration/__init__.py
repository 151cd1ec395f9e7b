"""CalibrationProbe: expected calibration error on test (equal-mass bins), its noise floor, and reliability bins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ftaudit.probes.base import Need, Probe
from ftaudit.probes.gap import ECE_BINS, equal_mass_bins, expected_calibration_error
from ftaudit.results import ProbeResult

if TYPE_CHECKING:
    from ftaudit.context import AuditContext

N_SIMULATIONS = 200


@dataclass(frozen=True)
class ReliabilityBin:
    low: float  # smallest confidence in the bin
    high: float
    n: int
    confidence: float  # mean top-class probability
    accuracy: float


@dataclass(frozen=True)
class CalibrationResult(ProbeResult):
    kind = "calibration"
    split: str
    n: int
    n_bins: int
    ece: float  # sum_b |B|/n |acc(B) - conf(B)| over equal-mass bins of the top-class probability
    ece_noise: float  # 95th percentile of the ECE of a perfectly calibrated model with these confidences and n
    accuracy: float
    mean_confidence: float  # > accuracy: over-confident
    brier: float  # mean sum_c (p_c - y_c)^2, 0..2
    bins: tuple[ReliabilityBin, ...]


def calibration(probs: np.ndarray, labels: np.ndarray, *, bins: int, seed: int, split: str = "test"
                ) -> CalibrationResult:
    """Top-label calibration of class probabilities [n, C] against gold labels [n]."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    which = equal_mass_bins(conf, bins)
    table = tuple(
        ReliabilityBin(low=float(conf[which == b].min()), high=float(conf[which == b].max()),
                       n=int((which == b).sum()), confidence=float(conf[which == b].mean()),
                       accuracy=float(correct[which == b].mean()))
        for b in np.unique(which))
    rng = np.random.default_rng(seed)  # a calibrated model is right with probability equal to its confidence
    noise = [expected_calibration_error(conf, rng.random(len(conf)) < conf, bins) for _ in range(N_SIMULATIONS)]
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(labels)), labels] = 1.0
    return CalibrationResult(
        split=split, n=len(labels), n_bins=len(table), ece=expected_calibration_error(conf, correct, bins),
        ece_noise=float(np.quantile(noise, 0.95)), accuracy=float(correct.mean()), mean_confidence=float(conf.mean()),
        brier=float(((probs - onehot) ** 2).sum(axis=1).mean()), bins=table,
    )


class CalibrationProbe(Probe):
    """Calibration of the model's confidence on test, from the shared prediction pass."""

    name = "calibration"
    summary = "expected calibration error on test (equal-mass bins) with its noise floor, and a reliability diagram"
    needs = frozenset({Need.MODEL, Need.TEST})
    result_type = CalibrationResult

    def run(self, ctx: "AuditContext") -> CalibrationResult:
        p = ctx.predictions("test")
        return calibration(p.probs, p.labels, bins=ECE_BINS, seed=ctx.seed)
