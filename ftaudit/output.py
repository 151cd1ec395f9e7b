"""Write outputs atomically: everything goes to a staging folder that replaces --out only when complete."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ftaudit.errors import UsageError

REPORT_MARKERS = ("result.json", "report.html", "junit.xml")
OWN_FOLDERS = ("model", "data")  # fine-tune mode's model, the demo's corpus: ftaudit's when result.json names them
STAGING_TAG = "ftaudit"  # staging folders are named .<out>.ftaudit-<host>-<pid>-<random>


@dataclass
class Staging:
    """A hidden sibling of --out that collects every output; `commit()` renames it into place."""

    out: Path
    folder: Path
    overwrite: bool
    notes: tuple[str, ...] = ()  # what preparing did that the user should hear (stale staging folders removed)

    def path(self, name: str) -> Path:
        return self.folder / name

    def write_text(self, name: str, text: str) -> Path:
        target = self.folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
        return target

    def discard(self) -> None:
        with deferred_signals():  # a second Ctrl-C must not leave half a staging folder behind
            shutil.rmtree(self.folder, ignore_errors=True)

    def commit(self) -> str | None:
        """Move the staging folder to --out. Returns a message when an earlier report was moved aside.

        Only renames touch --out, so at every instant it holds either the earlier report or the new one; a signal
        that arrives meanwhile is held until the renames are done (and then ignored: the report is complete).
        """
        message = None
        with deferred_signals():
            foreign = foreign_entries(self.out) if self.out.exists() else []
            if self.out.exists():
                if self.overwrite and not foreign:
                    old = Path(tempfile.mkdtemp(prefix=_staging_prefix(self.out.name, "replaced"), dir=self.out.parent))
                    os.replace(self.out, old / self.out.name)
                    os.replace(self.folder, self.out)
                    shutil.rmtree(old, ignore_errors=True)
                    return f"replaced the earlier report in {self.out} (--overwrite)"
                stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.out.stat().st_mtime))
                aside = self.out.with_name(f"{self.out.name}.previous-{stamp}")
                n = 1
                while aside.exists():
                    n += 1
                    aside = self.out.with_name(f"{self.out.name}.previous-{stamp}-{n}")
                os.replace(self.out, aside)
                message = f"kept the earlier report: moved {self.out} to {aside}"
                if self.overwrite:
                    shown = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
                    message += (f" (--overwrite replaces only ftaudit's own files, and it also held {shown})")
            os.replace(self.folder, self.out)
        return message


@contextlib.contextmanager
def deferred_signals() -> Iterator[list[int]]:
    """Hold SIGINT and SIGTERM until the block ends; yields the list of signals that arrived meanwhile.

    Only the main thread may set handlers; elsewhere the block runs unprotected.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def hold(signum: int, frame: Any) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def is_report_folder(folder: Path) -> bool:
    return any((folder / m).exists() for m in REPORT_MARKERS)


def foreign_entries(folder: Path) -> list[str]:
    """Names in an earlier report folder that ftaudit did not write: anything but the report files, and the
    model/ and data/ folders only when that report's result.json names them as its model or data."""
    own = set(REPORT_MARKERS) | _own_folders(folder)
    try:
        return sorted(p.name for p in folder.iterdir() if p.name not in own)
    except OSError:
        return ["(unreadable)"]


def _own_folders(folder: Path) -> set[str]:
    from ftaudit.errors import UsageError as _Bad
    from ftaudit.jsonfile import read_json

    try:
        run = read_json(folder / "result.json", "result").get("run", {})
    except (_Bad, AttributeError):
        return set()
    if not isinstance(run, dict):
        return set()
    named = {v for k, v in run.items() if k in ("model", "train", "test") and isinstance(v, str)}
    bases = {str(folder), str(folder.resolve())}
    return {name for name in OWN_FOLDERS
            if (folder / name).is_dir() and any(v.startswith(f"{b}/{name}") for v in named for b in bases)}


def check_out_path(out: str) -> Path:
    """--out as the path every later step uses; UsageError now for one that could only fail at the commit."""
    given = Path(out).expanduser()
    if given.is_symlink() and not given.exists():
        raise UsageError(f"--out {out} is a symbolic link to {os.readlink(given)}, which does not exist",
                         "pass a real folder path, or remove the broken link")
    if given.exists() and not given.is_dir():
        raise UsageError(f"--out {given} is a file", "pass a folder path (it will be created)")
    if given.resolve() in (Path.cwd().resolve(), Path.home().resolve(), Path("/")):
        raise UsageError(f"--out {given} is the working, home or root folder", "pass a dedicated folder")
    if given.name in ("", ".", ".."):
        raise UsageError(f"--out {out} does not name a new folder", "pass a folder path such as ./report")
    parts = given.parts
    for i, part in enumerate(parts):
        before = Path(*parts[:i]) if i else Path(".")
        if part == ".." and not before.is_dir():  # the OS resolves 'missing/..' only when 'missing' exists
            raise UsageError(f"--out {out} goes through {before}, which is not a folder",
                             "pass the path without '..', or create that folder first")
    return given


def prepare(out: str, *, overwrite: bool) -> Staging:
    """Check --out before any work is done and create the staging folder next to it."""
    target = check_out_path(out)
    if target.is_dir() and any(target.iterdir()) and not is_report_folder(target):
        raise UsageError(f"--out {target} is a non-empty folder that holds no ftaudit report",
                         "choose a new or empty folder, so nothing of yours is moved or replaced")
    parent = target.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        notes = remove_stale_staging(parent, target.name)
        folder = Path(tempfile.mkdtemp(prefix=_staging_prefix(target.name), dir=parent))
        os.chmod(folder, 0o777 & ~_umask())  # mkdtemp's 0700 would make the report unreadable to CI and others
    except OSError as exc:
        raise UsageError(f"cannot write the report next to {target} ({exc.strerror or exc})",
                         "pass an --out folder in a writable place") from None
    if target.is_dir():
        try:
            _check_movable(target, folder)
        except OSError as exc:
            if not (folder / ".movable").exists():  # never delete the folder while it holds the user's report
                shutil.rmtree(folder, ignore_errors=True)
            raise UsageError(f"the earlier report in --out {target} cannot be moved aside or replaced "
                             f"({exc.strerror or exc})", "make it writable (e.g. chattr -i), or pass another --out") \
                from None
    return Staging(out=target, folder=folder, overwrite=overwrite, notes=tuple(notes))


def _host() -> str:
    import socket

    return "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40] or "host"


def _staging_prefix(name: str, kind: str = STAGING_TAG) -> str:
    return f".{name}.{kind}-{_host()}-{os.getpid()}-"


STAGING_NAME = re.compile(r"\.(?P<out>.+)\.(?:ftaudit|replaced)-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[a-z0-9_]{8}")


def remove_stale_staging(parent: Path, name: str) -> list[str]:
    """Remove staging folders of --out `name` that earlier ftaudit runs on this machine left when killed (SIGKILL,
    power loss): named by ftaudit, made by a process that no longer runs. Returns a line for each one removed."""
    removed = []
    try:
        candidates = [p for p in parent.iterdir() if p.name.startswith(f".{name}.")]
    except OSError:
        return removed
    for path in candidates:
        match = STAGING_NAME.fullmatch(path.name)
        if match is None or match["out"] != name or match["host"] != _host() or not path.is_dir() \
                or path.is_symlink() or _alive(int(match["pid"])):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(f"removed {path}, the staging folder of an earlier ftaudit run that was killed")
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or not ours to judge: keep the folder
    return True


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _check_movable(target: Path, staging: Path) -> None:
    """Rename the existing --out into the staging folder and back, so a read-only one fails now, not at the end."""
    probe = staging / ".movable"
    with deferred_signals():
        os.rename(target, probe)
        os.rename(probe, target)
