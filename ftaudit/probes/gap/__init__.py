"""GapProbe: train vs test accuracy, macro-F1, balanced accuracy, loss and calibration, with bootstrap intervals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ftaudit.probes.base import Need, Probe
from ftaudit.probes.curve_points import split_digest
from ftaudit.results import ProbeResult

if TYPE_CHECKING:
    from ftaudit.context import AuditContext

N_BOOTSTRAP = 2000
ECE_BINS = 10


@dataclass(frozen=True)
class ClassMetrics:
    label: str
    support: int
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class SplitMetrics:
    split: str
    n: int
    accuracy: float
    accuracy_ci: tuple[float, float]  # 95% percentile bootstrap
    macro_f1: float
    macro_f1_ci: tuple[float, float]
    balanced_accuracy: float
    loss: float  # mean cross-entropy, nats
    ece: float  # expected calibration error, equal-mass bins
    majority_baseline: float  # accuracy of always predicting train's most frequent class
    per_class: tuple[ClassMetrics, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows: gold, columns: predicted
    predicted_share: tuple[float, ...]  # share of predictions per class


@dataclass(frozen=True)
class GapResult(ProbeResult):
    kind = "gap"
    labels: tuple[str, ...]
    majority_class: str
    train: SplitMetrics
    test: SplitMetrics
    accuracy_gap: float  # train - test
    accuracy_gap_ci: tuple[float, float]
    macro_f1_gap: float
    macro_f1_gap_ci: tuple[float, float]
    loss_gap: float  # test - train, nats
    n_bootstrap: int
    confidence: float = 0.95
    # The test rows scored, for `ftaudit compare` to pair two runs: a content digest (texts, pairs, labels) and
    # per-row gold and predicted label ids, each packed by `pack_ids` (hex of uint8, or uint16 past 256 labels).
    test_rows: str = ""
    test_labels: str = ""
    test_predictions: str = ""


def confusion_matrix(labels: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(labels * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _f1_from_confusion(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall, F1 of one or many confusion matrices [..., C, C]; 0 where undefined."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1).astype(float)
    gold = cm.sum(axis=-1)
    pred = cm.sum(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred > 0, tp / np.maximum(pred, 1), 0.0)
        recall = np.where(gold > 0, tp / np.maximum(gold, 1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return precision, recall, f1


def macro_f1(cm: np.ndarray) -> np.ndarray:
    """Macro-F1 over classes present in the gold labels (sklearn's default averages all labels given)."""
    _, _, f1 = _f1_from_confusion(cm)
    present = cm.sum(axis=-1) > 0
    return (f1 * present).sum(axis=-1) / np.maximum(present.sum(axis=-1), 1)


def bootstrap_confusions(cm: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Resampling examples with replacement == drawing the confusion cells from a multinomial: [n, C, C]."""
    total = int(cm.sum())
    draws = rng.multinomial(total, cm.ravel() / total, size=n)
    return draws.reshape(n, *cm.shape)


def equal_mass_bins(confidence: np.ndarray, bins: int = ECE_BINS) -> np.ndarray:
    """Bin index of each confidence: edges at its quantiles, so equal confidences always share a bin."""
    edges = np.quantile(confidence, np.linspace(0, 1, bins + 1)[1:-1])
    return np.searchsorted(edges, confidence, side="right")


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE with equal-mass bins: sum_b |B|/n * |acc(B) - conf(B)|.

    Bin edges are confidence quantiles; equal confidences always share a bin (so ties cannot fake an error).
    """
    if len(confidence) == 0:
        return float("nan")
    which = equal_mass_bins(confidence, bins)
    total = 0.0
    for b in np.unique(which):
        members = which == b
        total += members.sum() * abs(correct[members].mean() - confidence[members].mean())
    return float(total / len(confidence))


def split_metrics(name: str, labels: np.ndarray, logits: np.ndarray, names: tuple[str, ...], majority: int,
                  rng: np.random.Generator) -> tuple[SplitMetrics, np.ndarray]:
    from ftaudit.inference import Predictions

    p = Predictions(logits=logits, labels=labels)
    c = len(names)
    pred = p.pred
    cm = confusion_matrix(labels, pred, c)
    precision, recall, f1 = _f1_from_confusion(cm)
    present = cm.sum(axis=1) > 0
    boot = bootstrap_confusions(cm, N_BOOTSTRAP, rng)
    acc_boot = np.trace(boot, axis1=1, axis2=2) / len(labels)
    f1_boot = macro_f1(boot)
    probs = p.probs
    per_class = tuple(
        ClassMetrics(label=names[k], support=int(cm[k].sum()), precision=float(precision[k]),
                     recall=float(recall[k]), f1=float(f1[k]))
        for k in range(c)
    )
    metrics = SplitMetrics(
        split=name,
        n=len(labels),
        accuracy=float(np.trace(cm) / len(labels)),
        accuracy_ci=_ci(acc_boot),
        macro_f1=float(macro_f1(cm)),
        macro_f1_ci=_ci(f1_boot),
        balanced_accuracy=float(recall[present].mean()),
        loss=float(p.loss.mean()),
        ece=expected_calibration_error(probs.max(axis=1), pred == labels),
        majority_baseline=float(np.mean(labels == majority)),
        per_class=per_class,
        confusion=tuple(tuple(int(v) for v in row) for row in cm),
        predicted_share=tuple(float(v) for v in np.bincount(pred, minlength=c) / len(pred)),
    )
    return metrics, np.stack([acc_boot, f1_boot])


def pack_ids(ids: np.ndarray, n_classes: int) -> str:
    """Label ids as hex: one byte each (two, big-endian, past 256 classes)."""
    dtype = ">u1" if n_classes <= 256 else ">u2"
    return np.asarray(ids).astype(dtype).tobytes().hex()


def unpack_ids(text: str, n_classes: int) -> np.ndarray:
    dtype = ">u1" if n_classes <= 256 else ">u2"
    return np.frombuffer(bytes.fromhex(text), dtype=dtype).astype(np.int64)


def _ci(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    lo, hi = np.quantile(samples, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


class GapProbe(Probe):
    """Generalization gap between train and test, each metric with a 95% bootstrap interval."""

    name = "gap"
    summary = "train/test generalization gap: accuracy, macro-F1, loss, calibration, per class"
    needs = frozenset({Need.MODEL, Need.TRAIN, Need.TEST})
    result_type = GapResult

    def run(self, ctx: "AuditContext") -> GapResult:
        names = ctx.labels.names
        train_labels = ctx.splits["train"].labels
        majority = int(np.bincount(train_labels, minlength=len(names)).argmax())
        rng = np.random.default_rng(ctx.seed)
        train, train_boot = split_metrics("train", train_labels, ctx.predictions("train").logits, names, majority, rng)
        test, test_boot = split_metrics("test", ctx.splits["test"].labels, ctx.predictions("test").logits, names,
                                        majority, rng)
        gap_boot = train_boot - test_boot  # independent resamples of the two splits
        test_split = ctx.splits["test"]
        return GapResult(
            labels=names,
            majority_class=names[majority],
            train=train,
            test=test,
            accuracy_gap=train.accuracy - test.accuracy,
            accuracy_gap_ci=_ci(gap_boot[0]),
            macro_f1_gap=train.macro_f1 - test.macro_f1,
            macro_f1_gap_ci=_ci(gap_boot[1]),
            loss_gap=test.loss - train.loss,
            n_bootstrap=N_BOOTSTRAP,
            test_rows=split_digest(test_split),
            test_labels=pack_ids(test_split.labels, len(names)),
            test_predictions=pack_ids(ctx.predictions("test").pred, len(names)),
        )
