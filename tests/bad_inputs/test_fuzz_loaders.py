"""Fuzzing the data loaders: any bytes, any rows -> a valid RawSplit or a UsageError, never another exception."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftaudit.data import RawSplit, encode_labels, load_raw_split, read_columns, resolve_labels
from ftaudit.errors import UsageError

FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
COLUMNS = st.sampled_from(["text", "label", "Text", "pair", ""])
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(10 ** 30), max_value=10 ** 30)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.text(st.characters(categories=["Cs", "Nd", "No", "Zs", "Cc"]), max_size=4))  # surrogates, "²"
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=6)
ODD_TEXT = st.text(st.characters(categories=["Cs", "Nd", "No", "Zs", "Cc", "Lu"]), min_size=1, max_size=4)
DIGITS = st.text(st.sampled_from("0123456789²٣-+ "), min_size=1, max_size=5)
LONE_SURROGATE = st.builds(lambda a, c, b: a + c + b, st.text(max_size=3),
                           st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), st.text(max_size=3))
TEXT_VALUE = st.text(min_size=1, max_size=10) | ODD_TEXT | LONE_SURROGATE
LABEL_VALUE = (st.sampled_from(["pos", "neg", "Pos", " neg "]) | DIGITS | ODD_TEXT | LONE_SURROGATE | st.integers(-2, 5)
               | st.integers(10 ** 5, 10 ** 40) | st.floats(allow_nan=True, allow_infinity=True) | st.booleans())
ROWS = (st.lists(st.fixed_dictionaries({"text": TEXT_VALUE, "label": LABEL_VALUE}, optional={"pair": TEXT_VALUE}),
                 min_size=1, max_size=6)
        | st.lists(st.dictionaries(COLUMNS, VALUES, max_size=4), max_size=8))
CELL = st.text(st.sampled_from(list(' ,;\t"\'\n\r-0123456789.eEnNaA{}[]\\') + ["²", "٣", "\ufeff", "\x00", "é"]),
               max_size=8)
HEADER = st.sampled_from(["text,label", "label,text", "text,label,text", "Text,label", "text;label", "text,label,",
                          "", "\ufefftext,label", '"text","label"'])
CSV_TEXT = (st.builds(lambda header, rows, end: header + end + end.join(",".join(r) for r in rows),
                      HEADER, st.lists(st.lists(CELL, min_size=1, max_size=3), max_size=6),
                      st.sampled_from(["\n", "\r\n", "\r"]))
            | st.builds(lambda rows: "text,label\n" + "".join(f"t{t},{label}\n" for t, label in rows),
                        st.lists(st.tuples(CELL, DIGITS | CELL), min_size=1, max_size=5)))


def check(path: Path, pair: bool = False) -> None:
    """load_raw_split either returns a well-formed RawSplit or raises UsageError with a one-line message."""
    try:
        split = load_raw_split(str(path), "train", text_column="text", label_column="label",
                               text_pair_column="pair" if pair else None)
    except UsageError as exc:
        assert "\n" not in exc.one_line() and exc.problem and exc.fix
        return
    assert isinstance(split, RawSplit)
    assert len(split.texts) == len(split.labels) > 0
    assert all(isinstance(t, str) and t.strip() for t in split.texts)
    assert split.pairs is None or len(split.pairs) == len(split.texts)
    assert all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in split.labels)
    assert len({type(v) for v in split.labels}) == 1, "a split's labels are all ids or all names"
    "".join(split.texts + tuple(map(str, split.labels))).encode("utf-8")  # no lone surrogates: all writable


def write_rows(path: Path, rows: list[dict[str, Any]]) -> bool:
    """Write `rows` in the format of the suffix; False when that format cannot hold them (skip the example)."""
    suffix = path.suffix
    if suffix in (".jsonl", ".json"):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif suffix in (".csv", ".tsv"):
        header = sorted({k for r in rows for k in r})
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter="," if suffix == ".csv" else "\t")
        writer.writerow(header)
        for r in rows:
            writer.writerow(["" if r.get(k) is None else str(r.get(k)) for k in header])
        try:
            path.write_text(buf.getvalue(), encoding="utf-8")
        except UnicodeEncodeError:
            return False
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            pq.write_table(pa.Table.from_pylist(rows), path)
        except (pa.ArrowException, ValueError, TypeError, OverflowError, UnicodeEncodeError):
            return False
    return True


@pytest.mark.parametrize("suffix", SUFFIXES)
@FUZZ
@given(data=st.binary(max_size=600))
def test_any_bytes(data: bytes, suffix: str):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"d{suffix}"
        path.write_bytes(data)
        check(path)


TEXTISH = st.text(alphabet=st.sampled_from(list('text,label\t"\n\r{}[]:\\u0d8 01-.nNaE ') + ["é", "\ufeff", "²"]),
                  max_size=120)


@pytest.mark.parametrize("suffix", SUFFIXES[:4])
@FUZZ
@given(text=TEXTISH | CSV_TEXT)
def test_any_text_near_the_formats(text: str, suffix: str):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"d{suffix}"
        path.write_text(text, encoding="utf-8")
        check(path)


@pytest.mark.parametrize("suffix", SUFFIXES)
@FUZZ
@given(rows=ROWS, pair=st.booleans())
def test_any_rows(rows: list[dict[str, Any]], suffix: str, pair: bool):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"d{suffix}"
        if write_rows(path, rows):
            check(path, pair=pair)


@FUZZ
@given(rows=ROWS)
def test_read_columns_keeps_every_row(rows: list[dict[str, Any]]):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "d.jsonl"
        write_rows(path, rows)
        try:
            header, columns = read_columns(path, "train")
        except UsageError:
            return
        assert set(header) == set(columns) and all(len(v) == len(rows) for v in columns.values())


LABELS = st.lists(st.integers(-3, 40) | st.sampled_from([10 ** 5, 10 ** 6]) | st.text(max_size=4), min_size=1, max_size=8)


@FUZZ
@given(train=LABELS, test=LABELS, id2label=st.none() | st.lists(st.text(max_size=4), min_size=1, max_size=4))
def test_label_resolution_never_crashes(train: list, test: list, id2label: list | None):
    def split(name: str, labels: list) -> RawSplit:
        kinds = {type(v) for v in labels}
        labels = [str(v) for v in labels] if len(kinds) > 1 else labels
        return RawSplit(name, name, tuple("x" for _ in labels), None, tuple(labels))

    mapping = None if id2label is None else dict(enumerate(id2label))
    try:
        space = resolve_labels(split("train", train), [split("test", test)], mapping)
    except UsageError:
        return
    assert space.size >= 2 and all(isinstance(n, str) for n in space.names)
    for labels in (train, test):
        ids = encode_labels(split("s", labels), space).labels
        assert ids.dtype.kind == "i" and ((0 <= ids) & (ids < space.size)).all()
