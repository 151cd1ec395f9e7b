"""Data loading in every supported format, and label mapping against a model's id2label."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ftaudit.data import encode_labels, load_raw_split, resolve_labels, stratified_sample
from ftaudit.errors import UsageError

ROWS = [{"text": "good film", "label": "positive", "id": 1}, {"text": "bad film", "label": "negative", "id": 2},
        {"text": "fine film", "label": "positive", "id": 3}]


def write(tmp_path, fmt: str, rows=ROWS):
    if fmt == "csv":
        path = tmp_path / "d.csv"
        path.write_text("text,label,id\n" + "".join(f'"{r["text"]}",{r["label"]},{r["id"]}\n' for r in rows))
    elif fmt == "tsv":
        path = tmp_path / "d.tsv"
        path.write_text("text\tlabel\tid\n" + "".join(f'{r["text"]}\t{r["label"]}\t{r["id"]}\n' for r in rows))
    elif fmt == "jsonl":
        path = tmp_path / "d.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = tmp_path / "d.parquet"
        pq.write_table(pa.Table.from_pylist(list(rows)), path)
    elif fmt == "hf":
        import datasets

        path = tmp_path / "hf"
        datasets.Dataset.from_list(list(rows)).save_to_disk(str(path))
    return path


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet", "hf"])
def test_every_format_reads_the_same(tmp_path, fmt):
    split = load_raw_split(str(write(tmp_path, fmt)), "train", text_column="text", label_column="label")
    assert split.texts == ("good film", "bad film", "fine film")
    assert split.labels == ("positive", "negative", "positive")


def test_hf_dataset_dict_needs_a_split(tmp_path):
    import datasets

    path = tmp_path / "dd"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS),
                          "validation": datasets.Dataset.from_list(ROWS)}).save_to_disk(str(path))
    split = load_raw_split(str(path), "train", text_column="text", label_column="label")
    assert len(split.texts) == 3
    with pytest.raises(UsageError, match="holds several splits"):
        load_raw_split(str(path), "test", text_column="text", label_column="label")


def test_sentence_pairs_and_integer_labels(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"a": "x y", "b": "y z", "y": 1}\n{"a": "p q", "b": "q r", "y": 0}\n')
    split = load_raw_split(str(path), "train", text_column="a", text_pair_column="b", label_column="y")
    assert split.pairs == ("y z", "q r") and split.labels == (1, 0)


def test_misspelt_column_suggests_the_real_one(tmp_path):
    with pytest.raises(UsageError) as info:
        load_raw_split(str(write(tmp_path, "csv")), "train", text_column="Text", label_column="label")
    assert "did you mean 'text'" in str(info.value)


def test_labels_follow_the_model_id2label():
    from ftaudit.data import RawSplit

    train = RawSplit("train", "t", ("a", "b"), None, ("positive", "negative"))
    test = RawSplit("test", "t", ("c",), None, ("NEGATIVE",))
    space = resolve_labels(train, [test], {0: "negative", 1: "positive"})
    assert space.names == ("negative", "positive")
    assert encode_labels(train, space).labels.tolist() == [1, 0]
    assert encode_labels(test, space).labels.tolist() == [0]


def test_generic_model_labels_map_sorted_with_a_note():
    from ftaudit.data import RawSplit

    train = RawSplit("train", "t", ("a", "b"), None, ("pos", "neg"))
    space = resolve_labels(train, [], {0: "LABEL_0", 1: "LABEL_1"})
    assert space.names == ("neg", "pos") and "sorted order" in space.note


def test_unknown_test_label_is_refused():
    from ftaudit.data import RawSplit

    train = RawSplit("train", "t", ("a", "b"), None, ("pos", "neg"))
    test = RawSplit("test", "t", ("a",), None, ("neutral",))
    with pytest.raises(UsageError, match="'neutral'"):
        resolve_labels(train, [test], {0: "neg", 1: "pos"})
    with pytest.raises(UsageError, match="train does not have"):
        resolve_labels(train, [test], None)


def test_integer_label_outside_the_head_is_refused():
    from ftaudit.data import RawSplit

    train = RawSplit("train", "t", ("a", "b"), None, (0, 2))
    with pytest.raises(UsageError, match="outside the model's 2 classes"):
        resolve_labels(train, [], {0: "a", 1: "b"})


def test_stratified_sample_keeps_shares():
    labels = np.array([0] * 900 + [1] * 100)
    idx = stratified_sample(labels, 100, seed=0)
    assert len(idx) == 100 and (labels[idx] == 1).sum() == 10
    assert np.array_equal(idx, stratified_sample(labels, 100, seed=0))
