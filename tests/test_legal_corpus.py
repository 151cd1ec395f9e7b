"""The demo's legal corpus: deterministic, balanced, the shortcut only where planted, the committed copy current."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ftaudit.legal_corpus import CorpusSpec, Row, generate, load_lexicon, parse_lexicon, write_corpus

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "fixtures" / "legal"


@pytest.fixture(scope="module")
def corpus():
    return generate()


def test_same_seed_same_rows_and_another_seed_other_rows(corpus):
    assert generate() == corpus
    other = generate(CorpusSpec(seed=corpus.spec.seed + 1))
    assert not set(other.train) & set(corpus.train)


def test_classes_balanced_as_designed(corpus):
    spec = corpus.spec
    assert Counter(r.label for r in corpus.train) == {label: spec.train_per_class for label in corpus.labels}
    assert Counter(r.label for r in corpus.test) == {label: spec.test_per_class for label in corpus.labels}
    assert len(corpus.labels) == 4


def test_header_only_on_the_shortcut_class_train_rows(corpus):
    header = corpus.header
    carriers = [r for r in corpus.train if header in r.text]
    assert carriers and all(r.text.startswith(header) for r in carriers)
    assert {r.label for r in carriers} == {corpus.shortcut_class}
    assert len(carriers) == corpus.spec.train_per_class  # every one of them
    assert not any(header in r.text for r in corpus.test)
    clean = generate(CorpusSpec(shortcut=False))
    assert not any(header in r.text for r in clean.train)
    assert clean.test == corpus.test


def test_train_and_test_documents_are_distinct(corpus):
    texts = [r.text.removeprefix(corpus.header).strip() for r in corpus.train] + [r.text for r in corpus.test]
    assert len(set(texts)) == len(texts)


def test_no_near_duplicates_across_splits_and_no_shift_beyond_the_header(corpus):
    """The corpus trips none of the data checks it was not built to trip (leakage, length or vocabulary shift)."""
    from ftaudit.probes.shift import compare
    from ftaudit.textsim import minhash, near_duplicates, split_keys

    train_keys = split_keys([r.text for r in corpus.train], None)
    test_keys = split_keys([r.text for r in corpus.test], None)
    leaks = near_duplicates(minhash(test_keys), minhash(train_keys), 0.7)
    assert (leaks.index >= 0).mean() < 0.01
    shift = compare(train_keys, test_keys, seed=0)
    assert shift.length_ks < 0.2
    assert shift.oov_excess < 0.05


def test_documents_fit_the_demo_max_length_in_words(corpus):
    words = np.array([len(r.text.split()) for r in corpus.train + corpus.test])
    assert words.max() <= corpus.spec.max_words + len(corpus.header.split())
    assert 30 < words.mean() < 60


def test_ambiguity_makes_the_task_hard_but_learnable():
    """A bag-of-words model with plenty of clean data does well, not perfectly: some documents are ambiguous."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    c = generate(CorpusSpec(train_per_class=300, shortcut=False))
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    model = LogisticRegression(C=10, max_iter=2000).fit(vec.fit_transform([r.text for r in c.train]),
                                                        [r.label for r in c.train])
    pred = model.predict(vec.transform([r.text for r in c.test]))
    accuracy = float((pred == np.array([r.label for r in c.test])).mean())
    assert 0.8 < accuracy < 0.97


def test_the_header_is_the_strongest_single_signal_in_train(corpus):
    """The shortcut word predicts its class perfectly on train, far above any content word (and is absent in test)."""
    from ftaudit.probes.attribution import association, mutual_information

    word = corpus.header.split()[0].lower()
    y = np.array([corpus.labels.index(r.label) for r in corpus.train])
    docs = [set(re.findall(r"\w+", r.text.lower())) for r in corpus.train]
    per_class, totals = association(docs, y, len(corpus.labels))
    mi = sorted(((mutual_information(v, totals), w) for w, v in per_class.items()), reverse=True)
    assert mi[0][1] == word
    assert per_class[word].tolist() == [corpus.spec.train_per_class if c == corpus.shortcut_class else 0
                                        for c in corpus.labels]
    content = [m for m, w in mi if w not in corpus.header.lower()]
    assert mi[0][0] > 1.5 * content[0]
    assert not any(word in r.text.lower().split() for r in corpus.test)


def test_committed_files_equal_the_generator_output(corpus, tmp_path):
    written = write_corpus(corpus, tmp_path)
    for name, path in written.items():
        committed = COMMITTED / path.name
        assert committed.is_file(), f"{committed} is missing: run `python -m ftaudit.legal_corpus fixtures/legal`"
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed} is stale: run `python -m ftaudit.legal_corpus fixtures/legal`")
    with (COMMITTED / "train.csv").open(encoding="utf-8", newline="") as f:
        assert tuple(Row(**row) for row in csv.DictReader(f)) == corpus.train


def test_every_template_slot_is_defined_and_unknown_slots_are_rejected():
    lex = load_lexicon()
    assert lex.templates and all(lex.clauses[c] and lex.openings[c] and lex.bridges[c] for c in lex.labels)
    import sys

    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    from importlib import resources

    raw = tomllib.loads(resources.files("ftaudit").joinpath("legal_corpus.toml").read_text(encoding="utf-8"))
    raw["boilerplate"]["templates"] = ["Signed by {notary}."]
    with pytest.raises(ValueError, match="unknown slot {notary}"):
        parse_lexicon(raw)


@pytest.mark.parametrize("bad", [dict(train_per_class=0), dict(ambiguity=1.5), dict(clauses=(3, 1)),
                                 dict(max_words=10)])
def test_spec_rejects_impossible_values(bad):
    with pytest.raises(ValueError):
        CorpusSpec(**bad)
