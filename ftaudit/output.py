"""Write outputs atomically: everything goes to a staging folder that replaces --out only when complete."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

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
        shutil.rmtree(self.folder, ignore_errors=True)

    def commit(self) -> str | None:
        """Move the staging folder to --out. Returns a message when an earlier report was moved aside."""
        message = None
        if self.out.exists():
            if self.overwrite:
                shutil.rmtree(self.out)
                message = f"replaced the earlier report in {self.out} (--overwrite)"
            else:
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
    except OSError as exc:
        raise UsageError(f"cannot write the report next to {target} ({exc.strerror or exc})",
                         "pass an --out folder in a writable place") from None
    return Staging(out=target, folder=folder, overwrite=overwrite)
