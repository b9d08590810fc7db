"""What the page keeps on disk is the server's alone.

The accounts database (password hashes, session tokens), the session key and the uploads
waiting in ``web/pending/`` are created readable and writable by their owner only (files 0600,
folders 0700), whatever the umask of the process that creates them. ``welfare serve`` refuses
to start when any of them is open to other users (:func:`open_to_others`): a backup restored
with the wrong modes is said, not silently served.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> Path:
    """``path`` (and any parent it creates) made 0700 when created; an existing folder is
    left as it is (:func:`open_to_others` says when it is not private)."""
    missing = []
    at = path
    while not at.exists():
        missing.append(at)
        at = at.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:  # made meanwhile by another thread or process
            continue
        os.chmod(folder, PRIVATE_DIR)  # mkdir's mode is narrowed by the umask, never widened
    return path


def private_file(path: Path) -> Path:
    """``path`` created empty and 0600 when missing (its folder private too)."""
    private_dir(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return path
    os.close(descriptor)
    os.chmod(path, PRIVATE_FILE)
    return path


def open_to_others(paths: Iterable[Path]) -> list[str]:
    """Each existing path that its group or other users may use, with its mode."""
    found = []
    for path in paths:
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            continue
        if mode & 0o077:
            found.append(f"{path} (mode {mode:04o})")
    return found
