"""A file's identity is the SHA-256 of its bytes: the one way it is computed."""

from __future__ import annotations

import hashlib
from pathlib import Path

BLOCK = 1 << 20


def sha256_of_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_of(path: Path) -> str:
    """Of a file on disk, read a block at a time (a 1 GB export is never in memory whole)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of_text(text: str) -> str:
    # surrogateescape: a path's bytes that are not UTF-8 (os gives them as lone surrogates)
    # hash as those bytes, never raise.
    return sha256_of_bytes(text.encode("utf-8", "surrogateescape"))
