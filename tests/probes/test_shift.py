"""ShiftProbe: a random split looks alike; a split by length or by vocabulary does not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp

from fixtures.data import data_context, sentences, vocabulary
from ftaudit.probes.shift import ShiftProbe, ks_two_sample


def run(train: list[str], test: list[str]):
    return ShiftProbe().run(data_context((train, [0, 1] * (len(train) // 2)), (test, [0, 1] * (len(test) // 2))))


def test_same_distribution_shows_no_shift():
    r = run(sentences(2000, 1), sentences(500, 2))
    assert r.length_ks < 0.1 and r.length_ks_p > 0.01
    assert abs(r.oov_excess) < 0.02
    assert r.type_overlap > 0.8
    assert len(r.train_length_quantiles) == len(r.quantiles) == 21


def test_longer_test_texts_shift_the_lengths():
    r = run(sentences(2000, 1, min_words=5, max_words=15), sentences(500, 2, min_words=20, max_words=40))
    assert r.length_ks > 0.9 and r.length_ks_p < 1e-6
    assert r.test_mean_length > 2 * r.train_mean_length


def test_another_vocabulary_raises_the_oov_rate_above_expectation():
    other = vocabulary(3000, seed=999)
    r = run(sentences(2000, 1), sentences(500, 2, vocab=other))
    assert r.oov_rate > 0.5 and r.expected_oov_rate < 0.05 and r.oov_excess > 0.4
    assert r.top_oov and all(w.word in other for w in r.top_oov)
    assert r.top_oov[0].count >= r.top_oov[-1].count


def test_ks_matches_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 30, 3000), rng.integers(2, 33, 700)
    d, p = ks_two_sample(a, b)
    ref = ks_2samp(a, b)
    assert d == pytest.approx(ref.statistic)
    assert p == pytest.approx(ref.pvalue, rel=0.2)  # asymptotic vs scipy's exact-ish tail: same order


def test_least_like_train_examples_that_score_lower_show_the_cost():
    from ftaudit.probes.shift import compare

    train = sentences(400, 1)
    test = sentences(150, 2) + [s + " " + s + " " + s for s in sentences(50, 3)]  # a quarter three times as long
    correct = np.r_[np.ones(150, dtype=bool), np.arange(50) % 5 == 0]  # long ones: 20% right, the rest: 100%
    r = compare(train, test, seed=0, correct=correct)
    c = r.length_impact
    assert (c.n, c.n_rest) == (50, 150)  # the least-like quarter is exactly the long examples
    assert c.accuracy == pytest.approx(0.2) and c.rest_accuracy == 1.0 and c.difference_ci[0] > 0.5


def test_least_like_train_examples_that_score_like_the_rest_show_none():
    from ftaudit.probes.shift import compare

    train = sentences(400, 1)
    test = sentences(150, 2) + [s + " " + s + " " + s for s in sentences(50, 3)]
    correct = np.arange(200) % 5 != 0  # 80% on both groups
    r = compare(train, test, seed=0, correct=correct)
    assert r.length_impact.difference == 0 and r.length_impact.difference_ci[0] < 0
    assert r.vocabulary_impact is not None and r.vocabulary_impact.n == 50
    assert compare(train, test, seed=0).length_impact is None  # no predictions, no impact
