"""The bad-input corpus: each case writes its files into a folder and returns the `ftaudit` arguments that use them.

Every case must end with exit code 2, one line on stderr that names the problem and the fix, no traceback, and
nothing written. `python -m bad_inputs.cases DIR` (from tests/) writes them all for a look by hand; it needs the
tiny fixture models (`python -m fixtures.tiny DIR/tiny` from the repository root writes them).
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

GOOD_ROWS = [
    {"text": "a good and lovely film", "label": "positive"},
    {"text": "a bad and boring film", "label": "negative"},
    {"text": "great acting, superb plot", "label": "positive"},
    {"text": "awful script and dull music", "label": "negative"},
]


@dataclass
class Workspace:
    """Where a case writes (`root`), the tiny fixture paths, and clean-ups to run after the case."""

    root: Path
    tiny: Mapping[str, Path]
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    @property
    def out(self) -> Path:
        return self.root / "report"

    def run_args(self, *, model: Path | str | None = None, train: Path | str | None = None,
                 test: Path | str | None = None, extra: Sequence[str] = (), out: Path | str | None = None) -> list[str]:
        """`run` with the good model and data unless replaced; --out in the case's folder."""
        args = ["run", "--model", str(model or self.tiny["good"]), "--train", str(train or self.tiny["train"]),
                "--test", str(test or self.tiny["test"]), "--out", str(out or self.out), "--probes", "gap"]
        return args + [str(a) for a in extra]

    def file(self, name: str, content: str | bytes) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def csv(self, name: str, rows: Sequence[Mapping[str, object]], header: Sequence[str] | None = None) -> Path:
        path = self.root / name
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            keys = list(header or rows[0])
            writer.writerow(keys)
            for row in rows:
                writer.writerow([row.get(k, "") for k in (header or rows[0])])
        return path

    def jsonl(self, name: str, rows: Sequence[object]) -> Path:
        return self.file(name, "".join(json.dumps(r) + "\n" for r in rows))

    def parquet(self, name: str, table: object) -> Path:
        import pyarrow.parquet as pq

        path = self.root / name
        pq.write_table(table, path)
        return path

    def model_copy(self, name: str, source: str = "good") -> Path:
        folder = self.root / name
        shutil.copytree(self.tiny[source], folder)
        return folder

    def edit_config(self, folder: Path, **changes: object) -> Path:
        config = json.loads((folder / "config.json").read_text())
        for key, value in changes.items():
            if value is None:
                config.pop(key, None)
            else:
                config[key] = value
        (folder / "config.json").write_text(json.dumps(config))
        return folder


@dataclass(frozen=True)
class Case:
    """One bad input: `build` writes it and returns argv; `needle` must appear in the error line."""

    name: str
    needle: str
    build: Callable[[Workspace], list[str]]
    env: Mapping[str, str] = field(default_factory=dict)


CASES: list[Case] = []


def case(name: str, needle: str, env: Mapping[str, str] | None = None):
    def register(fn: Callable[[Workspace], list[str]]) -> Callable[[Workspace], list[str]]:
        CASES.append(Case(name, needle, fn, dict(env or {})))
        return fn
    return register


# --------------------------------------------------------------------------- data files


@case("empty-file", "is empty")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.file("train.csv", ""))


@case("header-only", "header but no rows")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.file("train.csv", "text,label\n"))


@case("blank-jsonl", "is empty")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.file("train.jsonl", "\n\n  \n"))


@case("missing-text-column", "no column 'text'")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.csv("train.csv", [{"sentence": r["text"], "label": r["label"]} for r in GOOD_ROWS]))


@case("misspelt-column", "did you mean 'Label'")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.csv("train.csv", [{"text": r["text"], "Label": r["label"]} for r in GOOD_ROWS]))


@case("missing-label-column-in-test-only", "test data")
def _(w: Workspace) -> list[str]:
    return w.run_args(test=w.csv("test.csv", [{"text": r["text"]} for r in GOOD_ROWS]))


@case("tsv-named-csv", "name a tab-separated file .tsv")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.file("train.csv", "text\tlabel\ngood film\tpositive\nbad film\tnegative\n"))


@case("empty-text", "has an empty 'text'")
def _(w: Workspace) -> list[str]:
    rows = [dict(r) for r in GOOD_ROWS]
    rows[2]["text"] = "   "
    return w.run_args(train=w.csv("train.csv", rows))


@case("null-text-jsonl", "has an empty 'text'")
def _(w: Workspace) -> list[str]:
    rows = [dict(r) for r in GOOD_ROWS]
    rows[1]["text"] = None
    return w.run_args(test=w.jsonl("test.jsonl", rows))


@case("nan-text-parquet", "has an empty 'text'")
def _(w: Workspace) -> list[str]:
    import pyarrow as pa

    table = pa.table({"text": pa.array([1.5, float("nan"), 2.0, 3.0]), "label": [r["label"] for r in GOOD_ROWS]})
    return w.run_args(train=w.parquet("train.parquet", table))


@case("nan-literal-jsonl-label", "has no label")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.file("train.jsonl", '{"text": "good film", "label": NaN}\n'
                                                  '{"text": "bad film", "label": "negative"}\n'))


@case("missing-label", "has no label")
def _(w: Workspace) -> list[str]:
    rows = [dict(r) for r in GOOD_ROWS]
    rows[3]["label"] = ""
    return w.run_args(train=w.csv("train.csv", rows))


@case("latin1-bytes", "not UTF-8")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.file("train.csv", "text,label\ncaf\xe9 cr\xe8me,positive\nbad,negative\n"
                                   .encode("latin-1")))


@case("utf16-file", "not UTF-8")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.file("train.csv", "text,label\ngood,positive\nbad,negative\n".encode("utf-16")))


@case("gzip-named-csv", "not UTF-8")
def _(w: Workspace) -> list[str]:
    import gzip

    return w.run_args(train=w.file("train.csv", gzip.compress(b"text,label\ngood,positive\n" * 50)))


@case("10mb-line-not-json", "line 2")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.file("train.jsonl", '{"text": "good", "label": "positive"}\n{"text": "'
                                   + "x" * 10_000_000 + "\n"))


@case("10mb-label-name", "is not one of the model's labels")
def _(w: Workspace) -> list[str]:
    rows = [dict(r) for r in GOOD_ROWS] + [{"text": "fine film", "label": "y" * 10_000_000}]
    return w.run_args(test=w.csv("test.csv", rows))


@case("ragged-csv-row", "row 3")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.file("train.csv", "text,label\ngood film,positive\ngood, great film,positive\n"))


@case("unclosed-quote-csv", "has 1 fields, the header has 2")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.file("train.csv", 'text,label\n"good film,positive\nbad film,negative\n'))


@case("model-folder-as-data", "not a `datasets` save_to_disk folder")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.tiny["good"])


@case("duplicate-column-csv", "more than once")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.file("train.csv", "text,label,text\ngood,positive,x\nbad,negative,y\n"))


@case("duplicate-column-parquet", "more than once")
def _(w: Workspace) -> list[str]:
    import pyarrow as pa

    table = pa.Table.from_arrays([pa.array(["good", "bad"]), pa.array(["positive", "negative"]),
                                  pa.array(["x", "y"])], names=["text", "label", "text"])
    return w.run_args(train=w.parquet("train.parquet", table))


@case("jsonl-line-not-json", "line 2")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.file("train.jsonl", '{"text": "good", "label": "positive"}\n'
                                                  "{'text': 'bad', 'label': 'negative'}\n"))


@case("jsonl-row-is-a-list", "not an object")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.file("train.jsonl", '["good", "positive"]\n["bad", "negative"]\n'))


@case("json-array-truncated", "not valid JSON")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.file("train.json", '[{"text": "good", "label": "positive"}, {"text": "bad"'))


@case("json-nested-deeply", "nested too deeply")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.file("train.jsonl", "[" * 100_000 + "]" * 100_000 + "\n"))


@case("json-label-5000-digits", "not usable JSON")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.file("train.jsonl", '{"text": "good", "label": ' + "1" * 5000 + "}\n"))


@case("json-lone-surrogate", "surrogate")
def _(w: Workspace) -> list[str]:
    return w.run_args(test=w.file("test.jsonl", '{"text": "good \\ud800 film", "label": "positive"}\n'
                                                '{"text": "bad film", "label": "negative"}\n'))


@case("parquet-nested-text", "holds list values")
def _(w: Workspace) -> list[str]:
    import pyarrow as pa

    table = pa.table({"text": pa.array([["good", "film"], ["bad", "film"]]), "label": ["positive", "negative"]})
    return w.run_args(train=w.parquet("train.parquet", table))


@case("parquet-struct-label", "must be strings or integers")
def _(w: Workspace) -> list[str]:
    import pyarrow as pa

    table = pa.table({"text": ["good film", "bad film"], "label": pa.array([{"id": 1}, {"id": 0}])})
    return w.run_args(train=w.parquet("train.parquet", table))


@case("parquet-binary-text", "holds bytes values")
def _(w: Workspace) -> list[str]:
    import pyarrow as pa

    table = pa.table({"text": pa.array([b"good film", b"bad film"], pa.binary()), "label": ["positive", "negative"]})
    return w.run_args(train=w.parquet("train.parquet", table))


@case("parquet-truncated", "not a readable Parquet file")
def _(w: Workspace) -> list[str]:
    import pyarrow as pa

    path = w.parquet("full.parquet", pa.table({"text": ["good film"] * 50, "label": ["positive"] * 50}))
    return w.run_args(train=w.file("train.parquet", path.read_bytes()[: path.stat().st_size // 2]))


@case("csv-named-parquet", "not a readable Parquet file")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.file("train.parquet", "text,label\ngood,positive\nbad,negative\n"))


@case("unknown-format", "unknown format '.xlsx'")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.file("train.xlsx", b"PK\x03\x04 not really a workbook"))


@case("data-folder-not-datasets", "not a `datasets` save_to_disk folder")
def _(w: Workspace) -> list[str]:
    (w.root / "data").mkdir()
    return w.run_args(train=w.root / "data")


@case("data-path-missing", "does not exist")
def _(w: Workspace) -> list[str]:
    return w.run_args(test=w.root / "nope" / "test.csv")


@case("float-labels", "must be strings or integers")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.jsonl("train.jsonl", [{"text": "good", "label": 0.5}, {"text": "bad", "label": 1}]))


@case("single-class", "single class")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.csv("train.csv", [{"text": f"good film {i}", "label": "positive"} for i in range(8)]))


@case("test-label-train-and-model-lack", "'neutral' is not one of the model's labels")
def _(w: Workspace) -> list[str]:
    return w.run_args(test=w.csv("test.csv", GOOD_ROWS + [{"text": "a film", "label": "neutral"}]))


@case("more-labels-than-head", "3 labels but the model has 2 classes")
def _(w: Workspace) -> list[str]:
    model = w.edit_config(w.model_copy("model"), id2label={"0": "LABEL_0", "1": "LABEL_1"},
                          label2id={"LABEL_0": 0, "LABEL_1": 1})
    rows = GOOD_ROWS + [{"text": "a film", "label": "neutral"}]
    return w.run_args(model=model, train=w.csv("train.csv", rows), test=w.csv("test.csv", rows))


@case("label-id-outside-head", "outside the model's 2 classes")
def _(w: Workspace) -> list[str]:
    return w.run_args(train=w.csv("train.csv", [{"text": r["text"], "label": i % 3} for i, r in enumerate(GOOD_ROWS)]))


@case("integer-train-string-test-generic-model", "integer ids but test labels are names")
def _(w: Workspace) -> list[str]:
    model = w.edit_config(w.model_copy("model"), id2label={"0": "LABEL_0", "1": "LABEL_1"},
                          label2id={"LABEL_0": 0, "LABEL_1": 1})
    train = w.csv("train.csv", [{"text": r["text"], "label": i % 2} for i, r in enumerate(GOOD_ROWS)])
    return w.run_args(model=model, train=train, test=w.csv("test.csv", GOOD_ROWS))


@case("ids-and-names-in-one-column", "is not one of the model's labels")
def _(w: Workspace) -> list[str]:
    rows = [dict(r) for r in GOOD_ROWS]
    rows[0]["label"] = "1"
    return w.run_args(train=w.csv("train.csv", rows))


def _fine_tune_args(w: Workspace, train: Path | str, test: Path | str, *extra: str) -> list[str]:
    return ["run", "--fine-tune", "--base", str(w.tiny["base"]), "--train", str(train), "--test", str(test),
            "--out", str(w.out), "--probes", "gap", *extra]


@case("fine-tune-test-label-train-lacks", "label 'neutral' that train does not have")
def _(w: Workspace) -> list[str]:
    return _fine_tune_args(w, w.tiny["train"], w.csv("test.csv", GOOD_ROWS + [{"text": "a film", "label": "neutral"}]))


@case("fine-tune-single-class", "single class")
def _(w: Workspace) -> list[str]:
    rows = [{"text": f"good film {i}", "label": 1} for i in range(8)]
    return _fine_tune_args(w, w.csv("train.csv", rows), w.tiny["test"])


@case("fine-tune-sparse-integer-ids", "are class ids 0..C-1")
def _(w: Workspace) -> list[str]:
    rows = [{"text": r["text"], "label": [0, 10 ** 9][i % 2]} for i, r in enumerate(GOOD_ROWS)]
    return _fine_tune_args(w, w.csv("train.csv", rows), w.csv("test.csv", rows))


@case("fine-tune-without-base", "--fine-tune needs the pre-trained model")
def _(w: Workspace) -> list[str]:
    args = _fine_tune_args(w, w.tiny["train"], w.tiny["test"])
    i = args.index("--base")
    return args[:i] + args[i + 2:]


# --------------------------------------------------------------------------- model folders


@case("model-without-weights", "has no weights")
def _(w: Workspace) -> list[str]:
    model = w.model_copy("model")
    (model / "model.safetensors").unlink()
    return w.run_args(model=model)


@case("model-without-config", "has no config.json")
def _(w: Workspace) -> list[str]:
    model = w.model_copy("model")
    (model / "config.json").unlink()
    return w.run_args(model=model)


@case("model-config-not-json", "config.json is not valid JSON")
def _(w: Workspace) -> list[str]:
    model = w.model_copy("model")
    (model / "config.json").write_text('{"model_type": "bert",')
    return w.run_args(model=model)


@case("model-without-tokenizer-or-base", "no tokenizer in")
def _(w: Workspace) -> list[str]:
    model = w.edit_config(w.model_copy("model"), ftaudit_base_model=None, _name_or_path=None)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (model / name).unlink(missing_ok=True)
    return w.run_args(model=model)


@case("tokenizer-vocab-larger-than-model", "tokens but the model's embeddings have")
def _(w: Workspace) -> list[str]:
    from transformers import BertTokenizerFast

    model = w.model_copy("model")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (model / name).unlink()
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] +
                                          [f"word{i}" for i in range(200)])}
    BertTokenizerFast(vocab=vocab).save_pretrained(str(model))
    return w.run_args(model=model)


@case("not-a-sequence-classifier", "no sequence-classification head")
def _(w: Workspace) -> list[str]:
    model = w.model_copy("model")
    (model / "config.json").write_text(json.dumps({"model_type": "vit", "architectures": ["ViTModel"],
                                                   "hidden_size": 32, "num_hidden_layers": 1,
                                                   "num_attention_heads": 2, "intermediate_size": 64}))
    return w.run_args(model=model)


@case("bare-encoder-as-model", "no trained classification head")
def _(w: Workspace) -> list[str]:
    return w.run_args(model=w.tiny["base"])


@case("pickle-only-checkpoint", "--allow-pickle")
def _(w: Workspace) -> list[str]:
    import torch
    from safetensors.torch import load_file

    model = w.model_copy("model")
    torch.save(load_file(str(model / "model.safetensors")), model / "pytorch_model.bin")
    (model / "model.safetensors").unlink()
    return w.run_args(model=model)


@case("truncated-safetensors", "could not be loaded")
def _(w: Workspace) -> list[str]:
    model = w.model_copy("model")
    data = (model / "model.safetensors").read_bytes()
    (model / "model.safetensors").write_bytes(data[: len(data) // 2])
    return w.run_args(model=model)


@case("weights-do-not-match-config", "do not match config.json")
def _(w: Workspace) -> list[str]:
    return w.run_args(model=w.edit_config(w.model_copy("model"), intermediate_size=48))


@case("id2label-not-0-to-n", "not 0..C-1")
def _(w: Workspace) -> list[str]:
    return w.run_args(model=w.edit_config(w.model_copy("model"), id2label={"1": "negative", "2": "positive"},
                                          label2id={"negative": 1, "positive": 2}))


@case("remote-code-without-flag", "--trust-remote-code")
def _(w: Workspace) -> list[str]:
    model = w.edit_config(w.model_copy("model"), auto_map={
        "AutoConfig": "configuration_evil.EvilConfig",
        "AutoModelForSequenceClassification": "modeling_evil.EvilModel"})
    (model / "modeling_evil.py").write_text(f"open({str(w.root / 'pwned')!r}, 'w').write('ran')\n")
    (model / "configuration_evil.py").write_text(f"open({str(w.root / 'pwned')!r}, 'w').write('ran')\n")
    return w.run_args(model=model)


@case("model-is-a-file", "is a file, not a model folder")
def _(w: Workspace) -> list[str]:
    return w.run_args(model=w.file("model.safetensors", b"\0" * 16))


@case("model-path-missing", "folder ./no-such-model does not exist")
def _(w: Workspace) -> list[str]:
    return w.run_args(model="./no-such-model")


@case("hub-id-offline", "could not be fetched", env={"HF_HUB_OFFLINE": "1"})
def _(w: Workspace) -> list[str]:
    return w.run_args(model="ftaudit-test-org/no-such-model-xyz")


@case("explicit-base-missing", "base model folder")
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--base", str(w.root / "no-base")])


@case("no-model-given", "no --model to audit")
def _(w: Workspace) -> list[str]:
    args = w.run_args()
    i = args.index("--model")
    return args[:i] + args[i + 2:]


@case("no-test-given", "no --test data")
def _(w: Workspace) -> list[str]:
    args = w.run_args()
    i = args.index("--test")
    return args[:i] + args[i + 2:]


# --------------------------------------------------------------------------- options and config files


@case("config-unknown-key", "unknown option run.sed")
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--config", w.file("ftaudit.toml", "[run]\nsed = 3\n")])


@case("config-unknown-section", "unknown section or key 'modle'")
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--config", w.file("ftaudit.toml", '[modle]\nmodel = "x"\n')])


@case("config-wrong-type", "train.epochs must be an integer")
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--config", w.file("ftaudit.toml", '[train]\nepochs = "three"\n')])


@case("config-threshold-not-a-number", "must be a number")
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--config", w.file("ftaudit.toml", '[thresholds]\nmax_gap = "ten percent"\n')])


@case("config-not-toml", "is not valid TOML")
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--config", w.file("ftaudit.toml", "[run\nseed = 1\n")])


@case("config-missing", "does not exist")
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--config", w.root / "nope.toml"])


@case("config-nul-in-path", "data.test holds a NUL character")
def _(w: Workspace) -> list[str]:
    args = w.run_args(extra=["--config", w.file("ftaudit.toml", '[data]\ntest = "a\\u0000b.csv"\n')])
    i = args.index("--test")
    return args[:i] + args[i + 2:]


@case("unknown-probe", "unknown probe 'gpa'")
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--probes", "gpa"])


@case("negative-lr", "--lr must be positive")
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--lr=-1e-5"])


@case("nan-lr", "must be a number")
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--config", w.file("ftaudit.toml", "[train]\nlr = nan\n")])


@case("max-length-zero", "--max-length must be at least 2")
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--max-length", "0"])


@case("seed-not-an-integer", "invalid int value")
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--seed", "abc"])


@case("unknown-flag", "unrecognized arguments")
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--modle", "x"])


@case("device-unknown", "unknown device 'gpu0'")
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--device", "gpu0"])


# --------------------------------------------------------------------------- output paths


@case("out-is-a-file", "is a file")
def _(w: Workspace) -> list[str]:
    return w.run_args(out=w.file("report.txt", "my notes"))


@case("out-under-a-file", "cannot write the report")
def _(w: Workspace) -> list[str]:
    return w.run_args(out=w.file("notes.txt", "mine") / "report")


@case("out-in-proc", "cannot write the report")
def _(w: Workspace) -> list[str]:
    return w.run_args(out="/proc/ftaudit-report")


@case("out-parent-immutable", "cannot write the report")
def _(w: Workspace) -> list[str]:
    folder = w.root / "locked"
    folder.mkdir()
    _chattr(w, folder)
    return w.run_args(out=folder / "report")


@case("out-earlier-report-immutable", "cannot be moved aside")
def _(w: Workspace) -> list[str]:
    w.file("report/result.json", "{}")
    _chattr(w, w.out)
    return w.run_args()


@case("out-non-empty-foreign-folder", "holds no ftaudit report")
def _(w: Workspace) -> list[str]:
    w.file("report/thesis.tex", "years of work")
    return w.run_args()


@case("out-is-working-folder", "is the working, home or root folder")
def _(w: Workspace) -> list[str]:
    return w.run_args(out=".")


# --------------------------------------------------------------------------- `ftaudit report` inputs


@case("report-json-is-a-list", "is not an ftaudit result")
def _(w: Workspace) -> list[str]:
    return ["report", str(w.file("old/result.json", "[1, 2]"))]


@case("report-json-not-json", "is not an ftaudit result")
def _(w: Workspace) -> list[str]:
    return ["report", str(w.file("old/result.json", '{"schema_version": "1.0", "run": '))]


@case("report-newer-schema", "schema version 9.0")
def _(w: Workspace) -> list[str]:
    return ["report", str(w.file("old/result.json", '{"schema_version": "9.0"}'))]


@case("report-folder-without-result", "does not exist")
def _(w: Workspace) -> list[str]:
    (w.root / "empty").mkdir()
    return ["report", str(w.root / "empty")]


# --------------------------------------------------------------------------- issue 21: hostile inputs


class _RunsCode:
    """Unpickling this calls exec(), which writes `marker`: what a hostile checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def _evil_model(w: Workspace) -> Path:
    """The good model with auto_map modules that write w.root/pwned when imported."""
    model = w.edit_config(w.model_copy("model"), auto_map={
        "AutoConfig": "configuration_evil.EvilConfig",
        "AutoModelForSequenceClassification": "modeling_evil.EvilModel"})
    for name in ("modeling_evil.py", "configuration_evil.py"):
        (model / name).write_text(f"open({str(w.root / 'pwned')!r}, 'w').write('ran')\n")
    return model


@case("pyproject-turns-on-remote-code", "weakens safety")  # item 1: a cloned repository's pyproject.toml
def _(w: Workspace) -> list[str]:
    w.file("pyproject.toml", '[project]\nname = "x"\n\n[tool.ftaudit.model]\ntrust_remote_code = true\n')
    return w.run_args(model=_evil_model(w))


@case("ftaudit-toml-turns-on-pickle", "model.allow_pickle")  # item 1: a discovered ftaudit.toml
def _(w: Workspace) -> list[str]:
    import torch
    from safetensors.torch import load_file

    model = w.model_copy("model")
    state = load_file(str(model / "model.safetensors"))
    state["payload"] = _RunsCode(w.root / "pwned")
    torch.save(state, model / "pytorch_model.bin")
    (model / "model.safetensors").unlink()
    w.file("ftaudit.toml", "[model]\nallow_pickle = true\n")
    return w.run_args(model=model)


@case("explicit-config-sets-remote-code-false", "only from the command line")  # item 1: even false, even --config
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--config", w.file("cfg/ftaudit.toml", "[model]\ntrust_remote_code = false\n")])


def _base_copy(w: Workspace) -> Path:
    return w.model_copy("base", source="base")


@case("base-safetensors-truncated", "are damaged")  # item 4
def _(w: Workspace) -> list[str]:
    base = _base_copy(w)
    data = (base / "model.safetensors").read_bytes()
    (base / "model.safetensors").write_bytes(data[:-4096])
    return w.run_args(extra=["--base", base])


def _rewrite_header(path: Path, edit: Callable[[dict], None]) -> None:
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    edit(header)
    text = json.dumps(header).encode()
    text += b" " * max(0, size - len(text))
    path.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + size:])


@case("base-safetensors-overlapping", "overlaps another")  # item 4: offsets inside the file, but overlapping
def _(w: Workspace) -> list[str]:
    base = _base_copy(w)

    def overlap(header: dict) -> None:
        entries = sorted((v for k, v in header.items() if k != "__metadata__"), key=lambda e: e["data_offsets"][0])
        a, b = entries[0], next(e for e in entries[1:] if e["dtype"] == entries[0]["dtype"])
        b["shape"], b["data_offsets"] = a["shape"], list(a["data_offsets"])

    _rewrite_header(base / "model.safetensors", overlap)
    return w.run_args(extra=["--base", base])


@case("base-safetensors-unknown-dtype", "no known dtype")  # item 4
def _(w: Workspace) -> list[str]:
    base = _base_copy(w)

    def retype(header: dict) -> None:
        next(v for k, v in header.items() if k != "__metadata__")["dtype"] = "X9"

    _rewrite_header(base / "model.safetensors", retype)
    return w.run_args(extra=["--base", base])


@case("recorded-base-truncated", "are damaged")  # item 4: the base the checkpoint records, no --base
def _(w: Workspace) -> list[str]:
    base = _base_copy(w)
    data = (base / "model.safetensors").read_bytes()
    (base / "model.safetensors").write_bytes(data[: len(data) // 2])
    return w.run_args(model=w.edit_config(w.model_copy("model"), ftaudit_base_model=str(base)))


@case("out-through-missing-folder", "goes through")  # item 8
def _(w: Workspace) -> list[str]:
    return w.run_args(out="missing/../r")


@case("out-missing-folder-dotdot", "does not name a new folder")  # item 8: sub/missing/.. is sub, not a new folder
def _(w: Workspace) -> list[str]:
    (w.root / "sub").mkdir()
    return w.run_args(out=w.root / "sub" / "missing" / "..")


@case("out-nested-dotdot", "goes through")  # item 8
def _(w: Workspace) -> list[str]:
    return w.run_args(out=w.root / "a" / "b" / ".." / "r")


@case("out-dangling-symlink", "symbolic link")  # item 8: must not create the link target's parent either
def _(w: Workspace) -> list[str]:
    link = w.root / "report"
    link.symlink_to(w.root / "gone" / "deeper" / "report")
    return w.run_args(out=link)


@case("model-config-deeply-nested", "nested too deeply")  # item 9
def _(w: Workspace) -> list[str]:
    model = w.model_copy("model")
    config = json.loads((model / "config.json").read_text())
    text = json.dumps(config)[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
    (model / "config.json").write_text(text)
    return w.run_args(model=model)


@case("model-config-id2label-a-list", "field id2label must be an object")  # item 9
def _(w: Workspace) -> list[str]:
    return w.run_args(model=w.edit_config(w.model_copy("model"), id2label=["negative", "positive"]))


@case("model-config-is-a-list", "must be a JSON object")  # item 9
def _(w: Workspace) -> list[str]:
    model = w.model_copy("model")
    (model / "config.json").write_text("[1, 2]")
    return w.run_args(model=model)


@case("tokenizer-config-not-json", "tokenizer_config.json is not valid JSON")  # item 9: adapter/tokenizer configs
def _(w: Workspace) -> list[str]:
    model = w.model_copy("model")
    (model / "tokenizer_config.json").write_text('{"model_max_length": 128,')
    return w.run_args(model=model)


@case("trainer-state-is-a-list", "trainer_state.json must be a JSON object")  # item 9
def _(w: Workspace) -> list[str]:
    model = w.model_copy("model")
    (model / "trainer_state.json").write_text("[1, 2, 3]")
    return w.run_args(model=model)


@case("trainer-state-string-loss", "field log_history[1].loss must be a number")  # item 9
def _(w: Workspace) -> list[str]:
    model = w.model_copy("model")
    (model / "trainer_state.json").write_text(json.dumps({"log_history": [
        {"loss": 0.7, "step": 10, "learning_rate": 1e-5}, {"loss": "0.5", "step": 20}]}))
    return w.run_args(model=model)


@case("trainer-state-deeply-nested", "nested too deeply")  # item 9
def _(w: Workspace) -> list[str]:
    model = w.model_copy("model")
    (model / "trainer_state.json").write_text('{"log_history": ' + "[" * 50_000 + "]" * 50_000 + "}")
    return w.run_args(model=model)


@case("trainer-state-boolean-step", "field log_history[0].step must be an integer")  # item 9: true is not 1
def _(w: Workspace) -> list[str]:
    model = w.model_copy("model")
    (model / "trainer_state.json").write_text(json.dumps({"log_history": [{"loss": 0.7, "step": True}]}))
    return w.run_args(model=model)


def _record_model(w: Workspace, **changes: object) -> Path:
    """The good model with a small training record whose JSON has `changes` applied."""
    import numpy as np

    model = w.model_copy("model")
    np.savez_compressed(model / "ftaudit_training.npz", step_loss=np.array([0.7, 0.6]), step_lr=np.array([1e-5, 1e-5]),
                        loss_steps=np.array([1, 2]))
    meta = {"version": 1, "source": "trainer callback", "seed": 0, "epochs": 1, "steps": 2, "batch_size": 8,
            "lr": 1e-5, "seconds": 1.0, "label_names": ["negative", "positive"], "grad_layers": [], "texts": None,
            "nonfinite_step": None, "frozen_encoder": False, "eval_name": "", "eval_accuracy": None, "seed_runs": []}
    meta.update(changes)
    (model / "ftaudit_training.json").write_text(json.dumps(meta))
    return model


@case("training-record-seed-a-string", "field seed must be an integer")  # item 9: ftaudit's own record
def _(w: Workspace) -> list[str]:
    return w.run_args(model=_record_model(w, seed="zero"))


@case("training-record-is-a-list", "ftaudit_training.json must be a JSON object")  # item 9
def _(w: Workspace) -> list[str]:
    model = _record_model(w)
    (model / "ftaudit_training.json").write_text("[]")
    return w.run_args(model=model)


@case("training-record-arrays-not-npz", "cannot be read")  # item 9
def _(w: Workspace) -> list[str]:
    model = _record_model(w)
    (model / "ftaudit_training.npz").write_bytes(b"PK\x03\x04 not a zip")
    return w.run_args(model=model)


@case("training-record-lengths-disagree", "inconsistent")  # item 9
def _(w: Workspace) -> list[str]:
    import numpy as np

    model = _record_model(w)
    np.savez_compressed(model / "ftaudit_training.npz", step_loss=np.array([0.7, 0.6, 0.5]),
                        step_lr=np.array([1e-5]), loss_steps=np.array([1, 2]))
    return w.run_args(model=model)


@case("seed-negative", "--seed must be in 0..")  # item 11
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--seed=-1"])


@case("seed-beyond-32-bits", "--seed must be in 0..")  # item 11
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--seed", str(2 ** 40)])


@case("config-seed-huge-toml-integer", "--seed must be in 0..")  # item 11
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--config", w.file("ftaudit.toml", "[run]\nseed = 9223372036854775807\n")])


@case("config-integer-beyond-int64", "run.eval_batch_size is out of range")  # item 11: the class, not just seeds
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--eval-batch-size", str(2 ** 70)])


@case("device-meta", "unknown device 'meta'")  # item 12
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--device", "meta"])


@case("device-cpu-index", "unknown device 'cpu:0'")  # item 12: only auto, cpu, cuda, cuda:N, mps
def _(w: Workspace) -> list[str]:
    return w.run_args(extra=["--device", "cpu:0"])


def _result_json(w: Workspace, edit: Callable[[dict], None]) -> list[str]:
    data = json.loads((Path(__file__).parents[1] / "report" / "data" / "overfit.result.json").read_text())
    edit(data)
    return ["report", str(w.file("old/result.json", json.dumps(data)))]


@case("report-seconds-a-string", "field run.seconds must be a number")  # item 13
def _(w: Workspace) -> list[str]:
    return _result_json(w, lambda d: d["run"].update(seconds="abc"))


@case("report-finding-severity-unknown", "field findings[0].severity must be one of")  # item 13
def _(w: Workspace) -> list[str]:
    return _result_json(w, lambda d: d["findings"][0].update(severity="catastrophic"))


@case("report-probe-result-wrong-type", "must be a list")  # item 13: inside a probe's own result
def _(w: Workspace) -> list[str]:
    def edit(d: dict) -> None:
        result = next(o["result"] for o in d["probes"] if o["status"] == "ok" and o["result"])
        key = next(k for k, v in result.items() if isinstance(v, list))
        result[key] = 7

    return _result_json(w, edit)


@case("report-required-field-missing", "field gate is missing")  # item 13
def _(w: Workspace) -> list[str]:
    return _result_json(w, lambda d: d.pop("gate"))


@case("report-deeply-nested", "nested too deeply")  # item 13 and 9: the reader of result.json too
def _(w: Workspace) -> list[str]:
    return ["report", str(w.file("old/result.json", '{"schema_version": "1.0", "run": ' + "[" * 100_000 + "]" * 100_000
                                 + "}"))]


@case("pickle-base-runs-code", "needs code to load")  # item 14: the same exit 2 as the same file as --model
def _(w: Workspace) -> list[str]:
    import torch
    from safetensors.torch import load_file

    base = _base_copy(w)
    state = load_file(str(base / "model.safetensors"))
    state["payload"] = _RunsCode(w.root / "pwned")
    torch.save(state, base / "pytorch_model.bin")
    (base / "model.safetensors").unlink()
    return w.run_args(extra=["--base", base, "--allow-pickle"])


def _chattr(w: Workspace, folder: Path) -> None:
    """Make `folder` immutable (refused even to root); skips the case where the file system cannot."""
    import pytest

    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)],
                                                        capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    w.cleanups.append(lambda: subprocess.run(["chattr", "-i", str(folder)], capture_output=True))


def write_all(root: Path, tiny: Mapping[str, Path]) -> dict[str, list[str]]:
    """Write every case under root/NAME; returns NAME -> argv."""
    out = {}
    for c in CASES:
        folder = root / c.name
        folder.mkdir(parents=True, exist_ok=True)
        out[c.name] = c.build(Workspace(folder, tiny))
    return out


if __name__ == "__main__":  # pragma: no cover - a helper for looking at the corpus by hand
    target = Path(sys.argv[1])
    manifest = json.loads((target / "tiny" / "manifest.json").read_text())
    for name, argv in write_all(target, {k: Path(v) for k, v in manifest.items()}).items():
        print(f"{name}: ftaudit {' '.join(argv)}")
