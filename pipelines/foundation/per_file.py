"""What a file gives, worked out once per process while the file stays the same.

A run looks at the same files several times: every landed file is hashed to ask whether
anything is new, and the hash is used again to take it in; every ledger entry is read for the
disk-space estimate and by each source's repair check. Files under the lake, the archive and
landing are replaced whole (pipelines.foundation.atomic) or dropped by their senders, never
edited in place, so a file with the same inode, size and modification time holds the same
bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class PerFile(Generic[T]):
    """``compute(path)``, remembered per file version (inode, size, modification time). A
    long-lived process (the Dagster daemon's sensors) forgets everything past ``limit``."""

    def __init__(self, compute: Callable[[Path], T], limit: int = 100_000) -> None:
        self.compute, self.limit = compute, limit
        self.known: dict[tuple, T] = {}

    def __call__(self, path: Path) -> T:
        stat = path.stat()
        key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if key not in self.known:
            if len(self.known) >= self.limit:
                self.known.clear()
            self.known[key] = self.compute(path)
        return self.known[key]
