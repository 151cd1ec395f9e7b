"""Write outputs atomically: everything goes to a staging folder that replaces --out only when complete."""

from __future__ import annotations

import contextlib
import os
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


@dataclass
class Staging:
    """A hidden sibling of --out that collects every output; `commit()` renames it into place."""

    out: Path
    folder: Path
    overwrite: bool

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
            if self.out.exists():
                if self.overwrite:
                    old = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.replaced-", dir=self.out.parent))
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


def prepare(out: str, *, overwrite: bool) -> Staging:
    """Check --out before any work is done and create the staging folder next to it."""
    target = Path(out).expanduser()
    if target.exists() and not target.is_dir():
        raise UsageError(f"--out {target} is a file", "pass a folder path (it will be created)")
    if target.is_dir() and any(target.iterdir()) and not is_report_folder(target):
        raise UsageError(f"--out {target} is a non-empty folder that holds no ftaudit report",
                         "choose a new or empty folder, so nothing of yours is moved or replaced")
    if target.resolve() in (Path.cwd().resolve(), Path.home().resolve(), Path("/")):
        raise UsageError(f"--out {target} is the working, home or root folder", "pass a dedicated folder")
    parent = target.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.ftaudit-", dir=parent))
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
    return Staging(out=target, folder=folder, overwrite=overwrite)


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
