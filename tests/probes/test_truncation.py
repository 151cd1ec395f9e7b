"""TruncationProbe: examples and tokens cut by max_length, on the shared tokenization of a tiny tokenizer."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.data import data_context
from fixtures.tiny import make_rows, write_tokenizer
from ftaudit.probes.truncation import TruncationProbe, split_truncation


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("tok")
    write_tokenizer(folder)
    return AutoTokenizer.from_pretrained(str(folder))


def context(tokenizer, max_length: int):
    rows = make_rows(200, seed=1)  # 6-11 words, one token each, plus [CLS] and [SEP]
    texts, labels = [r["text"] for r in rows], [r["label"] == "positive" for r in rows]
    return data_context((texts, labels), (texts[:50], labels[:50]), max_length=max_length, tokenizer=tokenizer)


def test_no_truncation_when_everything_fits(tokenizer):
    r = TruncationProbe().run(context(tokenizer, 64))
    assert r.max_length == 64
    assert all(s.truncated == 0 and s.tokens_cut == 0 for s in r.splits)
    assert 8 <= r.splits[0].length_quantiles[0] and r.splits[0].length_quantiles[-1] <= 13


def test_short_max_length_cuts_most_examples(tokenizer):
    ctx = context(tokenizer, 8)
    r = TruncationProbe().run(ctx)
    full = ctx.encodings("train").full_lengths
    train = r.splits[0]
    assert train.truncated == int((full > 8).sum()) and train.truncated_share > 0.8
    assert train.tokens_cut == int((full - 8).clip(min=0).sum())
    assert train.tokens_cut_share == pytest.approx(train.tokens_cut / full.sum())


def test_needs_a_tokenizer():
    ctx = data_context((["a b"], [0]), (["c"], [1]))
    assert "tokenizer" in TruncationProbe().unavailable(ctx)


def test_split_truncation_arithmetic():
    s = split_truncation("x", [5, 10, 20], 10)
    assert (s.truncated, s.tokens, s.tokens_cut) == (1, 35, 10)
    assert s.truncated_share == pytest.approx(1 / 3) and s.length_quantiles[-1] == 20


def test_cut_examples_that_score_like_uncut_ones_show_no_impact():
    from ftaudit.probes.truncation import truncation_impact

    full = np.r_[np.full(100, 20), np.full(100, 8)]  # 100 cut at 10 tokens, 100 not
    correct = np.tile([True, True, True, False], 50)  # 75% on both halves
    c, basis = truncation_impact(full, 10, correct)
    assert basis == "cut-vs-uncut" and (c.n, c.n_rest) == (100, 100)
    assert c.accuracy == c.rest_accuracy == 0.75 and c.difference == 0
    assert c.difference_ci[0] < 0 < c.difference_ci[1]


def test_cut_examples_that_score_lower_show_the_cost():
    from ftaudit.probes.truncation import truncation_impact

    full = np.r_[np.full(100, 20), np.full(100, 8)]
    correct = np.r_[np.arange(100) % 2 == 0, np.ones(100, dtype=bool)]  # 50% cut vs 100% uncut
    c, basis = truncation_impact(full, 10, correct)
    assert basis == "cut-vs-uncut" and c.difference == pytest.approx(0.5) and c.difference_ci[0] > 0.3


def test_a_one_class_model_is_not_charged_for_the_label_mix_of_the_cut_examples():
    # rte/A/lr-too-high: the model predicts one class; the cut pairs are mostly of the other, so they score lower
    # without the cut costing anything. Within class both sides score the same.
    from ftaudit.probes.truncation import truncation_impact

    full = np.r_[np.full(100, 20), np.full(100, 8)]  # 100 cut, 100 not
    labels = np.r_[np.ones(70, int), np.zeros(30, int), np.ones(30, int), np.zeros(70, int)]  # cut: 70% class 1
    correct = labels == 0  # always predicts class 0
    plain, _ = truncation_impact(full, 10, correct)
    assert plain.difference == pytest.approx(0.4) and plain.difference_ci[0] > 0.25  # 30% vs 70%: a false cost
    c, basis = truncation_impact(full, 10, correct, labels)
    assert basis == "cut-vs-uncut" and c.strata == 2 and c.difference == pytest.approx(0.0)
    assert c.difference_ci[0] < 0 < c.difference_ci[1] and c.unadjusted_difference == pytest.approx(0.4)


def test_when_every_example_is_cut_the_more_cut_half_is_compared():
    from ftaudit.probes.truncation import truncation_impact

    full = np.r_[np.full(60, 40), np.full(60, 12)]  # all cut at 10: 75% vs 17% of their tokens lost
    correct = np.r_[np.zeros(60, dtype=bool), np.ones(60, dtype=bool)]
    c, basis = truncation_impact(full, 10, correct)
    assert basis == "more-vs-less-cut" and (c.n, c.accuracy, c.rest_accuracy) == (60, 0.0, 1.0)
    assert truncation_impact(np.full(60, 40), 10, correct) == (None, "")  # the same cut everywhere: no dose
    assert truncation_impact(np.full(5, 40), 10, correct[:5]) == (None, "")  # too few examples


def test_the_probe_measures_impact_from_the_shared_test_predictions(tokenizer):
    from fixtures.data import with_predictions

    ctx = context(tokenizer, 10)  # 8-13 tokens: some cut, some not
    full = ctx.encodings("test").full_lengths
    labels = ctx.splits["test"].labels
    right = np.eye(2)[labels] * 5
    logits = np.where((full > 10)[:, None], -right, right)  # every cut example wrong, every uncut one right
    with_predictions(ctx, "test", logits)
    r = TruncationProbe().run(ctx)
    assert r.impact_basis == "cut-vs-uncut"
    assert (r.impact.accuracy, r.impact.rest_accuracy) == (0.0, 1.0)
    assert r.impact.n == int((full > 10).sum())


def test_when_one_class_is_only_cut_the_message_says_what_was_left_out():
    # sms_spam/B/truncation: every spam text is cut and the model predicts 'ham' everywhere; within class only ham
    # compares (100% vs 100%), and the message must show the unweighted gap that the comparison left out
    from ftaudit.probes.truncation import truncation_impact
    from ftaudit.rules.base import impact_text

    full = np.r_[np.full(80, 20), np.full(100, 20), np.full(30, 8)]  # 80 spam cut, 100 ham cut, 30 ham uncut
    labels = np.r_[np.ones(80, int), np.zeros(130, int)]
    c, _ = truncation_impact(full, 10, labels == 0, labels)
    assert c.strata == 1 and c.difference == 0 and c.unadjusted_difference == pytest.approx(80 / 180)
    text = impact_text(c, "cut test examples", "uncut ones")
    assert "within class (only the one class both sides hold; -44.4 points unweighted)" in text


def test_information_loss_is_positive_when_the_label_sits_beyond_the_cut():
    from ftaudit.probes.truncation.information import information_loss

    rng = np.random.default_rng(0)

    def rows(n: int, where: str):
        labels = rng.integers(0, 2, n)
        head = rng.integers(10, 60, (n, 8))  # noise tokens
        word = (100 + labels)[:, None]  # the token that decides the label
        whole = [tuple(h) + tuple(w) for h, w in zip(head, word)] if where == "tail" else \
            [tuple(w) + tuple(h) for h, w in zip(head, word)]
        return labels, [r[:8] for r in whole], whole

    y_train, cut_train, whole_train = rows(300, "tail")
    y_test, cut_test, whole_test = rows(200, "tail")
    g = information_loss(cut_train, whole_train, y_train, cut_test, whole_test, y_test)
    assert g.after == 1.0 and g.before < 0.7 and g.gain_ci[0] > 0.2
    y_train, cut_train, whole_train = rows(300, "head")  # the deciding token survives the cut
    y_test, cut_test, whole_test = rows(200, "head")
    g = information_loss(cut_train, whole_train, y_train, cut_test, whole_test, y_test)
    assert g.before == g.after == 1.0 and g.gain == 0.0
    assert information_loss(whole_train, whole_train, y_train, whole_test, whole_test, y_test) is None


def test_the_bag_of_words_fit_over_the_ids_in_use_predicts_as_over_the_whole_vocabulary():
    from ftaudit.probes.truncation.information import _correct, compact

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 400)
    # sparse ids from a 30k vocabulary; some only in test (they still weigh in each test row's TF-IDF norm)
    hint = np.where(rng.random(400) < 0.6, labels, rng.integers(0, 3, 400))  # a word that is right 70% of the time
    rows = [tuple(rng.choice(np.arange(200, 30000, 97), 12)) + (int(1000 + h),) for h in hint]
    train, test = rows[:250], [r + (29999,) for r in rows[250:]]
    (small_train, small_test), k = compact(train, test)
    assert k < 400 and max(int(a.max()) for a in small_train + small_test) == k - 1
    assert [tuple(int(t) for t in a) for a in small_train[:2]] != train[:2]  # renumbered
    full = _correct(train, labels[:250], test, labels[250:], 30000)
    assert np.array_equal(_correct(small_train, labels[:250], small_test, labels[250:], k), full)
    assert 0.5 < full.mean() < 1.0  # a real fit, not a constant


def test_the_probe_measures_information_loss_on_the_whole_texts(tokenizer):
    ctx = context(tokenizer, 6)
    r = TruncationProbe().run(ctx)
    # the tiny rows carry two strong words anywhere among 6-11: the whole text is at least as informative
    assert r.information is not None and r.information.n == 50 and r.information.after >= r.information.before
    assert TruncationProbe().run(context(tokenizer, 64)).information is None
