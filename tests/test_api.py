"""The Python API: ftaudit.audit(...) with paths or in-memory objects, the README's example, validated options."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import ftaudit
from ftaudit.errors import UsageError
from fixtures import tiny as fx

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- api-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md has no ```python block after <!-- api-example -->"
    return match.group(1)


def test_the_readme_example_runs(tiny, tmp_path, monkeypatch, capsys):
    code = readme_example()
    for placeholder, real in {"runs/my-finetune": tiny["good"], "bert-base-uncased": tiny["base"],
                              "train.csv": tiny["train"], "test.csv": tiny["test"]}.items():
        assert placeholder in code
        code = code.replace(placeholder, str(real))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    result = namespace["result"]
    assert isinstance(result, ftaudit.AuditResult)
    assert result.passed is result.gate.passed and result.root_causes == result.diagnosis.root_causes
    assert '"schema_version"' in result.to_json()
    assert (tmp_path / "ftaudit-report" / "result.json").is_file()  # the example passes out=
    assert "Traceback" not in capsys.readouterr().err


def test_in_memory_model_and_rows_write_nothing_without_out(tiny, tmp_path, monkeypatch, capsys):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(str(tiny["good"]))
    tokenizer = AutoTokenizer.from_pretrained(str(tiny["good"]))
    rows = fx._read(tiny["test"])
    monkeypatch.chdir(tmp_path)
    result = ftaudit.audit(model=model, tokenizer=tokenizer, train=fx._read(tiny["train"]), test=rows,
                           probes=["gap", "calibration"])
    assert [o.name for o in result.probes] == ["gap", "calibration"]
    gap = result.probe("gap")
    assert gap is not None and gap.test.n == len(rows)
    assert list(tmp_path.iterdir()) == []  # quiet and nothing written without out=
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_options_have_the_cli_flag_names():
    from ftaudit.api import option_names
    from ftaudit.cli import build_parser

    parser = build_parser()
    run = next(a for a in parser._subparsers._group_actions[0].choices.values() if a.prog.endswith(" run"))
    flags = {s[2:].replace("-", "_") for a in run._actions for s in a.option_strings
             if s.startswith("--") and not s.startswith("--no-")} - {"help", "config"}
    assert set(option_names()) == flags


def test_an_unknown_option_is_a_type_error_and_a_bad_value_a_usage_error(tiny):
    with pytest.raises(TypeError, match="did you mean 'max_gap'"):
        ftaudit.audit(model=tiny["good"], train=tiny["train"], test=tiny["test"], maxgap=0.1)
    with pytest.raises(UsageError, match="--epochs must be at least 1"):
        ftaudit.audit(model=tiny["good"], train=tiny["train"], test=tiny["test"], epochs=0)
