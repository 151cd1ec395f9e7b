"""Shared fixtures: tiny BERTs and data built once per test session (a few seconds on 2 cores)."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """{base, good, overfit, train, test, train_random}: see fixtures/tiny.py for what each is."""
    from fixtures.tiny import build_all

    return build_all(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def arch_bases(tmp_path_factory) -> dict[str, Path]:
    """{architecture: tiny random base folder with its own tokenizer}: see fixtures/architectures.py (~7 s)."""
    from fixtures.architectures import build_all

    return build_all(tmp_path_factory.mktemp("architectures"))


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*args: str) -> CliResult:
    """Run `ftaudit ARGS` in-process and capture its exit code and output."""
    from ftaudit.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in args])
    return CliResult(code=int(code), out=out.getvalue(), err=err.getvalue())


@pytest.fixture
def cli():
    return run_cli
