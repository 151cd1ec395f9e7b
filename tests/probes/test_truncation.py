"""TruncationProbe: examples and tokens cut by max_length, on the shared tokenization of a tiny tokenizer."""

from __future__ import annotations

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
