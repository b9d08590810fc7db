"""What a file gives, worked out once per process while the file stays the same.

A run looks at the same files several times: every landed file is hashed to ask whether
anything is new, and the hash is used again to take it in; every ledger entry is read for the
disk-space estimate and by each source's repair check. Files under the lake, the archive and
landing are replaced whole (pipelines.foundation.atomic) or dropped by their senders, never
edited in place, so a file with the same inode, size, modification and change times holds the
same bytes (the change time too: writing into a file and setting its modification time back
still changes it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


def file_version(stat: os.stat_result) -> tuple[int, int, int, int]:
    """Which version of a file this is (see the module's doc)."""
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


class PerFile(Generic[T]):
    """``compute(path)``, remembered per file version (:func:`file_version`). A long-lived
    process (the Dagster daemon's sensors) forgets everything past ``limit``."""

    def __init__(self, compute: Callable[[Path], T], limit: int = 100_000) -> None:
        self.compute, self.limit = compute, limit
        self.known: dict[tuple, T] = {}

    def __call__(self, path: Path) -> T:
        key = (str(path), *file_version(path.stat()))
        if key not in self.known:
            if len(self.known) >= self.limit:
                self.known.clear()
            self.known[key] = self.compute(path)
        return self.known[key]
