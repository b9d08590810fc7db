"""The one way this project writes a file that someone else may read: atomically.

The content goes to a hidden temporary file beside the target, is flushed to disk, and is
renamed over the target in one step (``os.replace``). A reader sees the old file or the new
one, never half of either; a crash leaves at most a temporary file, which is removed when the
write fails and is never read (its name starts with a dot).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from pipelines.foundation.processes import process_alive


class AtomicFile:
    """A file filled under a hidden temporary name beside ``path``, then put in place whole
    (:meth:`commit`) or not at all (:meth:`abort`); for writers that take their time."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")

    def commit(self) -> Path:
        with self.tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        self.tmp.unlink(missing_ok=True)


def orphaned_temporaries(root: Path) -> list[Path]:
    """Temporary files under ``root`` whose writing process is gone (killed mid-write: a
    large file's may be hundreds of MB). A live writer's are left alone."""
    found = []
    for path in root.rglob(".*.tmp-*"):
        pid = path.name.rsplit(".tmp-", 1)[-1]
        if pid.isdigit() and not process_alive(int(pid)):
            found.append(path)
    return found


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file, then put it in place of ``path``."""
    target = AtomicFile(path)
    try:
        write(target.tmp)
        target.commit()
    finally:
        target.abort()  # nothing left behind when the write failed
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def copy_file(source: Path, path: Path) -> Path:
    return atomic_write(path, lambda tmp: shutil.copyfile(source, tmp))
