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


# --------------------------------------------------------------------------- issue 21


def test_a_recorded_hub_base_is_never_downloaded_for_a_local_model(cli, tiny, tmp_path, monkeypatch):
    """Item 2: `_name_or_path: <hub id>` without --base skips drift with the reason; nothing reaches the hub."""
    import huggingface_hub

    calls = []

    def no_network(*args, **kwargs):
        calls.append(args)
        raise AssertionError("ftaudit tried to download a base it was not asked for")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    w = Workspace(tmp_path, tiny)
    model = w.edit_config(w.model_copy("model"), ftaudit_base_model=None, _name_or_path="google-bert/bert-base-uncased")
    res = cli(*w.run_args(model=model, extra=["--probes", "gap,drift"]))
    assert res.code in (0, 1), res.err
    assert not calls, "a local model folder reached for the network"
    drift = next(p for p in json.loads((w.out / "result.json").read_text())["probes"] if p["name"] == "drift")
    assert drift["status"] == "skipped" and "--base google-bert/bert-base-uncased" in drift["reason"], drift


def test_overwrite_replaces_only_ftaudits_files(cli, tiny, tmp_path):
    """Item 3: --overwrite on a folder that also holds the user's notes moves it aside instead of deleting it."""
    w = Workspace(tmp_path, tiny)
    assert cli(*w.run_args()).code in (0, 1)
    (w.out / "notes.md").write_text("my notes")
    res = cli(*w.run_args(extra=["--overwrite"]))
    assert res.code in (0, 1), res.err
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("report.previous-")]
    assert len(aside) == 1 and (aside[0] / "notes.md").read_text() == "my notes", "the user's file was lost"
    said = res.out + res.err
    assert "replaces only ftaudit's own files" in said and "notes.md" in said, said
    assert not (w.out / "notes.md").exists() and (w.out / "result.json").exists()
    # a report of ftaudit's own files only is replaced in place, as before
    res = cli(*w.run_args(extra=["--overwrite"]))
    assert res.code in (0, 1) and "replaced the earlier report" in res.out + res.err
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("report.previous-")]) == 1


def test_safetensors_header_is_validated_before_drift(tiny, tmp_path):
    """Item 4: every way a header can lie about its bytes is a DamagedWeights, never a read past the end."""
    from ftaudit.modeling import DamagedWeights, safetensors_header

    good = tiny["base"] / "model.safetensors"
    header = safetensors_header(good)
    assert header and all(e["start"] >= 8 for e in header.values())
    data = good.read_bytes()
    size = int.from_bytes(data[:8], "little")
    variants = {
        "truncated": data[:-1],
        "header longer than the file": (len(data) * 2).to_bytes(8, "little") + data[8:],
        "empty": b"",
        "header not JSON": size.to_bytes(8, "little") + b"\xff" * size + data[8 + size:],
        "extra bytes": data + b"\0" * 16,
    }
    for name, content in variants.items():
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(content)
        with pytest.raises(DamagedWeights):
            safetensors_header(path)


def _cache_entry_run(cli, w: Workspace, edit) -> tuple:
    """Run once to learn the run key, plant an edited gap entry in the cache, and resume."""
    from ftaudit.cache import AuditCache
    from ftaudit.cli import build_parser, overrides_from
    from ftaudit.config import load_config
    from ftaudit.probes.gap import GapResult  # noqa: F401 - the kind the entry claims

    argv = w.run_args(extra=["--resume"])
    config = load_config(None, overrides_from(build_parser().parse_args(argv)), cwd=w.root)
    assert cli(*argv).code in (0, 1)
    truth = json.loads((w.out / "result.json").read_text())
    gap = next(p for p in truth["probes"] if p["name"] == "gap")
    cache = AuditCache.for_config(config)
    from ftaudit.probes.registry import result_kinds
    from ftaudit.results import _decode_dataclass

    result = _decode_dataclass(result_kinds()[gap["result"]["kind"]], gap["result"])
    cache.put("gap", result, 1.0)
    entry = cache.folder / "probes" / "gap.json"
    data = json.loads(entry.read_text())
    edit(data)
    entry.write_text(json.dumps(data))
    res = cli(*argv)
    return res, truth, json.loads((w.out / "result.json").read_text())


@pytest.mark.parametrize("how", ["type-confused", "altered", "other-run"])
def test_resume_rechecks_cached_entries(cli, tiny, tmp_path, how):
    """Item 5: a cached probe result that fails its schema, its checksum or the run's fingerprint is recomputed,
    and the report says so; before, a type-confused one crashed (exit 3) and an altered one entered the report."""
    from ftaudit.cache import _digest

    def edit(entry: dict) -> None:
        split = entry["result"]["train"]
        if how == "type-confused":
            split["accuracy"] = "very high"
            entry["digest"] = _digest(entry)  # consistent checksum: only the schema can catch it
        elif how == "altered":
            split["accuracy"] = 0.123456
        else:
            entry["fingerprint"] = "0" * 24
            entry["digest"] = _digest(entry)

    w = Workspace(tmp_path, tiny)
    res, truth, resumed = _cache_entry_run(cli, w, edit)
    assert res.code in (0, 1), res.err
    gap = lambda r: next(p for p in r["probes"] if p["name"] == "gap")["result"]  # noqa: E731
    assert gap(resumed)["train"]["accuracy"] == gap(truth)["train"]["accuracy"] != 0.123456
    notes = " ".join(resumed["run"]["notes"])
    assert "the cached result of gap was not reused" in notes and "computed again" in notes, notes


DOLLAR_LABELS = ("$x$ [bold]neg[/]", "a\x1b[31mpos $\\frac{$ :smile: [/]")


def test_user_strings_are_plain_text_in_charts_junit_and_console(cli, tiny, tmp_path):
    """Items 6, 7 and 16: labels and paths holding mathtext, ANSI escapes and rich markup render as they are."""
    w = Workspace(tmp_path, tiny)
    model = w.edit_config(w.model_copy("model $\\frac{$ [/]"), id2label={"0": DOLLAR_LABELS[0], "1": DOLLAR_LABELS[1]},
                          label2id={DOLLAR_LABELS[0]: 0, DOLLAR_LABELS[1]: 1})
    paths = {}
    for split in ("train", "test"):
        with open(tiny[split], encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            row["label"] = DOLLAR_LABELS[row["label"] == "positive"]
        paths[split] = w.csv(f"{split}.csv", rows)
    out = tmp_path / "rep [/] $y$"
    res = cli("run", "--model", model, "--train", paths["train"], "--test", paths["test"], "--out", out,
              "--probes", "gap,balance")
    assert res.code in (0, 1), res.err
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "$x$ [bold]neg[/]</text>" in html, "a $x$ label is drawn as text in the charts, not as math"
    tree = ElementTree.parse(out / "junit.xml")  # ESC is not XML 1.0: written as #x1B
    assert tree.getroot().tag == "testsuite" and "\x1b" not in (out / "junit.xml").read_text()
    assert f"report: {out / 'report.html'}" in res.out, res.out


def test_console_prints_user_strings_as_text():
    """Item 16: a model name, verdict or finding holding markup or emoji codes is printed as written."""
    import dataclasses
    import io

    from ftaudit.report.console import Progress, make_console, render_summary
    from ftaudit.probes.registry import result_kinds
    from ftaudit.results import Finding, Severity, from_json

    result = from_json((ROOT / "tests" / "report" / "data" / "overfit.result.json").read_text(), kinds=result_kinds())
    odd = "[/] [bold red]x[/] :smile: [link=file:///etc]y"
    result = dataclasses.replace(result, run=dataclasses.replace(result.run, model=f"m {odd}"),
                                 findings=(Finding(code="gap-too-large", severity=Severity.FAIL, message=odd,
                                                   probe="gap"),))
    console = make_console()
    buf = io.StringIO()
    console.file = buf
    render_summary(result, console, out=f"out {odd}/report.html")
    Progress(console, quiet=False).say(f"say {odd}")
    text = buf.getvalue()
    for expected in (f"m {odd}", f"  fail  gap-too-large  {odd}", f"report: out {odd}/report.html", f"say {odd}"):
        assert expected in text, text


def test_junit_escapes_what_xml_forbids():
    """Item 7: control characters, lone surrogates and U+FFFE in any value become #xHH; the file parses."""
    import dataclasses

    from ftaudit.report.junit import render_junit
    from ftaudit.probes.registry import result_kinds
    from ftaudit.results import Finding, Severity, from_json

    result = from_json((ROOT / "tests" / "report" / "data" / "overfit.result.json").read_text(), kinds=result_kinds())
    bad = "a\x1b[31mneg\x00\x07 \ud800 \ufffe end"
    findings = (Finding(code="c1", severity=Severity.ERROR, message=f"ValueError: {bad}", probe=bad),
                Finding(code="c2", severity=Severity.FAIL, message=bad, probe="p", numbers={"n": bad}),
                Finding(code=bad, severity=Severity.PASS, message=bad, probe="p"))
    text = render_junit(dataclasses.replace(result, findings=findings))
    root = ElementTree.fromstring(text.encode("utf-8"))
    assert "#x1B[31mneg#x00#x07 #xD800 #xFFFE end" in text
    assert len(root.findall("testcase")) == 3


def test_charts_never_parse_math(tmp_path):
    """Item 6: with the charts' figure() every Text is literal: "$\\foo{$" draws, "$x$" stays "$x$"."""
    from ftaudit.charts import figure, to_svg

    fig = figure()
    ax = fig.add_subplot()
    ax.bar(["$x$", "$\\frac{$"], [1, 2])
    ax.set_title("model $\\undefined{x$")
    svg = to_svg(fig, "t")
    assert "$x$" in svg and "$\\frac{$" in svg and "$\\undefined{x$" in svg


def _as_nobody():
    """Drop the effective uid to nobody for the block (root reads any file; permission tests need someone else)."""
    import contextlib

    @contextlib.contextmanager
    def block():
        if os.geteuid() != 0:
            yield
            return
        os.seteuid(65534)
        try:
            yield
        finally:
            os.seteuid(0)
    return block()


@pytest.mark.parametrize("which", ["config.json", "model.safetensors", "tokenizer.json"])
def test_unreadable_model_files_say_permission_denied(tiny, which):
    """Item 10: an unreadable config.json was a PermissionError (exit 3) and unreadable weights said "No such
    file"; now each is "cannot read FILE: permission denied" before anything loads."""
    import shutil
    import tempfile

    from ftaudit.errors import UsageError
    from ftaudit.modeling import locate

    folder = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's own tmp folders are closed to other users
    try:
        os.chmod(folder, 0o755)
        model = folder / "model"
        shutil.copytree(tiny["good"], model)
        os.chmod(model, 0o755)
        for p in model.iterdir():
            os.chmod(p, 0o644)
        os.chmod(model / which, 0)
        with _as_nobody(), pytest.raises(UsageError) as err:
            locate(str(model), "model", allow_pickle=False)
        assert err.value.problem == f"cannot read {model / which}: permission denied"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_stale_staging_folder_of_a_killed_run_is_removed(cli, tiny, tmp_path):
    """Also (SIGKILL): a staging folder whose process is gone is removed at the next run, and the run says so; one
    of a live process, or not named as ftaudit names them, is left alone."""
    from ftaudit.output import _host

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(proc.stdout)
    w = Workspace(tmp_path, tiny)
    stale = tmp_path / f".report.ftaudit-{_host()}-{dead}-abcd1234"
    live = tmp_path / f".report.ftaudit-{_host()}-{os.getppid()}-abcd1234"
    mine = tmp_path / ".report.ftaudit-notes"
    for folder in (stale, live, mine):
        folder.mkdir()
        (folder / "result.json").write_text("{}")
    res = cli(*w.run_args())
    assert res.code in (0, 1), res.err
    assert not stale.exists() and live.exists() and mine.exists()
    assert f"removed {stale}" in res.err and "killed" in res.err, res.err


def test_boolean_labels_are_class_names_not_ids(tmp_path):
    """Also: JSON true/false labels are the class names "true"/"false", never the ids 1/0."""
    from ftaudit.data import load_raw_split

    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": true}\n{"text": "b", "label": false}\n')
    split = load_raw_split(str(path), "train", text_column="text", label_column="label")
    assert split.labels == ("true", "false")


def test_a_probe_option_that_weakens_safety_is_refused_from_a_config_file(tmp_path):
    """Item 1, for later options: a probe's option declared `weakens_safety` may come from the command line (or the
    Python API), never from the config file."""
    from dataclasses import dataclass

    from ftaudit.config import load_config
    from ftaudit.errors import UsageError
    from ftaudit.options import opt
    from ftaudit.pipeline import plan
    from ftaudit.probes.base import Probe
    from ftaudit.results import ProbeResult

    @dataclass(frozen=True)
    class RiskyOptions:
        run_scripts: bool = opt(False, "run the dataset's own scripts", weakens_safety=True)
        examples: int = opt(3, "how many")

    class RiskyProbe(Probe):
        name = "risky"
        summary = "a test probe with an option that weakens safety"
        result_type = ProbeResult
        Options = RiskyOptions

        def run(self, ctx):  # pragma: no cover - never run
            raise AssertionError

    (tmp_path / "ftaudit.toml").write_text("[probes.risky]\nrun_scripts = true\nexamples = 5\n")
    config = load_config(None, {}, cwd=tmp_path)
    with pytest.raises(UsageError, match="sets probes.risky.run_scripts, an option that weakens safety"):
        plan(config, probes=[RiskyProbe], rules=[])
    (tmp_path / "ftaudit.toml").write_text("[probes.risky]\nexamples = 5\n")
    from_cli = load_config(None, {"probes": {"risky": {"run_scripts": True}}}, cwd=tmp_path)
    assert plan(from_cli, probes=[RiskyProbe], rules=[]).probes[0].options == RiskyOptions(True, 5)
