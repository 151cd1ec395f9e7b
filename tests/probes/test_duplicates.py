"""DuplicatesProbe: repeated rows and conflicting labels within a split, none in clean data."""

from __future__ import annotations

import numpy as np

from fixtures.data import data_context, sentences
from ftaudit.probes.duplicates import DuplicatesProbe


def test_clean_splits_have_no_duplicates():
    r = DuplicatesProbe().run(data_context((sentences(500, 1), [0, 1] * 250), (sentences(100, 2), [0, 1] * 50)))
    assert [s.split for s in r.splits] == ["train", "test"]
    assert all(s.duplicate_rows == 0 and s.conflicting_groups == 0 and s.examples == () for s in r.splits)


def test_planted_duplicates_and_conflicts_are_counted():
    texts = sentences(200, 1)
    labels = [0, 1] * 100
    # text 0 three more times with its label (duplicates), text 1 twice with the other label (a conflict)
    texts += [texts[0].lower(), texts[0] + "!", texts[0], texts[1].upper(), texts[1]]
    labels += [labels[0]] * 3 + [1 - labels[1]] * 2
    r = DuplicatesProbe().run(data_context((texts, labels), (sentences(50, 2), [0] * 50)))
    train = r.splits[0]
    assert train.n == 205 and train.duplicate_rows == 5 and train.groups == 2 and train.largest_group == 4
    assert train.conflicting_groups == 1 and train.conflicting_rows == 3
    assert train.conflicting_share == 3 / 205
    first = train.examples[0]  # the conflict comes first
    assert first.count == 3 and dict(first.labels) == {"positive": 1, "negative": 2}  # labels[1] is positive
    assert train.examples[1].count == 4 and len(train.examples[1].labels) == 1
    assert r.splits[1].duplicate_rows == 0


def test_the_errors_on_repeated_and_conflicting_rows_are_counted():
    from ftaudit.probes.duplicates import split_duplicates

    keys = ("a", "a", "b", "b", "c", "d", "e", "f")
    labels = np.array([0, 0, 0, 1, 0, 0, 1, 1])  # "a" repeated, "b" conflicting
    correct = np.array([True, True, True, False, False, True, True, True])  # one error on "b", one on "c"
    s = split_duplicates("train", keys, keys, labels, ("x", "y"), correct)
    assert (s.repeated_rows, s.errors, s.errors_on_repeated, s.errors_on_conflicting) == (4, 2, 1, 1)
    assert split_duplicates("train", keys, keys, labels, ("x", "y")).errors is None
