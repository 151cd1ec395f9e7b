"""textsim: normalisation, MinHash estimates of Jaccard similarity, and LSH near-duplicate search."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.data import sentences
from ftaudit.textsim import exact_groups, minhash, near_duplicates, normalize, split_keys


def shingles(text: str, n: int = 5) -> set[str]:
    return {text[i:i + n] for i in range(len(text) - n + 1)} or {text}


def test_normalize_ignores_case_whitespace_and_punctuation():
    assert normalize("  A Dark,  DULL thriller!\n") == "a dark dull thriller"
    assert normalize("Ｆｕｌｌ－width") == normalize("full width").replace(" ", "")  # NFKC folds full-width forms
    assert normalize("?!...") == ""
    assert split_keys(["a b", "b"], ["c", "a b"]) == ("a b | c", "b | a b")


def test_identical_keys_get_identical_signatures_and_chunking_does_not_matter():
    keys = split_keys(sentences(300, seed=0), None)
    sig = minhash(keys + keys[:5])
    assert sig.shape == (305, 64) and sig.dtype == np.uint32
    assert (sig[:5] == sig[300:]).all()
    assert (minhash(keys, chunk=500) == sig[:300]).all()
    assert minhash(["ab", "x"]).shape == (2, 64)  # shorter than one shingle


def test_signature_agreement_estimates_jaccard():
    base = normalize(sentences(1, seed=3, min_words=30, max_words=30)[0])
    words = base.split()
    rng = np.random.default_rng(0)
    for changed in (2, 6, 12, 20):
        other = list(words)
        for i in rng.choice(len(words), size=changed, replace=False):
            other[i] = "zz" + other[i][::-1]
        other_text = " ".join(other)
        true = len(shingles(base) & shingles(other_text)) / len(shingles(base) | shingles(other_text))
        sig = minhash([base, other_text], perms=256)
        assert (sig[0] == sig[1]).mean() == pytest.approx(true, abs=0.1)


def test_near_duplicates_finds_planted_twins_and_nothing_else():
    train = split_keys(sentences(2000, seed=1), None)
    fresh = split_keys(sentences(400, seed=2), None)
    edited = [t.replace(" ", "  ", 1)[:-2] + "zq" for t in train[:50]]  # last two characters changed
    query = list(fresh) + edited
    m = near_duplicates(minhash(query), minhash(train), 0.7)
    assert (m.index[:400] == -1).all()
    assert (m.index[400:] == np.arange(50)).all()
    assert (m.similarity[400:] >= 0.7).all()


def test_crowded_buckets_do_not_make_it_quadratic():
    """20,000 identical texts share every bucket: each query still checks at most a few candidates per band."""
    sig = minhash(["the same text over and over"] * 20000)
    m = near_duplicates(sig, sig, 0.9, max_candidates=2)
    assert (m.index >= 0).all() and (m.similarity == 1.0).all()


def test_exact_groups_skip_empty_keys():
    assert exact_groups(["a", "b", "a", "", ""]) == {"a": [0, 2]}
