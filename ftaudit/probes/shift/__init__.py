"""ShiftProbe: does test look like train? Length distribution (KS test) and out-of-vocabulary rate vs expectation,
and what it costs: test accuracy on the quarter of test examples least like train vs the rest, on each axis.

Least like train by length: the largest |F_train(length) - 1/2|, with F_train the mid-rank share of train examples
shorter (ties count half); by vocabulary: the largest share of an example's words never seen in train.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ftaudit.probes.base import Need, Probe
from ftaudit.results import ProbeResult
from ftaudit.probes.text_keys import context_keys
from ftaudit.stats import Contrast, contrast

if TYPE_CHECKING:
    from ftaudit.context import AuditContext

QUANTILES = tuple(float(q) for q in np.linspace(0, 1, 21))
HOLDOUT = 0.2  # share of train held out to measure the OOV rate of in-distribution text
N_OOV_WORDS = 12
LEAST_LIKE_SHARE = 0.25  # the share of test examples least like train whose accuracy is compared with the rest


@dataclass(frozen=True)
class OovWord:
    word: str  # user data
    count: int  # occurrences in test


@dataclass(frozen=True)
class ShiftResult(ProbeResult):
    kind = "shift"
    n_train: int
    n_test: int
    quantiles: tuple[float, ...]
    train_length_quantiles: tuple[float, ...]  # words per normalised example, at `quantiles`
    test_length_quantiles: tuple[float, ...]
    train_mean_length: float
    test_mean_length: float
    length_ks: float  # two-sample Kolmogorov-Smirnov statistic: max |ECDF_train - ECDF_test|, 0..1
    length_ks_p: float
    oov_rate: float  # share of test word tokens absent from the reference vocabulary (80% of train)
    expected_oov_rate: float  # the same for the held-out 20% of train: what in-distribution text scores
    oov_excess: float  # oov_rate - expected_oov_rate
    type_overlap: float  # share of distinct test words seen in train
    top_oov: tuple[OovWord, ...]  # the most frequent test words never seen in train
    least_like_share: float = LEAST_LIKE_SHARE
    length_impact: Contrast | None = None  # test accuracy: group = least like train by length; None without a model
    vocabulary_impact: Contrast | None = None  # ... group = the highest share of words unseen in train


def _oov_rate(docs: Sequence[Sequence[str]], vocab: set[str]) -> float:
    total = sum(len(d) for d in docs)
    missing = sum(1 for d in docs for w in d if w not in vocab)
    return missing / total if total else 0.0


def ks_two_sample(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov: D = max |F_a - F_b| and its asymptotic p-value Q_KS(sqrt(nm/(n+m)) D)."""
    from scipy.special import kolmogorov

    if len(a) == 0 or len(b) == 0:
        return 0.0, 1.0
    a, b = np.sort(a), np.sort(b)
    points = np.concatenate([a, b])
    d = float(np.abs(np.searchsorted(a, points, side="right") / len(a)
                     - np.searchsorted(b, points, side="right") / len(b)).max())
    return d, float(kolmogorov(np.sqrt(len(a) * len(b) / (len(a) + len(b))) * d))


def least_like(score: np.ndarray, share: float = LEAST_LIKE_SHARE) -> np.ndarray:
    """Mask of the ceil(share * n) highest scores (ties broken by position, so the group has exactly that size)."""
    k = int(np.ceil(share * len(score)))
    mask = np.zeros(len(score), dtype=bool)
    mask[np.argsort(-score, kind="stable")[:k]] = True
    return mask


def length_unlikeness(train_len: np.ndarray, test_len: np.ndarray) -> np.ndarray:
    """|F_train(x) - 1/2| per test length x, F_train the mid-rank share of train lengths below x."""
    a = np.sort(train_len)
    below = np.searchsorted(a, test_len, side="left")
    at_or_below = np.searchsorted(a, test_len, side="right")
    return np.abs((below + at_or_below) / (2 * max(len(a), 1)) - 0.5)


def compare(train_keys: Sequence[str], test_keys: Sequence[str], seed: int,
            correct: np.ndarray | None = None, labels: np.ndarray | None = None) -> ShiftResult:
    """Length and vocabulary comparison of two lists of normalised texts; with `correct` (bool per test example),
    the accuracy of the test examples least like train on each axis against the rest, within class when `labels`
    (the gold class per test example) are given: a shift that follows the classes is not charged as a cost."""
    train_docs = [k.split() for k in train_keys]
    test_docs = [k.split() for k in test_keys]
    train_len = np.fromiter((len(d) for d in train_docs), dtype=np.int64, count=len(train_docs))
    test_len = np.fromiter((len(d) for d in test_docs), dtype=np.int64, count=len(test_docs))
    ks, ks_p = ks_two_sample(train_len, test_len)
    rng = np.random.default_rng(seed)
    held = np.zeros(len(train_docs), dtype=bool)
    held[rng.permutation(len(train_docs))[:max(1, int(round(HOLDOUT * len(train_docs))))]] = True
    if held.all():  # a one-row train: nothing to hold out against
        held[:] = False
    reference = {w for d, h in zip(train_docs, held) if not h for w in d}
    oov = _oov_rate(test_docs, reference)
    expected = _oov_rate([d for d, h in zip(train_docs, held) if h], reference) if held.any() else 0.0
    vocab = {w for d in train_docs for w in d}
    test_counts = Counter(w for d in test_docs for w in d)
    unseen = Counter({w: c for w, c in test_counts.items() if w not in vocab})
    length_impact = vocabulary_impact = None
    if correct is not None and len(test_docs) and len(train_docs):
        oov_share = np.fromiter((sum(w not in vocab for w in d) / len(d) if d else 0.0 for d in test_docs),
                                dtype=np.float64, count=len(test_docs))
        length_impact = contrast(correct, least_like(length_unlikeness(train_len, test_len)), labels=labels)
        vocabulary_impact = contrast(correct, least_like(oov_share), labels=labels)
    return ShiftResult(
        n_train=len(train_keys), n_test=len(test_keys), quantiles=QUANTILES,
        train_length_quantiles=tuple(float(v) for v in np.quantile(train_len, QUANTILES)),
        test_length_quantiles=tuple(float(v) for v in np.quantile(test_len, QUANTILES)),
        train_mean_length=float(train_len.mean()), test_mean_length=float(test_len.mean()),
        length_ks=ks, length_ks_p=ks_p,
        oov_rate=oov, expected_oov_rate=expected, oov_excess=oov - expected,
        type_overlap=(len(test_counts) - len(unseen)) / len(test_counts) if test_counts else 1.0,
        top_oov=tuple(OovWord(word=w, count=c) for w, c in sorted(unseen.items(), key=lambda x: (-x[1], x[0]))
                      [:N_OOV_WORDS]),
        length_impact=length_impact, vocabulary_impact=vocabulary_impact,
    )


class ShiftProbe(Probe):
    """Covariate shift between train and test: example length and vocabulary."""

    name = "shift"
    summary = "train vs test: length distribution (KS) and out-of-vocabulary rate against in-distribution text"
    needs = frozenset({Need.TRAIN, Need.TEST})
    result_type = ShiftResult

    def run(self, ctx: "AuditContext") -> ShiftResult:
        if ctx.lacks(Need.MODEL) is not None:
            return compare(context_keys(ctx, "train"), context_keys(ctx, "test"), ctx.seed)
        test = ctx.predictions("test")
        return compare(context_keys(ctx, "train"), context_keys(ctx, "test"), ctx.seed, test.correct, test.labels)
