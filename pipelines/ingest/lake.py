"""The append-only Parquet lake: clean rows, quarantined cells and the ledger.

Every write goes to a temporary name and is renamed into place, and a file's ledger entry is
written last: a crash leaves no ledger entry, so the file is simply read again next run, and
models only read lake rows whose submission has a ledger entry. Everything here derives from
the archive (pipelines.ingest.archive) and can be rebuilt from it (pipelines.ingest.repair).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.atomic import AtomicFile, atomic_write
from pipelines.ingest.contract import Contract

LEDGER_TABLE = "submissions"
QUARANTINE_TABLE = "quarantined_rows"
# A typed, empty file so every lake table can always be read (even before any submission).
# Not "_empty": Spark and Hadoop skip files whose names start with "_" or ".".
EMPTY_FILE = "empty.parquet"

LEDGER_SCHEMA = pa.schema(
    [
        ("entry_id", pa.string()),
        ("sha256", pa.string()),
        ("source", pa.string()),
        ("file_name", pa.string()),
        ("landing_path", pa.string()),
        ("archive_path", pa.string()),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("file_modified_at", pa.timestamp("us", tz="UTC")),
        ("status", pa.string()),  # loaded / rejected / duplicate (superseded is derived in dbt)
        ("duplicate_of", pa.string()),
        ("submitter_code", pa.string()),
        ("submitter_name", pa.string()),
        ("fiscal_year", pa.int64()),
        ("period_start", pa.date32()),
        ("period_end", pa.date32()),
        ("rows_read", pa.int64()),
        ("rows_loaded", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("rows_skipped", pa.int64()),
        ("rows_rejected", pa.int64()),
        ("reason", pa.string()),
        ("warnings", pa.string()),
        ("encoding", pa.string()),
        ("sheet", pa.string()),
        # JSON {path under lake/: SHA-256} of the lake files derived from this submission,
        # so a damaged one is found and rebuilt from the archive (pipelines.ingest.repair).
        ("lake_files", pa.string()),
        # The account that sent the file through the submission page (None: copied by hand).
        ("sent_by", pa.string()),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("submission_id", pa.string()),
        ("source", pa.string()),
        ("file_name", pa.string()),
        ("row_number", pa.int64()),
        ("column_name", pa.string()),
        ("header", pa.string()),
        ("value", pa.string()),
        ("rule", pa.string()),
        ("message", pa.string()),
    ]
)


def source_schema(contract: Contract) -> pa.Schema:
    """The lake schema of a source: its contract columns, typed, plus lineage columns."""
    fields = [pa.field("submission_id", pa.string()), pa.field("source_row", pa.int64())]
    for column in contract.columns:
        fields.append(pa.field(column.name, column.column_type.arrow))
        if column.key:
            fields.append(pa.field(column.key_name, pa.string()))
    if contract.fiscal_year_from_date:
        fields.append(pa.field("fiscal_year", pa.int64()))
    return pa.schema(fields)


def sha256_of_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_parquet(table: pa.Table, path: Path) -> None:
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


class Lake:
    """Reads and appends to the lake under one root."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def table_dir(self, table: str) -> Path:
        return self.root / table

    def initialize(
        self, contracts: Iterable[Contract], extra: dict[str, pa.Schema] | None = None
    ) -> None:
        """Give every table an empty typed file so models can read a lake with no submissions."""
        schemas = {c.key: source_schema(c) for c in contracts}
        schemas[LEDGER_TABLE] = LEDGER_SCHEMA
        schemas[QUARANTINE_TABLE] = QUARANTINE_SCHEMA
        schemas.update(extra or {})
        for table, schema in schemas.items():
            path = self.table_dir(table) / EMPTY_FILE
            if not _has_schema(path, schema):  # missing, damaged or of an older schema
                write_parquet(schema.empty_table(), path)

    # -- the ledger -----------------------------------------------------------------------
    def ledger(self) -> pd.DataFrame:
        files = sorted(self.table_dir(LEDGER_TABLE).glob("*.parquet"))
        if not files:
            return LEDGER_SCHEMA.empty_table().to_pandas()
        return pa.concat_tables(pq.read_table(f, schema=LEDGER_SCHEMA) for f in files).to_pandas()

    def quarantine(self) -> pd.DataFrame:
        files = sorted(self.table_dir(QUARANTINE_TABLE).glob("*.parquet"))
        if not files:
            return QUARANTINE_SCHEMA.empty_table().to_pandas()
        return pa.concat_tables(
            pq.read_table(f, schema=QUARANTINE_SCHEMA) for f in files
        ).to_pandas()

    def has_entry(self, entry_id: str) -> bool:
        return (self.table_dir(LEDGER_TABLE) / f"{entry_id}.parquet").exists()

    def record(self, entry: dict) -> None:
        """Append one ledger entry: the commit point of a received file."""
        row = {name: [entry.get(name)] for name in LEDGER_SCHEMA.names}
        table = pa.table(row, schema=LEDGER_SCHEMA)
        write_parquet(table, self.table_dir(LEDGER_TABLE) / f"{entry['entry_id']}.parquet")

    def checksums(self, paths: Iterable[Path]) -> str:
        """The ledger's record of derived files: JSON {path under the lake: SHA-256}."""
        return json.dumps(
            {p.relative_to(self.root).as_posix(): sha256_of(p) for p in paths}, sort_keys=True
        )

    # -- rows -----------------------------------------------------------------------------
    def write_rows(self, contract: Contract, submission_id: str, rows: pd.DataFrame) -> Path:
        path = self.table_dir(contract.key) / f"{submission_id}.parquet"
        write_parquet(rows_table(contract, submission_id, rows), path)
        return path

    def rows_writer(self, contract: Contract, submission_id: str) -> RowsWriter:
        """For a file read in slices: its rows written as they come, in place only on commit."""
        return RowsWriter(
            self.table_dir(contract.key) / f"{submission_id}.parquet", contract, submission_id
        )

    def write_quarantine(
        self, source: str, submission_id: str, file_name: str, quarantine: pd.DataFrame
    ) -> Path | None:
        if quarantine.empty:
            return None
        frame = quarantine.rename(columns={"column": "column_name"})
        table = pa.table(
            {
                "submission_id": [submission_id] * len(frame),
                "source": [source] * len(frame),
                "file_name": [file_name] * len(frame),
                **{
                    name: frame[name].astype(object).where(frame[name].notna(), None).tolist()
                    for name in ("row_number", "column_name", "header", "value", "rule", "message")
                },
            },
            schema=QUARANTINE_SCHEMA,
        )
        path = self.table_dir(QUARANTINE_TABLE) / f"{submission_id}.parquet"
        write_parquet(table, path)
        return path


def rows_table(contract: Contract, submission_id: str, rows: pd.DataFrame) -> pa.Table:
    """A file's clean rows in the lake's schema of its source (lineage columns first)."""
    schema = source_schema(contract)
    frame = rows.copy()
    frame.insert(0, "submission_id", submission_id)
    columns = {}
    for field in schema:
        if field.name in frame:
            columns[field.name] = pa.array(frame[field.name], type=field.type, from_pandas=True)
        else:
            columns[field.name] = pa.nulls(len(frame), type=field.type)
    return pa.table(columns, schema=schema)


class RowsWriter:
    """Row groups appended to a file that is put in place only on :meth:`commit`
    (pipelines.atomic.AtomicFile); :meth:`abort` leaves nothing behind."""

    def __init__(self, path: Path, contract: Contract, submission_id: str) -> None:
        self.contract, self.submission_id = contract, submission_id
        self.target = AtomicFile(path)
        self.writer = pq.ParquetWriter(self.target.tmp, source_schema(contract), compression="zstd")

    def write(self, rows: pd.DataFrame) -> None:
        self.writer.write_table(rows_table(self.contract, self.submission_id, rows))

    def commit(self) -> Path:
        self.writer.close()
        return self.target.commit()

    def abort(self) -> None:
        self.writer.close()
        self.target.abort()


def _has_schema(path: Path, schema: pa.Schema) -> bool:
    try:
        return pq.read_schema(path) == schema
    except (OSError, pa.ArrowException):
        return False


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
