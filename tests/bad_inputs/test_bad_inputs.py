"""Every case of the bad-input corpus: exit 2, one line naming problem and fix, no traceback, nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .cases import CASES, Case, Workspace


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under root; files with their size and modification time (a folder's mtime may change)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[str((Path(dirpath) / name).relative_to(root))] = (-1, -1)
        for name in filenames:
            path = Path(dirpath) / name
            stat = path.lstat()
            out[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return out


def test_the_corpus_is_large_and_named_uniquely():
    names = [c.name for c in CASES]
    assert len(names) >= 40 and len(set(names)) == len(names)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case: Case, tiny, cli, tmp_path, monkeypatch):
    work = Workspace(tmp_path / "case", tiny)
    work.root.mkdir()
    try:
        argv = case.build(work)
        for key, value in case.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(work.root)
        before = snapshot(tmp_path)
        res = cli(*argv)
        after = snapshot(tmp_path)
    finally:
        for cleanup in work.cleanups:
            cleanup()
    lines = res.err.splitlines()
    assert res.code == 2, res.err
    assert len(lines) == 1, res.err
    line = lines[0]
    assert line.startswith("ftaudit: error: ") and "Traceback" not in res.err
    assert case.needle in line, line
    problem, _, fix = line.partition("; ")
    assert problem and fix.endswith("."), "the line names the problem, then the fix"
    assert len(line) < 1200, "a huge input must not become a huge message"
    assert after == before, "a bad input must write nothing: no --out, no staging folder, no cache"
    assert not (work.root / "pwned").exists(), "code from a model folder ran"
