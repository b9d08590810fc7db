"""The append-only Parquet lake: clean rows, quarantined cells and the ledger.

Every write goes to a temporary name and is renamed into place, and a file's ledger entry is
written last: a crash leaves no ledger entry, so the file is simply read again next run, and
models only read lake rows whose submission has a ledger entry. Everything here derives from
the archive (pipelines.ingest.archive) and can be rebuilt from it (pipelines.intake.repair).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.foundation.atomic import AtomicFile, atomic_write, write_text
from pipelines.foundation.hashing import sha256_of
from pipelines.foundation.per_file import PerFile, file_version
from pipelines.ingest.contract import Contract
from pipelines.ingest.lake_tables import (
    LAYOUT,
    LEDGER,
    LEDGER_SCHEMA,
    QUARANTINE,
    QUARANTINE_SCHEMA,
    SCHEMAS,
    all_schemas,
    source_schema,
)

LAYOUT_FILE = "LAYOUT"  # the version of lake_tables the lake was written with
# A typed, empty file so every lake table can always be read (even before any submission).
# Not "_empty": Spark and Hadoop skip files whose names start with "_" or ".".
EMPTY_FILE = "empty.parquet"
# What the ledger's entry files hold, in one file (see Lake._entries): a cache, derived from
# them and checked against them on every read; not a table (models read lake/<table>/).
LEDGER_INDEX = "ledger_index.parquet"
_VERSION = ("index_file", "index_inode", "index_size", "index_mtime_ns", "index_ctime_ns")
_INDEX_SCHEMA = pa.schema(
    [
        pa.field(_VERSION[0], pa.string()),
        pa.field(_VERSION[1], pa.uint64()),  # inode numbers may pass 2**63
        *(pa.field(name, pa.int64()) for name in _VERSION[2:]),
        *LEDGER_SCHEMA,
    ]
)


def write_parquet(table: pa.Table, path: Path) -> None:
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


class Lake:
    """Reads and appends to the lake under one root."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def table_dir(self, table: str) -> Path:
        return self.root / table

    def initialize(self, contracts: list[Contract]) -> None:
        """Give every table an empty typed file so models can read a lake with no submissions,
        and say which layout the lake is written in (a new lake: today's)."""
        if self.layout() is None:
            write_text(self.root / LAYOUT_FILE, f"{LAYOUT}\n")
        for table, schema in all_schemas(contracts).items():
            path = self.table_dir(table) / EMPTY_FILE
            if not _has_schema(path, schema):  # missing, damaged or of an older schema
                write_parquet(schema.empty_table(), path)

    def layout(self) -> int | None:
        """The version of lake_tables the lake was written with; None for a new, empty lake
        (an older lake, from before the layout was written down, is version 1)."""
        marker = self.root / LAYOUT_FILE
        if marker.exists():
            return int(marker.read_text().strip() or 1)
        written = self.table_dir(LEDGER)
        if written.exists() and any(p.name != EMPTY_FILE for p in written.glob("*.parquet")):
            return 1
        return None

    def outdated(self) -> bool:
        """Written with an older layout: derived again from the archive before it is read."""
        layout = self.layout()
        return layout is not None and layout < LAYOUT

    # -- the ledger -----------------------------------------------------------------------
    def ledger(self) -> pd.DataFrame:
        """Every ledger entry (a damaged file raises: repair first)."""
        rows = []
        for path, read in self._entries():
            if read is None:
                pq.read_table(path, schema=LEDGER_SCHEMA)  # raises what is wrong with it
            rows += read or []
        return pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA).to_pandas()

    def quarantine(self) -> pd.DataFrame:
        files = sorted(self.table_dir(QUARANTINE).glob("*.parquet"))
        if not files:
            return QUARANTINE_SCHEMA.empty_table().to_pandas()
        return pa.concat_tables(
            pq.read_table(f, schema=QUARANTINE_SCHEMA) for f in files
        ).to_pandas()

    def entry_files(self) -> list[Path]:
        """The ledger's entry files, one per file received."""
        return sorted(p for p in self.table_dir(LEDGER).glob("*.parquet") if p.name != EMPTY_FILE)

    def readable_entries(self) -> list[dict]:
        """The ledger entries that can be read, as dicts (a damaged one is skipped here and
        repaired by pipelines.intake.repair)."""
        return [dict(read[0]) for _, read in self._entries() if read]  # copies: kept as read

    def unreadable_entries(self) -> list[Path]:
        """The entry files that cannot be read (damaged): pipelines.intake.repair's to mend."""
        return [path for path, read in self._entries() if read is None]

    def _entries(self) -> list[tuple[Path, list[dict] | None]]:
        """Each entry file with its rows (None: it cannot be read). A run looks at every entry
        several times and a lake holds thousands: each file is read once while it stays the
        same, and what was read is kept in one index file (:data:`LEDGER_INDEX`) that the next
        process reads instead of every entry file (entries are written whole, never edited:
        an entry of the same version, pipelines.foundation.per_file.file_version, holds the
        same rows)."""
        try:
            index = _ledger_index(self.root / LEDGER_INDEX)
        except OSError:  # none yet
            index = {}
        entries, known = [], {}
        for path in self.entry_files():
            try:
                stat = path.stat()
            except OSError:  # gone since it was listed
                continue
            version = file_version(stat)
            indexed = index.get(path.name)
            read = indexed[1] if indexed and indexed[0] == version else _readable_entry(path)
            entries.append((path, read))
            if read is not None:
                known[path.name] = (version, read)
        if known != index:
            _write_ledger_index(self.root / LEDGER_INDEX, known)
        return entries

    def has_entry(self, entry_id: str) -> bool:
        return (self.table_dir(LEDGER) / f"{entry_id}.parquet").exists()

    def record(self, entry: dict) -> None:
        """Append one ledger entry: the commit point of a received file."""
        row = {name: [entry.get(name)] for name in LEDGER_SCHEMA.names}
        table = pa.table(row, schema=LEDGER_SCHEMA)
        write_parquet(table, self.table_dir(LEDGER) / f"{entry['entry_id']}.parquet")

    def checksums(self, paths: Iterable[Path]) -> str:
        """The ledger's record of derived files: JSON {path under the lake: SHA-256}."""
        return json.dumps(
            {p.relative_to(self.root).as_posix(): sha256_of(p) for p in paths}, sort_keys=True
        )

    # -- rows -----------------------------------------------------------------------------
    def write_rows(self, contract: Contract, sha256: str, rows: pd.DataFrame) -> Path:
        path = self.table_dir(contract.key) / f"{sha256}.parquet"
        write_parquet(rows_table(contract, sha256, rows), path)
        return path

    def rows_writer(self, contract: Contract, sha256: str) -> RowsWriter:
        """For a file read in slices: its rows written as they come, in place only on commit."""
        return RowsWriter(self.table_dir(contract.key) / f"{sha256}.parquet", contract, sha256)

    def write_quarantine(
        self, source: str, sha256: str, file_name: str, quarantine: pd.DataFrame
    ) -> Path | None:
        if quarantine.empty:
            return None
        frame = quarantine.rename(columns={"column": "column_name"})
        table = pa.table(
            {
                "sha256": [sha256] * len(frame),
                "source": [source] * len(frame),
                "file_name": [file_name] * len(frame),
                **{
                    name: frame[name].astype(object).where(frame[name].notna(), None).tolist()
                    for name in ("row_number", "column_name", "header", "value", "rule", "message")
                },
            },
            schema=QUARANTINE_SCHEMA,
        )
        path = self.table_dir(QUARANTINE) / f"{sha256}.parquet"
        write_parquet(table, path)
        return path


def read_records(lake: Lake, table: str) -> pd.DataFrame:
    """Every record of a table of records (releases, reviews, closings, ...), typed by its
    schema; empty when there is none."""
    schema = SCHEMAS[table]
    files = [p for p in sorted(lake.table_dir(table).glob("*.parquet")) if p.name != EMPTY_FILE]
    tables = [pq.read_table(path, schema=schema) for path in files]
    return pa.concat_tables(tables or [schema.empty_table()]).to_pandas()


def rows_table(contract: Contract, sha256: str, rows: pd.DataFrame) -> pa.Table:
    """A file's clean rows in the lake's schema of its source (lineage columns first)."""
    schema = source_schema(contract)
    frame = rows.copy()
    frame.insert(0, "sha256", sha256)
    columns = {}
    for field in schema:
        if field.name in frame:
            columns[field.name] = pa.array(frame[field.name], type=field.type, from_pandas=True)
        else:
            columns[field.name] = pa.nulls(len(frame), type=field.type)
    return pa.table(columns, schema=schema)


class RowsWriter:
    """Row groups appended to a file that is put in place only on :meth:`commit`
    (pipelines.foundation.atomic.AtomicFile); :meth:`abort` leaves nothing behind."""

    def __init__(self, path: Path, contract: Contract, sha256: str) -> None:
        self.contract, self.sha256 = contract, sha256
        self.target = AtomicFile(path)
        self.writer = pq.ParquetWriter(self.target.tmp, source_schema(contract), compression="zstd")

    def write(self, rows: pd.DataFrame) -> None:
        self.writer.write_table(rows_table(self.contract, self.sha256, rows))

    def commit(self) -> Path:
        self.writer.close()
        return self.target.commit()

    def abort(self) -> None:
        self.writer.close()
        self.target.abort()


def _read_entry(path: Path) -> list[dict] | None:
    """One ledger entry file's rows; None when it cannot be read."""
    try:
        return pq.read_table(path, schema=LEDGER_SCHEMA).to_pylist()
    except (OSError, pa.ArrowException):
        return None


_entries = PerFile(_read_entry)  # a lake holds thousands of entries


def _readable_entry(path: Path) -> list[dict] | None:
    """The rows of a ledger entry file as last read; None when it cannot be read or is gone."""
    try:
        return _entries(path)
    except OSError:
        return None


Indexed = dict[str, tuple[tuple[int, ...], list[dict]]]  # file → (its version, its rows)


def _read_ledger_index(path: Path) -> Indexed:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException):  # damaged: the entries are read
        return {}
    if table.schema != _INDEX_SCHEMA:
        return {}  # written for another ledger schema
    index: Indexed = {}
    for row in table.to_pylist():
        name, *version = (row.pop(key) for key in _VERSION)
        index.setdefault(name, (tuple(version), []))[1].append(row)
    return index


_ledger_index = PerFile(_read_ledger_index, limit=2)  # an index replaced is not read again


def _write_ledger_index(path: Path, index: Indexed) -> None:
    rows = [
        {**dict(zip(_VERSION, (name, *version), strict=True)), **row}
        for name, (version, rows) in sorted(index.items())
        for row in rows
    ]
    with contextlib.suppress(OSError):  # a lake one may only read: the entries are read
        write_parquet(pa.Table.from_pylist(rows, schema=_INDEX_SCHEMA), path)


def _has_schema(path: Path, schema: pa.Schema) -> bool:
    try:
        return pq.read_schema(path) == schema
    except (OSError, pa.ArrowException):
        return False
