"""One decision at a time: an exclusive lock on a file, held by a process while it decides.

Council decisions (reviews, releases, closing and reopening a year) read the records, decide
and write one: two at the same moment (a double click, two staff, the page and a command)
would both decide on what the other has not written yet. The lock is the operating system's
(``flock``): released when its holder ends, however it ends.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold ``path``'s lock (the file is created if missing) until the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


@contextmanager
def exclusive_if_free(path: Path) -> Iterator[bool]:
    """Hold ``path``'s lock until the block ends if nobody holds it now: True; else False at
    once (nothing waits)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
        else:
            yield True
    finally:
        os.close(descriptor)


def held(path: Path) -> bool:
    """Whether a process holds ``path``'s lock now (a glance: it may be let go the next
    moment)."""
    with exclusive_if_free(path) as free:
        return not free


def shared_descriptor(path: Path) -> int:
    """An open descriptor of ``path`` holding a shared lock: many may hold one at once, none
    while ``exclusive`` is held. Passed to a child process, the lock is the child's too (it
    belongs to the open file, not the process) and lasts until every copy is closed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor
