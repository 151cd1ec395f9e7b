"""LeakageProbe: planted exact and near-duplicate twins are found with the right share; clean splits find none."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.data import data_context, sentences, with_predictions
from ftaudit.errors import UsageError
from ftaudit.probes.leakage import LeakageOptions, LeakageProbe


def split(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    return sentences(n, seed=seed), np.random.default_rng(seed).integers(0, 2, n)


def test_clean_split_has_no_leakage():
    r = LeakageProbe().run(data_context(split(1500, 1), split(400, 2)))
    assert (r.exact, r.near, r.leaked_share, r.examples) == (0, 0, 0.0, ())
    assert r.leaked_accuracy is None and r.clean_accuracy is None  # no model


def test_planted_exact_and_near_twins_are_counted():
    train_texts, train_labels = split(1500, 1)
    test_texts, test_labels = split(400, 2)
    # 40 exact copies (after case/punctuation changes) and 20 near copies (one word dropped) of test rows in train
    exact = [t.upper().replace(".", " !") for t in test_texts[:40]]
    near = [" ".join(t.split()[:-1] + ["zzzz."]) for t in test_texts[40:60]]
    ctx = data_context((train_texts + exact + near, np.r_[train_labels, test_labels[:40], 1 - test_labels[40:60]]),
                       (test_texts, test_labels))
    r = LeakageProbe().run(ctx)
    assert r.exact == 40 and r.near == 20
    assert r.leaked_share == pytest.approx(60 / 400)
    assert r.label_disagreements == 20  # the near copies were given the other label
    assert r.examples[0].test_label != r.examples[0].train_label  # disagreements are shown first
    assert {e.train_index for e in r.examples} <= set(range(1500, 1560))


def test_exact_only_when_similarity_is_one():
    train_texts, train_labels = split(300, 1)
    test_texts, test_labels = split(100, 2)
    near = [" ".join(t.split()[:-1] + ["zzzz."]) for t in test_texts[:10]]
    ctx = data_context((train_texts + near + test_texts[10:15], np.r_[train_labels, test_labels[:15]]),
                       (test_texts, test_labels))
    r = LeakageProbe(LeakageOptions(near_duplicate_similarity=1.0)).run(ctx)
    assert (r.exact, r.near) == (5, 0)


def test_accuracy_on_leaked_vs_clean_items_uses_the_shared_predictions():
    train_texts, train_labels = split(300, 1)
    test_texts, test_labels = split(100, 2)
    ctx = data_context((train_texts + test_texts[:30], np.r_[train_labels, test_labels[:30]]),
                       (test_texts, test_labels))
    pred = np.array(test_labels)
    pred[30:65] = 1 - pred[30:65]  # right on every leaked row, right on half of the clean ones
    with_predictions(ctx, "test", np.eye(2)[pred] * 3)
    r = LeakageProbe().run(ctx)
    assert r.leaked_accuracy == pytest.approx(1.0) and r.clean_accuracy == pytest.approx(0.5)
    assert r.n_clean == 70


def test_options_are_validated():
    with pytest.raises(UsageError):
        LeakageOptions(near_duplicate_similarity=0).validate()


def test_templated_texts_below_the_exact_jaccard_threshold_are_not_leaks():
    # Templated messages share most of their 5-grams: MinHash estimates 9 of these pairs at >= 0.7, but no pair's
    # exact Jaccard reaches it (0.61 to 0.65; the closest pair anywhere is 0.696). A planted near copy is kept.
    import random

    rng = random.Random(0)
    names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
    days = ["monday", "tuesday", "wednesday", "thursday", "friday"]

    def text() -> str:
        return (f"your order {rng.randint(10000, 99999)} for {rng.choice(names)} {rng.choice(names)} was shipped on "
                f"{rng.choice(days)} from store {rng.randint(1000, 9999)} thank you")

    train = [text() for _ in range(300)]
    test = [text() for _ in range(100)]
    test[0] = train[0].replace("thank you", "thanks you")  # a true near copy: Jaccard 0.86
    labels = np.arange(400) % 2
    ctx = data_context((train, labels[:300]), (test, labels[300:]))
    correct = np.eye(2)[labels[300:]] * 4
    with_predictions(ctx, "test", correct)  # every prediction right
    r = LeakageProbe().run(ctx)
    assert (r.exact, r.near) == (0, 1)
    assert r.examples[0].train_index == 0 and r.examples[0].similarity > 0.8
    assert r.near_checked > 9 and r.near_rejected == r.near_checked - 1
    assert r.impact.accuracy == r.impact.rest_accuracy == 1.0 and r.impact.difference == 0
