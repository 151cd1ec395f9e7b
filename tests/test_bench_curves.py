"""bench/curves.py without a fine-tune: each corpus's split and its sorted label ids, on toy rows."""

from __future__ import annotations

from collections import Counter

from bench import curves
from bench.planted import CORPORA


def rows(labels: str, **extra) -> list[dict]:
    return [{"text": f"text {i}", "label": label, **{k: v(i) for k, v in extra.items()}}
            for i, label in enumerate(labels.split())]


def test_rotten_tomatoes_tests_on_whole_movies():
    data = rows("positive negative " * 30, movie=lambda i: f"m{i // 3}")  # 20 movies of 3 reviews
    pool, test = curves.split(CORPORA["rotten_tomatoes"], data, n_test=10)
    assert len(test) == 12 and len(pool) + len(test) == len(data)  # whole movies: the fourth tips it over 10
    assert not {r["movie"] for r in pool} & {r["movie"] for r in test}


def test_emotion_trains_on_its_train_split_and_tests_on_a_stratified_sample_of_its_test_split():
    data = rows("joy " * 40 + "fear " * 20 + "anger " * 30, split=lambda i: "train" if i < 30 else "test")
    pool, test = curves.split(CORPORA["emotion"], data, n_test=30)
    assert pool == data[:30]
    assert all(r["split"] == "test" for r in test)
    assert Counter(r["label"] for r in test) == {"joy": 5, "fear": 10, "anger": 15}  # half of each, as in the split


def test_sms_spam_splits_one_pool_stratified_and_disjoint():
    data = rows("ham " * 90 + "spam " * 10)
    pool, test = curves.split(CORPORA["sms_spam"], data, n_test=20)
    assert Counter(r["label"] for r in test) == {"ham": 18, "spam": 2} and len(pool) == 80
    assert not {id(r) for r in pool} & {id(r) for r in test}
    assert curves.split(CORPORA["sms_spam"], data, n_test=20) == (pool, test)  # seeded


def test_label_ids_follow_the_sorted_names_of_the_corpus():
    data = rows("sadness joy anger joy")
    assert curves.label_names(data) == ("anger", "joy", "sadness")
    assert curves.label_ids(data).tolist() == [2, 1, 0, 1]
    assert curves.label_ids(data[:2], ("anger", "joy", "sadness")).tolist() == [2, 1]  # a subset keeps the corpus's ids
