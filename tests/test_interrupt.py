"""Ctrl-C and SIGTERM during a real `python -m ftaudit run`: --out untouched, nothing staged left, exit 130, and
`--resume` reuses the probes that had finished.

The run is held mid-way by a plugin probe (installed through the `ftaudit.probes` entry point, from a dist-info
folder on PYTHONPATH) that writes a marker and waits; the tests signal the process once the marker appears.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

PLUGIN = '''
import os
import time
from dataclasses import dataclass

from ftaudit.probes.base import Need, Probe
from ftaudit.results import ProbeResult


@dataclass(frozen=True)
class WaitResult(ProbeResult):
    kind = "wait"
    seconds: float


class WaitProbe(Probe):
    """Writes a line to $WAIT_MARKER, then waits $WAIT_SECONDS: long enough to be interrupted."""

    name = "wait"
    summary = "a test plugin that waits"
    needs = frozenset({Need.TEST})
    result_type = WaitResult

    def run(self, ctx):
        with open(os.environ["WAIT_MARKER"], "a") as f:
            f.write("started\\n")
        seconds = float(os.environ.get("WAIT_SECONDS", "0"))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.05)
        return WaitResult(seconds=seconds)
'''


def install_plugin(folder: Path) -> Path:
    folder.mkdir()
    (folder / "ftaudit_wait_probe.py").write_text(PLUGIN)
    info = folder / "ftaudit_wait_probe-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ftaudit-wait-probe\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[ftaudit.probes]\nwait = ftaudit_wait_probe:WaitProbe\n")
    return folder


def start(tiny, tmp_path: Path, out: Path, *extra: str, wait: float) -> subprocess.Popen:
    plugin = tmp_path / "plugin"
    if not plugin.exists():
        install_plugin(plugin)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(plugin), str(ROOT)]), WAIT_SECONDS=str(wait),
               WAIT_MARKER=str(tmp_path / "marker"), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    argv = [sys.executable, "-m", "ftaudit", "run", "--model", str(tiny["good"]), "--train", str(tiny["train"]),
            "--test", str(tiny["test"]), "--out", str(out), *extra]
    # A shell starts background jobs (`make test &`) with SIGINT ignored, and exec keeps ignored signals ignored:
    # give the child the default disposition, as an interactive Ctrl-C would find it.
    return subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_marker(proc: subprocess.Popen, marker: Path, lines: int, timeout: float = 400) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists() and marker.read_text().count("started") >= lines:
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"ftaudit ended before the wait probe started (exit {proc.returncode}): {err}{out}")
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the wait probe never started")


def leftovers(folder: Path) -> list[str]:
    """Hidden staging folders (".NAME.ftaudit-*") and moved-aside reports next to --out."""
    return sorted(p.name for p in folder.iterdir() if ".ftaudit-" in p.name and p.name != ".ftaudit-cache"
                  or ".previous-" in p.name or ".replaced-" in p.name)


def test_sigint_leaves_no_report_then_resume_reuses_finished_probes(tiny, tmp_path):
    out = tmp_path / "report"
    marker = tmp_path / "marker"
    proc = start(tiny, tmp_path, out, "--probes", "gap,drift,wait", wait=600)
    wait_for_marker(proc, marker, 1)
    entries = sorted(p.name for p in (tmp_path / ".ftaudit-cache").glob("runs/*/probes/*.json"))
    assert entries == ["drift.json", "gap.json"], "finished probes are kept as they finish"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("ftaudit: interrupted; no report was written") and "--resume" in last, stderr
    assert "Traceback" not in stderr
    assert not out.exists() and leftovers(tmp_path) == []

    proc = start(tiny, tmp_path, out, "--probes", "gap,drift,wait", "--resume", wait=0)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    result = json.loads((out / "result.json").read_text())
    phases = result["run"]["phases"]
    assert "probe wait" in phases and "probe gap" not in phases and "probe drift" not in phases, phases
    assert any("gap, drift were reused" in note for note in result["run"]["notes"]), result["run"]["notes"]
    assert [p["status"] for p in result["probes"]] == ["ok", "ok", "ok"]
    assert result["probes"][0]["result"]["test"]["accuracy"] > 0.9
    assert marker.read_text().count("started") == 2, "only the unfinished probe ran again"
    assert not (tmp_path / ".ftaudit-cache").exists(), "the cache is removed once the report is written"
    assert leftovers(tmp_path) == []


def test_sigterm_keeps_the_earlier_report_byte_for_byte(tiny, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    earlier = {"result.json": '{"earlier": true}\n', "report.html": "<p>earlier</p>\n", "junit.xml": "<x/>\n"}
    for name, text in earlier.items():
        (out / name).write_text(text)
    proc = start(tiny, tmp_path, out, "--probes", "wait", "--overwrite", wait=600)
    wait_for_marker(proc, tmp_path / "marker", 1)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert {p.name: p.read_text() for p in out.iterdir()} == earlier
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("gap", [0.0, 0.02, 0.3])
def test_a_second_signal_soon_after_the_first_still_exits_130(tiny, tmp_path, gap):
    """Issue 21 item 15: SIGTERM then SIGINT/SIGTERM again a moment later: exit 130 (not 143), nothing staged left."""
    out = tmp_path / "report"
    proc = start(tiny, tmp_path, out, "--probes", "wait", wait=600)
    wait_for_marker(proc, tmp_path / "marker", 1)
    proc.send_signal(signal.SIGTERM)
    time.sleep(gap)
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert "Traceback" not in stderr and not out.exists() and leftovers(tmp_path) == []


def test_a_signal_during_interpreter_shutdown_never_kills_the_process(tmp_path):
    """Item 15: after `ftaudit` returned (the report committed), a SIGTERM during shutdown exits 130 while Python
    code still runs (atexit), and is ignored in the interpreter's last moments: never death by signal (143)."""
    during = ("import atexit, os, signal, sys\n"
              "import ftaudit.cli as cli\n"
              "real_main = cli.main\n"
              "def main(argv=None):\n"
              "    atexit.register(lambda: os.kill(os.getpid(), signal.SIGTERM))\n"
              "    return real_main(argv)\n"
              "cli.main = main\n"
              "sys.argv = ['ftaudit', 'probes']\n"
              "cli.entry()\n")
    last = ("import atexit, os, runpy, signal, sys\n"
            "atexit.register(lambda: os.kill(os.getpid(), signal.SIGTERM))\n"  # runs after every later callback
            "sys.argv = ['ftaudit', 'probes']\n"
            "runpy.run_module('ftaudit', run_name='__main__')\n")
    codes = {}
    for name, code in (("during", during), ("last", last)):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert "gap" in proc.stdout and "Traceback" not in proc.stderr, proc.stderr
        codes[name] = proc.returncode
    assert codes["during"] == 130 and codes["last"] == 0, codes
