"""The archive: everything the warehouse was given, kept as given, from which the lake derives.

``archive/`` holds three things, each written once and never changed:

* ``<sha256><suffix>`` — the bytes of every file received (the only copy of personal data);
* ``receipts/<entry_id>.json`` — the facts of each receipt that the bytes cannot tell: which
  landing path it came from, when it was received, the file's own modification time;
* ``records/<table>/<name>.parquet`` — decisions and events recorded by people and runs
  (releases of held submissions, failed runs, extracts handed out, mart check results).

Everything under ``lake/`` is derived from these and the contracts (pipelines.intake.repair):
a lost or damaged lake file is rebuilt from here. Back up ``archive/``; the lake can be
rebuilt, the archive cannot.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.foundation.atomic import copy_file, write_bytes, write_text

RECEIPTS = "receipts"
RECORDS = "records"


def archive_original(archive_dir: Path, suffix: str, data: bytes, sha256: str) -> Path:
    """Keep the bytes as received, named by their SHA-256 (the only copy of any personal data)."""
    target = archive_dir / f"{sha256}{suffix.lower()}"
    if not target.exists():
        write_bytes(target, data)
    return target


def archive_file(archive_dir: Path, source: Path, sha256: str) -> tuple[Path, bool]:
    """Keep a file as received without reading it into memory (one too large to be read):
    its archived copy, and whether this call made it (False: the same bytes were kept)."""
    target = archive_dir / f"{sha256}{source.suffix.lower()}"
    if target.exists():
        return target, False
    copy_file(source, target)
    return target, True


@dataclass(frozen=True)
class Receipt:
    """One file received, from the moment it is archived to its ledger entry: enough, with
    its archived bytes, to derive its lake entry again. While it is being taken in it also
    carries ``original`` — its bytes, or its archived copy when it is read from disk — which
    is not part of the receipt kept."""

    entry_id: str
    source: str
    file_name: str  # as its sender named it
    landing_path: str
    archive_path: str  # relative to WELFARE_HOME
    sha256: str
    received_at: dt.datetime
    file_modified_at: dt.datetime
    # Who sent it and when, when it came through the submission page
    # (pipelines.ingest.landing); None for a file copied into landing/ by hand, and in
    # receipts kept before these were recorded.
    sent_by: str | None = None
    sent_at: dt.datetime | None = None
    original: bytes | Path | None = field(default=None, compare=False, repr=False)

    KEPT = (
        "entry_id",
        "source",
        "file_name",
        "landing_path",
        "archive_path",
        "sha256",
        "received_at",
        "file_modified_at",
        "sent_by",
        "sent_at",
    )
    TIMES = ("received_at", "file_modified_at", "sent_at")

    def to_json(self) -> str:
        data = {name: getattr(self, name) for name in self.KEPT}
        for name in self.TIMES:
            data[name] = data[name].isoformat() if data[name] is not None else None
        return json.dumps(data, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Receipt:
        data = json.loads(text)
        for name in cls.TIMES:
            if data.get(name) is not None:
                data[name] = dt.datetime.fromisoformat(data[name])
        return cls(**{name: data[name] for name in cls.KEPT if name in data})

    def with_original(self, original: bytes | Path) -> Receipt:
        return replace(self, original=original)


def receipt_path(archive_dir: Path, entry_id: str) -> Path:
    return archive_dir / RECEIPTS / f"{entry_id}.json"


def keep_receipt(archive_dir: Path, receipt: Receipt) -> Path:
    path = receipt_path(archive_dir, receipt.entry_id)
    if not path.exists():
        write_text(path, receipt.to_json())
    return path


def read_receipt(archive_dir: Path, entry_id: str) -> Receipt | None:
    path = receipt_path(archive_dir, entry_id)
    if not path.exists():
        return None
    return Receipt.from_json(path.read_text(encoding="utf-8"))


def all_receipts(archive_dir: Path) -> list[Receipt]:
    """Every receipt, in the order the files were received."""
    found = [
        Receipt.from_json(p.read_text(encoding="utf-8"))
        for p in (archive_dir / RECEIPTS).glob("*.json")
    ]
    return sorted(found, key=lambda r: (r.received_at, r.entry_id))


# -- records --------------------------------------------------------------------------------
def record_path(archive_dir: Path, table: str, name: str) -> Path:
    return archive_dir / RECORDS / table / f"{name}.parquet"


def keep_record(archive_dir: Path, lake_dir: Path, table: str, name: str, rows: pa.Table) -> Path:
    """Write a record to the archive, then its copy to the lake (``lake/<table>/<name>``)."""
    kept = record_path(archive_dir, table, name)
    write_bytes(kept, _parquet_bytes(rows))
    return copy_file(kept, lake_dir / table / f"{name}.parquet")


def archived_records(archive_dir: Path) -> list[tuple[str, Path]]:
    """(table, archived file) of every record."""
    root = archive_dir / RECORDS
    return sorted((p.parent.name, p) for p in root.glob("*/*.parquet"))


def _parquet_bytes(rows: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(rows, sink, compression="zstd")
    return sink.getvalue().to_pybytes()
