"""Untrusted inputs: pickles load only as weights, a model folder's code runs only when allowed, hub ids stay offline
under HF_HUB_OFFLINE, and dataset strings reach the HTML report escaped."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest

from bad_inputs.cases import Workspace

ROOT = Path(__file__).resolve().parents[1]


def _pickle_only(w: Workspace, extra: dict | None = None) -> Path:
    """A copy of the good model whose weights are only a pytorch_model.bin (plus `extra` objects in the pickle)."""
    import torch
    from safetensors.torch import load_file

    model = w.model_copy("model")
    state: dict = load_file(str(model / "model.safetensors"))
    state.update(extra or {})
    torch.save(state, model / "pytorch_model.bin")
    (model / "model.safetensors").unlink()
    return model


class _WritesMarker:
    """Unpickling this calls exec(), which writes `marker`: what a hostile checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def test_pickle_needs_allow_pickle_then_loads_with_weights_only(cli, tiny, tmp_path, monkeypatch):
    import torch

    w = Workspace(tmp_path, tiny)
    model = _pickle_only(w)
    refused = cli(*w.run_args(model=model))
    assert refused.code == 2 and "--allow-pickle" in refused.err and "can run code" in refused.err
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    res = cli(*w.run_args(model=model, extra=["--allow-pickle"]))
    assert res.code == 0, res.err
    assert calls and all(flag is True for flag in calls), calls


def test_a_pickle_that_runs_code_is_refused_even_with_allow_pickle(cli, tiny, tmp_path):
    import torch

    w = Workspace(tmp_path, tiny)
    marker = tmp_path / "pwned"
    model = _pickle_only(w, {"payload": _WritesMarker(marker)})
    res = cli(*w.run_args(model=model, extra=["--allow-pickle"]))
    assert res.code == 2 and len(res.err.splitlines()) == 1, res.err
    assert "needs code to load" in res.err
    assert not marker.exists(), "the pickle's code ran"
    assert not w.out.exists()
    # the payload is live: an unsafe load would have run it
    torch.load(model / "pytorch_model.bin", weights_only=False)
    assert marker.read_text() == "ran"


def test_pickled_base_weights_are_read_weights_only(tiny, tmp_path):
    import pickle

    from ftaudit.modeling import BaseWeights

    marker = tmp_path / "pwned"
    model = _pickle_only(Workspace(tmp_path, tiny), {"payload": _WritesMarker(marker)})
    with pytest.raises(pickle.UnpicklingError):
        BaseWeights(ref="base", files=(model / "pytorch_model.bin",), pickled=True).keys()
    assert not marker.exists()


def _remote_code_model(w: Workspace, marker: Path, where: str = "config") -> Path:
    """The good model with auto_map entries pointing at modules that write `marker` when imported."""
    model = w.model_copy("model")
    touch = f"open({str(marker)!r}, 'a').write('ran\\n')\n"
    (model / "configuration_evil.py").write_text(
        touch + "from transformers import BertConfig\n\n\nclass EvilConfig(BertConfig):\n    pass\n")
    (model / "modeling_evil.py").write_text(
        touch + "from transformers import BertForSequenceClassification\n"
        "from .configuration_evil import EvilConfig\n\n\n"
        "class EvilModel(BertForSequenceClassification):\n    config_class = EvilConfig\n")
    (model / "tokenization_evil.py").write_text(touch + "from transformers import BertTokenizerFast as EvilTokenizer\n")
    if where == "config":
        w.edit_config(model, auto_map={"AutoConfig": "configuration_evil.EvilConfig",
                                       "AutoModelForSequenceClassification": "modeling_evil.EvilModel"})
    else:
        cfg = json.loads((model / "tokenizer_config.json").read_text())
        cfg["auto_map"] = {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}
        (model / "tokenizer_config.json").write_text(json.dumps(cfg))
    return model


@pytest.mark.parametrize("where", ["config", "tokenizer"])
def test_remote_code_is_refused_and_not_run_without_the_flag(cli, tiny, tmp_path, where):
    w = Workspace(tmp_path, tiny)
    marker = tmp_path / "pwned"
    res = cli(*w.run_args(model=_remote_code_model(w, marker, where)))
    assert res.code == 2 and "--trust-remote-code" in res.err and "auto_map" in res.err, res.err
    assert not marker.exists(), "the model folder's code ran without --trust-remote-code"


def _subprocess_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf-home"), HF_MODULES_CACHE=str(tmp_path / "hf-modules"),
               HF_HUB_DISABLE_TELEMETRY="1", PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


@pytest.mark.slow
def test_remote_code_runs_only_with_trust_remote_code(tiny, tmp_path):
    """The control for the test above: with the flag, the same folder's code does run (and the audit works)."""
    w = Workspace(tmp_path, tiny)
    marker = tmp_path / "ran"
    model = _remote_code_model(w, marker)
    proc = subprocess.run([sys.executable, "-m", "ftaudit", "run", *w.run_args(model=model)[1:],
                           "--trust-remote-code", "--quiet"], capture_output=True, text=True, cwd=tmp_path,
                          env=_subprocess_env(tmp_path, HF_HUB_OFFLINE="1"), timeout=400)
    assert proc.returncode == 0, proc.stderr
    assert marker.exists()


@pytest.mark.slow
def test_hub_id_fails_fast_and_offline_under_hf_hub_offline(tiny, tmp_path):
    w = Workspace(tmp_path, tiny)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "ftaudit", *w.run_args(model="ftaudit-tests/no-such-model")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=400,
                          env=_subprocess_env(tmp_path, HF_HUB_OFFLINE="1", HTTPS_PROXY="http://127.0.0.1:9",
                                              HTTP_PROXY="http://127.0.0.1:9"))
    elapsed = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not be fetched" in lines[0] and "HF_HUB_OFFLINE" in lines[0], proc.stderr
    assert elapsed < 120, f"took {elapsed:.0f}s: it waited on the network"  # import and startup only
    assert not w.out.exists()


PAYLOAD_TEXT = "</textarea><script>alert('text')</script><img src=x onerror=alert('text')>"
PAYLOAD_LABELS = ("<script>alert('label')</script>", "<img src=x onerror=alert('label')> [/bold] [link=x]")


def test_report_escapes_payloads_in_texts_labels_and_paths(cli, tiny, tmp_path):
    w = Workspace(tmp_path, tiny)
    model = w.edit_config(w.model_copy("model"), id2label={"0": PAYLOAD_LABELS[0], "1": PAYLOAD_LABELS[1]},
                          label2id={PAYLOAD_LABELS[0]: 0, PAYLOAD_LABELS[1]: 1})
    folder = tmp_path / "<img src=x onerror=alert('path')>"
    folder.mkdir()
    paths = {}
    for split in ("train", "test"):
        with open(tiny[split], encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        for i, row in enumerate(rows):
            row["label"] = PAYLOAD_LABELS[row["label"] == "positive"]
            if i % 5 == 0:
                row["text"] = f"{row['text']} {PAYLOAD_TEXT}"
        paths[split] = w.csv(f"{folder.name}/{split}.csv", rows)
    res = cli("run", "--model", model, "--train", paths["train"], "--test", paths["test"], "--out", w.out,
              "--attribution-examples", "24", "--attribution-deletion-examples", "40", "--attribution-max-steps", "32")
    assert res.code in (0, 1), res.err
    html = (w.out / "report.html").read_text(encoding="utf-8")
    for payload in (PAYLOAD_TEXT, *PAYLOAD_LABELS, "<script>alert(", "<img src=x onerror", "</textarea><"):
        assert payload not in html, f"unescaped in the report: {payload}"
    assert html.count("<textarea") == html.count("</textarea>")
    assert "&lt;script&gt;alert(" in html, "the label names are shown, escaped"
    assert "&lt;img src=x onerror=alert(&#39;path&#39;)&gt;" in html, "the data path is shown, escaped"
    result = json.loads((w.out / "result.json").read_text(encoding="utf-8"))
    assert tuple(result["run"]["labels"]) == PAYLOAD_LABELS, "the JSON keeps the strings as data"
    ElementTree.parse(w.out / "junit.xml")  # well-formed whatever the strings held
