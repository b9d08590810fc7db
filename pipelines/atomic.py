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


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file, then put it in place of ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def copy_file(source: Path, path: Path) -> Path:
    return atomic_write(path, lambda tmp: shutil.copyfile(source, tmp))
