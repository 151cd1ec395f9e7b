"""Load and validate labelled text datasets (CSV, TSV, JSONL, Parquet, `datasets` folders); map labels to ids.

No torch here: the data checks use these splits without loading a model.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ftaudit.errors import UsageError

FORMATS = "CSV (.csv), TSV (.tsv), JSON lines (.jsonl/.json), Parquet (.parquet) or a `datasets` save_to_disk folder"
MAX_TEXT_CHARS = 100_000  # longer texts are cut before tokenizing: far beyond any --max-length, and a 10 MB line
# would otherwise take ~20 s and ~3 GB to tokenize only to be truncated
MAX_LABEL_ID = 100_000  # integer labels are class ids; larger ones are ids of nothing a text classifier has
_INT_LABEL = re.compile(r"-?[0-9]{1,18}")
_LONE_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


@dataclass(frozen=True)
class RawSplit:
    """A split as read from disk: texts and labels exactly as the file spelled them."""

    name: str
    path: str
    texts: tuple[str, ...]
    pairs: tuple[str, ...] | None
    labels: tuple[str | int, ...]
    groups: tuple[str, ...] | None = None  # an optional grouping column (not used for training)
    clipped: int = 0  # texts cut to MAX_TEXT_CHARS (or the caller's max_chars) before tokenizing


@dataclass(frozen=True)
class LabelSpace:
    """Label ids 0..C-1 and their names, consistent with the model's config.id2label."""

    names: tuple[str, ...]
    note: str = ""  # how the mapping was decided, when it was not obvious
    int_ids: bool = True  # integer labels are ids; False: they are names spelled in digits (train had names)

    @property
    def size(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class TextSplit:
    """A validated split: texts (and optional pairs) with integer label ids into a LabelSpace."""

    name: str
    path: str
    texts: tuple[str, ...]
    pairs: tuple[str, ...] | None
    labels: np.ndarray  # int64, shape [n]
    n_source_rows: int = 0  # rows in the file before sampling

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: Sequence[int] | np.ndarray, name: str | None = None) -> "TextSplit":
        idx = np.asarray(index, dtype=np.int64)
        return TextSplit(
            name=name or self.name,
            path=self.path,
            texts=tuple(self.texts[i] for i in idx),
            pairs=None if self.pairs is None else tuple(self.pairs[i] for i in idx),
            labels=self.labels[idx],
            n_source_rows=self.n_source_rows,
        )


# --------------------------------------------------------------------------- reading


def _read_jsonl(path: Path) -> tuple[list[str], dict[str, list[Any]]]:
    columns: dict[str, list[Any]] = {}
    order: list[str] = []
    n = 0
    text = _read_text(path)
    stripped = text.lstrip()
    rows = None
    if stripped.startswith("["):  # a JSON array of objects is a common variant
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.msg != "Extra data":  # "Extra data": several lines, each an array; read them as JSONL
                raise UsageError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})",
                                 "write one JSON object per line (JSONL) or a valid JSON array") from None
        except (ValueError, RecursionError) as exc:  # a number of over 4300 digits; arrays nested 1000s deep
            raise UsageError(f"{path} is not usable JSON ({_reason(exc)})",
                             "write one flat JSON object per line with text and label") from None
        if rows is not None and not isinstance(rows, list):
            rows = [rows]
    if rows is not None:
        iterator = enumerate(rows, start=1)
    else:
        def parse():
            for lineno, line in enumerate(text.split("\n"), start=1):
                if not line.strip():
                    continue
                try:
                    yield lineno, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UsageError(f"line {lineno} of {path} is not JSON ({exc.msg})",
                                     "write exactly one JSON object per line") from None
                except (ValueError, RecursionError) as exc:
                    raise UsageError(f"line {lineno} of {path} is not usable JSON ({_reason(exc)})",
                                     "write one flat JSON object per line with text and label") from None
        iterator = parse()
    for lineno, row in iterator:
        if not isinstance(row, dict):
            raise UsageError(f"row {lineno} of {path} is a JSON {type(row).__name__}, not an object",
                             'write each row as an object such as {"text": ..., "label": ...}')
        for key in row:
            if key not in columns:
                columns[key] = [None] * n
                order.append(key)
        for key in columns:
            columns[key].append(row.get(key))
        n += 1
    if _LONE_SURROGATE_ESCAPE.search(text):
        _refuse_lone_surrogates(path, columns)
    return order, columns


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return (str(exc).splitlines() or [type(exc).__name__])[0][:120]


def _refuse_lone_surrogates(path: Path, columns: Mapping[str, list[Any]]) -> None:
    """JSON can spell half a UTF-16 pair (\\ud800); such a string cannot be tokenized or written as UTF-8."""
    for key, values in columns.items():
        for i, value in enumerate(values):
            if isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise UsageError(f"row {i + 1} of {path} holds an invalid Unicode escape in {key!r} (half of a "
                                     "UTF-16 surrogate pair)", "re-export the file with a JSON writer that "
                                     "writes valid UTF-8") from None


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text (bad byte at offset {exc.start})",
                         "re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)") from None


def _read_csv(path: Path, sep: str) -> tuple[list[str], dict[str, list[Any]]]:
    import csv
    import io

    text = _read_text(path)
    csv.field_size_limit(1 << 30)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        header = next(reader)
    except StopIteration:
        return [], {}
    except csv.Error as exc:
        raise UsageError(f"{path} is not valid CSV ({exc})", "check the quoting of the file") from None
    header = [h.strip() for h in header]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise UsageError(f"{path} has the column {dupes[0]!r} more than once", "give every column a unique name")
    columns: dict[str, list[Any]] = {h: [] for h in header}
    try:
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise UsageError(f"row {lineno} of {path} has {len(row)} fields, the header has {len(header)}",
                                 "quote fields that contain the separator")
            for h, v in zip(header, row):
                columns[h].append(v)
    except csv.Error as exc:
        raise UsageError(f"{path} is not valid CSV ({exc})", "check the quoting of the file") from None
    return header, columns


def _read_parquet(path: Path) -> tuple[list[str], dict[str, list[Any]]]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError(f"reading the Parquet file {path} needs pyarrow, which is not installed",
                         "install it with: pip install 'ftaudit[parquet]', or pass the data as CSV or JSONL") from None

    try:
        names = pq.read_schema(path).names
        dupes = sorted({h for h in names if names.count(h) > 1})
        if dupes:
            raise UsageError(f"{path} has the column {dupes[0]!r} more than once", "give every column a unique name")
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise UsageError(f"{path} is not a readable Parquet file ({_reason(exc)})",
                         "check that the file is complete and really Parquet") from None
    names = table.column_names
    try:
        return names, {name: table.column(name).to_pylist() for name in names}
    except (pa.ArrowException, ValueError, OverflowError) as exc:  # e.g. a timestamp outside Python's range
        raise UsageError(f"{path} has values Python cannot represent ({_reason(exc)})",
                         "keep the text and label columns as plain strings or integers") from None


def _read_hf_folder(path: Path, name: str) -> tuple[list[str], dict[str, list[Any]]]:
    try:
        import datasets
    except ImportError:
        raise UsageError(f"{path} is a `datasets` folder but the `datasets` package is not installed",
                         "pip install 'ftaudit[hf]' or export the split to Parquet") from None
    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises several types for a damaged folder
        raise UsageError(f"{path} could not be read as a `datasets` folder ({str(exc).splitlines()[0]})",
                         "pass a folder written by Dataset.save_to_disk") from None
    if isinstance(ds, datasets.DatasetDict):
        if name in ds:
            ds = ds[name]
        else:
            raise UsageError(f"{path} holds several splits ({', '.join(ds)})",
                             f"pass one of them, e.g. {path / next(iter(ds))}")
    names = list(ds.column_names)
    return names, {n: ds[n] for n in names}


def read_columns(path: Path, name: str) -> tuple[list[str], dict[str, list[Any]]]:
    """(column names in file order, column -> values) for any supported format; UsageError on any problem."""
    try:
        return _read_columns(path, name)
    except (PermissionError, IsADirectoryError):
        raise UsageError(f"{name} data {path} cannot be read (permission denied)", "make the file readable") from None
    except MemoryError:
        raise UsageError(f"{name} data {path} does not fit in memory", "pass a smaller file or a sample of it") \
            from None
    except (OSError, ValueError) as exc:  # too long a name, a NUL in the path, an I/O error
        text = getattr(exc, "strerror", None) or _reason(exc)
        raise UsageError(f"{name} data {path} cannot be read ({text})", f"check the path given to --{name}") \
            from None


def _read_columns(path: Path, name: str) -> tuple[list[str], dict[str, list[Any]]]:
    if not path.exists():
        raise UsageError(f"{name} data {path} does not exist", f"check the path given to --{name}")
    if path.is_dir():
        if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
            return _read_hf_folder(path, name)
        raise UsageError(f"{name} data {path} is a folder but not a `datasets` save_to_disk folder",
                         f"pass a file: {FORMATS}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, ",")
    if suffix == ".tsv":
        return _read_csv(path, "\t")
    if suffix in (".jsonl", ".json", ".ndjson"):
        return _read_jsonl(path)
    if suffix in (".parquet", ".pq"):
        return _read_parquet(path)
    raise UsageError(f"{name} data {path} has an unknown format {suffix or '(no extension)'!r}", f"use {FORMATS}")


def _show(value: Any, limit: int = 60) -> str:
    """repr of a value from a dataset, cut short: a 10 MB label must not fill the error line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "…" + text[-3:]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _as_label(value: Any) -> str | int:
    """A label as a class name (str) or id (int). JSON/Parquet booleans are the class names "true" and "false",
    spelled as JSON writes them, never the ids 1 and 0: a model's class 1 need not mean true."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        s = value.strip()
        if _INT_LABEL.fullmatch(s):  # ASCII digits only: "²" and "--5" are names, not ids
            return int(s)
        return s
    raise TypeError(type(value).__name__)


def load_raw_split(path: str, name: str, *, text_column: str, label_column: str,
                   text_pair_column: str | None = None, group_column: str | None = None,
                   max_chars: int = MAX_TEXT_CHARS) -> RawSplit:
    """Read one split and check its columns and values; raise UsageError with the fix on any problem.

    Texts longer than `max_chars` characters are cut to that length (`RawSplit.clipped` counts them).
    """
    p = Path(path)
    header, columns = read_columns(p, name)
    if not header:
        raise UsageError(f"{name} data {p} is empty", "give it a header and at least one labelled row")
    wanted = [("--text-column", text_column), ("--label-column", label_column)]
    if text_pair_column:
        wanted.append(("--text-pair-column", text_pair_column))
    for flag, column in wanted:
        if column not in columns:
            close = [h for h in header if h.lower() == column.lower()]
            hint = f"did you mean {close[0]!r}? " if close else ""
            if not close and len(header) == 1 and any(sep in str(header[0]) for sep in "\t;|"):
                hint = "the header is one column holding separators: name a tab-separated file .tsv, or " \
                       "re-save it with commas; "
            shown = ", ".join(_show(h, 40) for h in header[:20]) + (", …" if len(header) > 20 else "")
            raise UsageError(f"{name} data {p} has no column {column!r} (columns: {shown})",
                             f"{hint}pass {flag} with one of its columns")
    n = len(columns[text_column])
    if n == 0:
        raise UsageError(f"{name} data {p} has a header but no rows", "add labelled rows to the file")

    clipped = 0

    def texts_of(column: str) -> tuple[str, ...]:
        nonlocal clipped
        values = columns[column]
        out = []
        for i, v in enumerate(values):
            if _is_missing(v) or (isinstance(v, str) and not v.strip()):
                raise UsageError(f"row {i + 1} of {name} data {p} has an empty {column!r}",
                                 "drop or fill rows without text")
            if not isinstance(v, str):
                if not isinstance(v, (int, float)):  # lists, structs, bytes, dates: not text
                    raise UsageError(f"column {column!r} of {name} data {p} holds {type(v).__name__} values, "
                                     "not text", "point --text-column at a column of plain strings")
                v = str(v)
            if len(v) > max_chars:
                v = v[:max_chars]
                clipped += 1
            out.append(v)
        return tuple(out)

    texts = texts_of(text_column)
    pairs = texts_of(text_pair_column) if text_pair_column else None
    labels = []
    for i, v in enumerate(columns[label_column]):
        if _is_missing(v) or (isinstance(v, str) and not v.strip()):
            raise UsageError(f"row {i + 1} of {name} data {p} has no label in {label_column!r}",
                             "drop unlabelled rows or fill in their label")
        try:
            labels.append(_as_label(v))
        except TypeError as exc:
            raise UsageError(f"labels in {name} data {p} must be strings or integers, row {i + 1} holds a {exc}",
                             f"point --label-column at a column of class names or ids") from None
    kinds = {type(v) for v in labels}
    if len(kinds) > 1:
        labels = [str(v) for v in labels]  # "1" and "positive" in one column: treat all as names
    groups = None
    if group_column and group_column in columns:
        groups = tuple("" if _is_missing(v) else str(v) for v in columns[group_column])
    return RawSplit(name=name, path=str(p), texts=texts, pairs=pairs, labels=tuple(labels), groups=groups,
                    clipped=clipped)


# --------------------------------------------------------------------------- labels


def _generic(names: Sequence[str]) -> bool:
    return all(str(n) == f"LABEL_{i}" for i, n in enumerate(names))


def _sort_key(v: str | int) -> tuple[int, Any]:
    return (0, v) if isinstance(v, int) else (1, str(v))


def resolve_labels(train: RawSplit, others: Sequence[RawSplit],
                   id2label: Mapping[int, str] | None) -> LabelSpace:
    """Decide label ids. With a model, follow its config.id2label; without one (fine-tune), use train's labels."""
    train_values = sorted(set(train.labels), key=_sort_key)
    if len(train_values) < 2:
        raise UsageError(f"train data {train.path} has a single class ({_show(train_values[0])})",
                         "a classifier needs at least two classes in its training data: check --label-column and "
                         "that the file is not filtered to one class")
    if id2label is None:
        if all(isinstance(v, int) for v in train_values) and train_values != list(range(len(train_values))):
            if min(train_values) < 0:
                raise UsageError(f"integer labels in {train.path} must be >= 0, found {min(train_values)}",
                                 "use ids 0..C-1 or class names")
            if max(train_values) >= max(MAX_LABEL_ID, 10 * len(train_values)):
                raise UsageError(f"integer labels in {train.path} are class ids 0..C-1, but one is "
                                 f"{max(train_values)} with only {len(train_values)} classes",
                                 "renumber the classes 0..C-1, or write them as names")
            names = tuple(str(i) for i in range(max(train_values) + 1))
        else:
            names = tuple(str(v) for v in train_values)
        space = LabelSpace(names, int_ids=all(isinstance(v, int) for v in train_values))
        for split in others:
            unknown = sorted({str(v) for v in split.labels} - set(names), key=str)
            if unknown:
                raise UsageError(f"{split.name} data has label {_show(unknown[0])} that train does not have "
                                 f"(train labels: {', '.join(_show(n) for n in names[:20])})",
                                 "fix the label spelling or add training examples of that class")
        return space
    if len(id2label) < 2:
        raise UsageError(f"the model has {len(id2label)} output(s), so it is a regression head, not a classifier",
                         "pass a sequence classifier with num_labels >= 2")
    if sorted(id2label) != list(range(len(id2label))):
        raise UsageError(f"the model's config.json maps label ids {sorted(id2label)[:5]} in id2label, not 0..C-1",
                         "fix id2label in config.json so that its keys are 0..C-1")
    names = tuple(str(id2label[i]) for i in range(len(id2label)))
    note = ""
    by_name = {n: i for i, n in enumerate(names)}
    by_lower = {n.lower(): i for i, n in enumerate(names)}
    all_values = set(train.labels).union(*[set(s.labels) for s in others])
    ints = {v for v in all_values if isinstance(v, int)}
    bad = sorted(v for v in ints if not 0 <= v < len(names))
    if bad:
        raise UsageError(f"label id {bad[0]} is outside the model's {len(names)} classes (0..{len(names) - 1})",
                         "use the model's label ids, or class names from its config.id2label")
    if len(ints) == len(all_values):
        return LabelSpace(names)
    strings = {str(v) for v in all_values if not isinstance(v, int)}
    if strings <= set(by_name) or {s.lower() for s in strings} <= set(by_lower):
        if ints:
            note = ("some splits give labels as integer ids and others as names; both were read with the model's "
                    "config.id2label (" + ", ".join(f"{i} = {n}" for i, n in enumerate(names)) + ")")
        return LabelSpace(names, note=note)
    if ints:
        as_ids = [s.name for s in [train, *others] if any(isinstance(v, int) for v in s.labels)]
        as_names = [s.name for s in [train, *others] if any(isinstance(v, str) for v in s.labels)]
        example = sorted(strings)[0]
        raise UsageError(f"{' and '.join(as_ids)} labels are integer ids but {' and '.join(as_names)} labels are "
                         f"names such as {_show(example)} that the model's id2label ({', '.join(names)}) does not "
                         "have",
                         "use the same kind of label (ids or names) in every split")
    if _generic(names):
        ordered = sorted(strings)
        if len(ordered) > len(names):
            raise UsageError(f"the data has {len(ordered)} labels but the model has {len(names)} classes "
                             f"({', '.join(_show(o) for o in ordered[:10])})",
                             "pass the model fine-tuned for these labels")
        note = ("the model's config has generic label names (LABEL_0..); dataset labels were mapped in sorted order: "
                + ", ".join(f"{s} -> {i}" for i, s in enumerate(ordered))
                + ". Set id2label in the model's config.json to make this explicit.")
        return LabelSpace(tuple(ordered) + names[len(ordered):], note=note)
    unknown = sorted(s for s in strings if s not in by_name and s.lower() not in by_lower)
    raise UsageError(f"label {_show(unknown[0])} is not one of the model's labels ({', '.join(names)})",
                     "fix the label column, or pass the model fine-tuned for these labels")


def encode_labels(split: RawSplit, space: LabelSpace) -> TextSplit:
    index = {n: i for i, n in enumerate(space.names)}
    lower = {n.lower(): i for i, n in enumerate(space.names)}
    ids = np.empty(len(split.labels), dtype=np.int64)
    for k, v in enumerate(split.labels):
        if isinstance(v, int) and space.int_ids:
            ids[k] = v  # integer labels are ids (resolve_labels checked their range)
            continue
        name = str(v)
        ids[k] = index[name] if name in index else lower[name.lower()]
    return TextSplit(name=split.name, path=split.path, texts=split.texts, pairs=split.pairs, labels=ids,
                     n_source_rows=len(split.texts))


def stratified_sample(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of a sample of size n with class shares kept (largest remainders), sorted."""
    if n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts / counts.sum() * n
    take = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - take))[: n - take.sum()]:
        take[i] += 1
    chosen = [rng.choice(np.flatnonzero(labels == c), size=k, replace=False) for c, k in zip(classes, take)]
    return np.sort(np.concatenate(chosen))


def sample_split(split: TextSplit, limit: int, seed: int, notes: list[str]) -> TextSplit:
    if len(split) <= limit:
        return split
    index = stratified_sample(split.labels, limit, seed)
    notes.append(f"the {split.name} split has {len(split)} rows; the probes used a stratified sample of {limit} "
                 "(--max-eval-examples)")
    return split.subset(index)
