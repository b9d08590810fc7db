"""Receiving what landed: which landed files are new, keeping each as it came, and which
repeat a file received before.

A landed file is new until the ledger has an entry for it: one entry per (source, landing
path, content). Its content is its SHA-256, computed once per version of the file in a
process (a run asks whether anything is new, then takes it in) and reused while the file is
archived. Receiving it keeps its bytes in the archive and its receipt beside them; a file read
again after a crash keeps the receipt of its first arrival.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.foundation.clock import utc_now
from pipelines.foundation.hashing import sha256_of, sha256_of_bytes, sha256_of_text
from pipelines.foundation.per_file import PerFile, file_version
from pipelines.foundation.settings import Settings
from pipelines.ingest.archive import (
    Receipt,
    archive_file,
    archive_original,
    keep_receipt,
    read_receipt,
)
from pipelines.ingest.contract import Contract, all_contracts
from pipelines.ingest.lake import Lake
from pipelines.ingest.landing import landed_files, sender_of
from pipelines.ingest.reader import never_read_whole

landed_sha256 = PerFile(sha256_of)  # once per version of a landed file, in a process


@dataclass(frozen=True)
class Landed:
    """A file in landing/ with no ledger entry yet: its path, its path under landing/, its
    SHA-256 and the version of the file that was hashed (inode, size, modification time)."""

    path: Path
    landing_path: str
    sha256: str
    version: tuple[int, ...]  # pipelines.foundation.per_file.file_version

    def unchanged(self, size: int) -> bool:
        """Whether the file is still the version hashed (``size``: of the bytes read)."""
        return _version(self.path) == self.version and size == self.version[1]


def _version(path: Path) -> tuple[int, ...]:
    return file_version(path.stat())


def entry_id_for(source: str, landing_path: str, sha256: str) -> str:
    """One ledger entry per (source, landing file, content): the same file seen again is a no-op."""
    return sha256_of_text(f"{source}\0{landing_path}\0{sha256}")[:32]


def pending_files(settings: Settings, contract: Contract, lake: Lake) -> list[Landed]:
    """Landed files of a source with no ledger entry yet, in order. A file whose path, size
    and modification time are those of a file taken in is known without reading it (a night
    with nothing new reads no file); any other is hashed (once per version of it)."""
    taken_in = _taken_in(settings, lake, contract.key)
    pending = []
    for path in landed_files(settings, contract.key):
        version = _version(path)
        relative = path.relative_to(settings.landing).as_posix()
        if (version[1], _modified_at(path)) in taken_in.get(relative, ()):
            continue
        sha = landed_sha256(path)
        if not lake.has_entry(entry_id_for(contract.key, relative, sha)):
            pending.append(Landed(path, relative, sha, version))
    return pending


def waiting_files(settings: Settings, lake: Lake | None = None) -> dict[str, list[Landed]]:
    """Every source's landed files with no ledger entry yet (sources with none left out)."""
    lake = lake or Lake(settings.lake)
    waiting = {c.key: pending_files(settings, c, lake) for c in all_contracts()}
    return {source: files for source, files in waiting.items() if files}


def waiting_key(waiting: dict[str, list[Landed]]) -> str:
    """One key per set of waiting files (each by source, landing path and content): the landing
    sensor asks for one run per key, so a file starts a run exactly once."""
    names = sorted(
        f"{source}\0{landed.landing_path}\0{landed.sha256}"
        for source, files in waiting.items()
        for landed in files
    )
    return sha256_of_text("\n".join(names))[:32]


def _modified_at(path: Path) -> dt.datetime:
    """A file's own modification time, as a receipt records it."""
    return dt.datetime.fromtimestamp(os.stat(path).st_mtime, dt.UTC)


def _taken_in(
    settings: Settings, lake: Lake, source: str
) -> dict[str, set[tuple[int, dt.datetime]]]:
    """landing path → (size, modification time) of each version of it the ledger has."""
    known: dict[str, set[tuple[int, dt.datetime]]] = {}
    for entry in lake.readable_entries():
        if entry["source"] != source or entry["file_modified_at"] is None:
            continue
        try:
            size = (settings.home / entry["archive_path"]).stat().st_size
        except OSError:
            continue  # its archived copy is missing: repair says so
        known.setdefault(entry["landing_path"], set()).add((size, _utc(entry["file_modified_at"])))
    return known


def receive(settings: Settings, contract: Contract, landed: Landed) -> Receipt:
    """Keep the file as it came (archive and receipt); the receipt carries its bytes, or its
    archived copy when it is read from disk (too large to read whole)."""
    path = landed.path
    original: bytes | Path
    if never_read_whole(path, path.name):
        sha = landed.sha256
        archived, copied = archive_file(settings.archive, path, sha)
        if copied and not landed.unchanged(archived.stat().st_size):
            # Replaced while it was copied: the copy is named by what it holds.
            sha = sha256_of(archived)
            archived = archived.replace(archived.with_name(f"{sha}{archived.suffix}"))
        original = archived
    else:
        original = path.read_bytes()  # read once: archived and parsed from the same bytes
        # Of exactly these bytes: the hash made when the file was found new, unless the file
        # changed since.
        sha = landed.sha256 if landed.unchanged(len(original)) else sha256_of_bytes(original)
        archived = archive_original(settings.archive, path.suffix, original, sha)
    note = sender_of(path, sha)
    receipt = Receipt(
        entry_id=entry_id_for(contract.key, landed.landing_path, sha),
        source=contract.key,
        file_name=(note.file_name if note else None) or path.name,
        landing_path=landed.landing_path,
        archive_path=archived.relative_to(settings.home).as_posix(),
        sha256=sha,
        received_at=utc_now(),
        file_modified_at=_modified_at(path),
        sent_by=note.sent_by if note else None,
        sent_at=dt.datetime.fromisoformat(note.sent_at) if note and note.sent_at else None,
    )
    # Received once: a file read again after a crash keeps the receipt of its first arrival.
    receipt = read_receipt(settings.archive, receipt.entry_id) or receipt
    keep_receipt(settings.archive, receipt)
    return receipt.with_original(original)


class FirstCopies:
    """The one definition of a duplicate: the same bytes reaching the same source in a file
    received before (by the time it was received, then its entry id). Such a file is entered
    in the ledger as ``duplicate`` and changes nothing."""

    def __init__(self) -> None:
        self._first: dict[tuple[str, str], tuple[dt.datetime, str]] = {}

    @classmethod
    def of_entries(cls, entries: Iterable[dict]) -> FirstCopies:
        """From ledger entries (or receipts as dicts): source, sha256, received_at, entry_id."""
        found = cls()
        for entry in entries:
            found.add(entry["source"], entry["sha256"], entry["received_at"], entry["entry_id"])
        return found

    @classmethod
    def of_ledger(cls, ledger: pd.DataFrame) -> FirstCopies:
        return cls.of_entries(ledger.to_dict("records"))

    def add(self, source: str, sha256: str, received_at, entry_id: str) -> None:
        key = (source, sha256)
        moment = (_utc(received_at), entry_id)
        if key not in self._first or moment < self._first[key]:
            self._first[key] = moment

    def add_receipt(self, receipt: Receipt) -> None:
        self.add(receipt.source, receipt.sha256, receipt.received_at, receipt.entry_id)

    def is_duplicate(self, receipt: Receipt) -> bool:
        first = self._first.get((receipt.source, receipt.sha256))
        return first is not None and first < (_utc(receipt.received_at), receipt.entry_id)


def _utc(moment) -> dt.datetime:
    moment = pd.Timestamp(moment).to_pydatetime()
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
