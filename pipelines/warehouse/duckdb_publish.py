"""Publishing on DuckDB (the default engine): the private working database's marts and audit
tables, published atomically, and rollback.

Analysts only ever open ``$WELFARE_HOME/warehouse.duckdb``. It is never written in place: a
complete copy is made beside it and renamed over it in one step (``os.replace``), so a reader
never sees a half-built warehouse, and a reader that keeps a connection open keeps reading the
version it opened until it reconnects. Each published version is also kept in
``published/versions/`` (the last few), which is what ``welfare rollback`` restores.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import duckdb

from pipelines.foundation.atomic import atomic_write, copy_file, write_text
from pipelines.foundation.pause_points import pause_point
from pipelines.foundation.settings import Settings
from pipelines.ingest.lake_tables import DQ_RESULT_SCHEMA, DQ_RESULTS
from pipelines.warehouse.publication import KEEP_VERSIONS, PUBLISHED_SCHEMAS, Published

EXPORTED_VERSION = "VERSION"  # published/VERSION: the version the Parquet files were made from
EXPORTED_TABLES = "TABLES.json"  # published/: each file's table as it was when written
# The published warehouse is written in DuckDB 1.0's storage format, which every DuckDB since
# 1.0 reads — the command line, JDBC and ODBC drivers, R and Python packages analysts have
# (they often lag the Python package the pipeline runs with, which writes a newer format).
STORAGE_VERSION = "v1.0.0"


def published_tables(
    connection: duckdb.DuckDBPyConnection, catalog: str | None = None
) -> list[tuple[str, str]]:
    """The tables analysts get (marts and audit), of ``catalog`` or of the current database."""
    return connection.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = coalesce(?, current_database()) and table_schema in ? "
        "and table_type = 'BASE TABLE' order by 1, 2",
        [catalog, list(PUBLISHED_SCHEMAS)],
    ).fetchall()


def publish(
    settings: Settings, fingerprint: str, run_id: str | None = None, keep: int = KEEP_VERSIONS
) -> Published:
    """Publish the working database: versions/ copy, atomic swap, Parquet of every table
    that changed.

    ``fingerprint`` identifies the inputs (lake ledger and models). When it equals the one of
    the version in place, nothing is replaced: a run without new files changes nothing.
    """
    now = dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    current = versions(settings)
    last = last_publish(settings)
    if current and last and last[1] == fingerprint:
        with duckdb.connect(str(settings.warehouse), read_only=True) as connection:
            tables = table_counts(connection)
        # A run stopped between the swap and the export left the Parquet files behind.
        exported = [] if publication_complete(settings) else export_parquet(settings)
        return Published(
            _stamp(current[0]), str(settings.warehouse), tables, exported, unchanged=True
        )
    with connect_working(settings) as work:
        work.execute("create schema if not exists audit")
        work.execute(
            "create table if not exists audit.publishes (published_at timestamp, version "
            "varchar, run_id varchar, fingerprint varchar)"
        )
        work.execute("alter table audit.publishes add column if not exists fingerprint varchar")
        work.execute(
            "insert into audit.publishes values (?, ?, ?, ?)",
            [now.replace(tzinfo=None), stamp, run_id, fingerprint],
        )
        _load_dq_results(work, settings)
        tables = table_counts(work)
        work.execute("checkpoint")
    version = settings.versions / f"warehouse-{stamp}.duckdb"
    # Hidden until it is the warehouse: a run stopped before the swap leaves no version that
    # `welfare rollback` could mistake for a published one.
    pending = version.with_name(f".{version.name}")
    atomic_write(pending, lambda tmp: _copy_published_schemas(settings.working_db, tmp))
    pause_point("publish.before_swap")
    copy_file(pending, settings.warehouse)
    pending.replace(version)
    pause_point("publish.before_parquet")
    parquet_files = export_parquet(settings, version)
    prune_versions(settings, keep)
    return Published(stamp, str(settings.warehouse), tables, parquet_files)


def _stamp(version: Path) -> str:
    return version.stem.removeprefix("warehouse-")


def _copy_published_schemas(working_db: Path, target: Path) -> None:
    """A new database holding only what analysts use (marts and audit), not the working
    layers (staging views, intermediate tables, reference seeds), written in the storage
    format analysts' tools read (STORAGE_VERSION)."""
    with duckdb.connect() as out:
        out.execute(f"attach '{working_db}' as work (read_only)")
        out.execute(f"attach '{target}' as published (storage_version '{STORAGE_VERSION}')")
        tables = published_tables(out, catalog="work")
        for schema in PUBLISHED_SCHEMAS:
            out.execute(f'create schema if not exists published."{schema}"')
        for schema, name in tables:
            out.execute(
                f'create table published."{schema}"."{name}" as '
                f'select * from work."{schema}"."{name}"'
            )
        out.execute("checkpoint published")
        out.execute("detach published")
        out.execute("detach work")


def _load_dq_results(work: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """The history of data-quality results (lake/dq_results) as audit.dq_results."""
    files = settings.lake / DQ_RESULTS
    work.register("no_dq_results", DQ_RESULT_SCHEMA.empty_table())
    source = (
        f"read_parquet('{files}/*.parquet', union_by_name = true)"
        if any(files.glob("*.parquet"))
        else "no_dq_results"
    )
    work.execute(
        f"create or replace table audit.dq_results as select * from {source} order by checked_at"
    )


def connect_working(settings: Settings, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """The private working database, its views able to read the lake: they name the lake's
    files relative to it, found through file_search_path as dbt's profile sets it (a setting
    of this connection: a cursor made from it does not inherit it)."""
    connection = duckdb.connect(str(settings.working_db), read_only=read_only)
    connection.execute("set file_search_path = ?", [str(settings.lake)])
    return connection


def table_counts(connection: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {
        f"{schema}.{name}": connection.execute(
            f'select count(*) from "{schema}"."{name}"'
        ).fetchone()[0]
        for schema, name in published_tables(connection)
    }


def _last_publish(database: Path) -> tuple[str, str] | None:
    """(version, input fingerprint) that a published database records of itself."""
    try:
        with duckdb.connect(str(database), read_only=True) as connection:
            return connection.execute(
                "select version, fingerprint from audit.publishes "
                "order by published_at desc limit 1"
            ).fetchone()
    except duckdb.Error:
        return None


def last_publish(settings: Settings) -> tuple[str, str] | None:
    """(version, input fingerprint) of the warehouse analysts open, if there is one."""
    return _last_publish(settings.warehouse) if settings.warehouse.exists() else None


def location(settings: Settings) -> str:
    return str(settings.warehouse)


def export_parquet(settings: Settings, database: Path | None = None) -> list[Path]:
    """Every published table as ``published/<schema>/<table>.parquet`` for non-DuckDB tools
    (of ``database``, by default the warehouse analysts open). A file whose table holds what
    it held when the file was written (its columns and rows: :func:`table_fingerprint`) is
    left as it is: a run that changed two marts rewrites two files. Returns those written."""
    database = database or settings.warehouse
    before = _exported_fingerprints(settings)
    now: dict[str, str] = {}
    written = []
    with duckdb.connect(str(database), read_only=True) as connection:
        for schema, name in published_tables(connection):
            target = settings.published / schema / f"{name}.parquet"
            key = f"{schema}.{name}"
            now[key] = table_fingerprint(connection, schema, name)
            if before.get(key) == now[key] and target.exists():
                continue
            if not written:  # from the first file on, no version is whole until the last
                write_text(settings.published / EXPORTED_VERSION, "")
            sql = f'copy (select * from "{schema}"."{name}") to \'{{}}\' (format parquet)'
            atomic_write(target, lambda tmp, sql=sql: connection.execute(sql.format(tmp)))
            written.append(target)
    # After the files: a run stopped before this line writes them again next time.
    write_text(settings.published / EXPORTED_TABLES, json.dumps(now, indent=1, sort_keys=True))
    last = _last_publish(database)
    write_text(settings.published / EXPORTED_VERSION, last[0] if last else "")
    return written


def table_fingerprint(connection: duckdb.DuckDBPyConnection, schema: str, name: str) -> str:
    """What a table holds, whatever the order of its rows: its columns and types, its row
    count and the sum of its rows' hashes (a scan: far cheaper than writing the file)."""
    columns = connection.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    ).fetchall()
    rows, total = connection.execute(
        f'select count(*), sum(hash(t)::hugeint) from "{schema}"."{name}" t'
    ).fetchone()
    return hashlib.sha256(repr((columns, rows, str(total))).encode()).hexdigest()


def _exported_fingerprints(settings: Settings) -> dict[str, str]:
    try:
        return json.loads((settings.published / EXPORTED_TABLES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def publication_complete(settings: Settings) -> bool:
    """Whether published/*/*.parquet were made from the version analysts open (a run stopped
    between the swap and the export leaves them behind)."""
    marker = settings.published / EXPORTED_VERSION
    last = _last_publish(settings.warehouse)
    return last is None or (marker.exists() and marker.read_text() == last[0])


def versions(settings: Settings) -> list[Path]:
    """Published versions, newest first."""
    return sorted(settings.versions.glob("warehouse-*.duckdb"), reverse=True)


def prune_versions(settings: Settings, keep: int) -> None:
    for old in versions(settings)[keep:]:
        old.unlink(missing_ok=True)
    for unpublished in settings.versions.glob(".warehouse-*.duckdb"):  # of stopped runs
        unpublished.unlink(missing_ok=True)


def previous_version(settings: Settings) -> Path:
    """The published version a rollback would put back (the one before the version in place)."""
    available = versions(settings)
    last = _last_publish(settings.warehouse)
    stamp = last[0] if last else None
    older = [v for v in available if stamp and v.stem.removeprefix("warehouse-") < stamp]
    if not older:
        raise RuntimeError(
            "戻せる以前の版がありません。 / There is no earlier published version to roll back to."
        )
    return older[0]


def rollback(settings: Settings) -> str:
    """Put the previous published version back in place; the newest one is set aside.
    Returns the stamp of the version restored."""
    available = versions(settings)
    last = _last_publish(settings.warehouse)
    stamp = last[0] if last else None
    previous = previous_version(settings)
    copy_file(previous, settings.warehouse)
    for current in available:  # the version being replaced, and any newer one, are set aside
        if current.stem.removeprefix("warehouse-") >= stamp:
            current.rename(current.with_name(current.name.replace("warehouse-", "rolled-back-")))
    export_parquet(settings)
    return _stamp(previous)
