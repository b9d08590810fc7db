"""The engine that builds and publishes the warehouse, chosen by one setting (WELFARE_ENGINE).

Everything outside ``pipelines/warehouse`` asks this module, never an engine directly:

- what the run built (before publishing): :func:`open_built`, :func:`count_built_rows`;
- publishing, rollback and what is published: :func:`publish`, :func:`rollback`,
  :func:`last_publish`, :func:`is_published`, :func:`publication_complete`;
- reading what is published: :func:`open_published`.

Readers get a DuckDB connection whatever the engine, so their SQL is written once: on DuckDB it
is the published file itself (read-only); on Spark, the tables asked for are read from the
cluster through its Thrift server into an in-memory DuckDB database under the same names.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import duckdb

from pipelines.foundation.settings import Settings
from pipelines.warehouse import duckdb_publish, spark_publish
from pipelines.warehouse.publication import NotPublished, Published
from pipelines.warehouse.spark_publish import build_schema
from pipelines.warehouse.spark_thrift import SparkUnavailable, count_rows, quoted, spark_session


def ensure_installed(settings: Settings) -> None:
    """The engine's packages are installed (checked before dbt parses for its target)."""
    if not settings.engine.is_spark:
        return
    import importlib.util

    missing = [
        name for name in ("dbt.adapters.spark", "pyhive") if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise SparkUnavailable(
            f"WELFARE_ENGINE=spark needs the Spark extra ({', '.join(missing)} missing): "
            "`uv sync --extra spark`, or `make run-spark`."
        )


def _publisher(settings: Settings):
    """The engine's publishing module: both have publish, rollback, last_publish,
    publication_complete and location."""
    if settings.engine.is_spark:
        return spark_publish
    return duckdb_publish


def publish(settings: Settings, fingerprint: str, run_id: str | None = None) -> Published:
    """Publish what the run built, once every model and blocking check passed."""
    return _publisher(settings).publish(settings, fingerprint, run_id)


def rollback(settings: Settings) -> str:
    """Put the previous published version back; returns its stamp."""
    return _publisher(settings).rollback(settings)


def last_publish(settings: Settings) -> tuple[str, str] | None:
    """(version, input fingerprint) of what analysts see now, or None."""
    return _publisher(settings).last_publish(settings)


def is_published(settings: Settings) -> bool:
    if settings.engine.is_spark:
        return last_publish(settings) is not None
    return settings.warehouse.exists()


def publication_complete(settings: Settings) -> bool:
    """Whether everything publishing writes exists for the version in place (on DuckDB, the
    Parquet copies under published/)."""
    return _publisher(settings).publication_complete(settings)


def published_location(settings: Settings) -> str:
    return _publisher(settings).location(settings)


def _missing(settings: Settings) -> NotPublished:
    return NotPublished(
        f"No published warehouse at {published_location(settings)}: run `welfare run` first."
    )


@contextmanager
def open_published(
    settings: Settings, tables: Iterable[str] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only view of the published warehouse as a DuckDB connection.

    ``tables`` (``schema.table``): what the reader needs; on Spark only those are fetched
    (all published tables when None). On DuckDB every table is there anyway.
    """
    if not settings.engine.is_spark:
        if not settings.warehouse.exists():
            raise _missing(settings)
        with duckdb.connect(str(settings.warehouse), read_only=True) as connection:
            yield connection
        return

    with spark_session(settings.engine) as session:
        published = [f"{s}.{n}" for s, n in spark_publish.published_tables(session)]
        if not published:
            raise _missing(settings)
        wanted = published if tables is None else [t for t in tables if t in published]
        with duckdb.connect() as connection:
            _copy_into(connection, {t: session.arrow(f"select * from {t}") for t in wanted})
            yield connection


@contextmanager
def open_built(settings: Settings, tables: Iterable[str]) -> Iterator[duckdb.DuckDBPyConnection]:
    """What this run built (not yet published) as a read-only DuckDB connection: the private
    working database, or on Spark the ``tables`` read from the run's build schemas."""
    if not settings.engine.is_spark:
        with duckdb_publish.connect_working(settings, read_only=True) as connection:
            yield connection
        return

    with spark_session(settings.engine) as session, duckdb.connect() as connection:
        fetched = {}
        for table in tables:
            schema, name = table.split(".")
            built = quoted(build_schema(settings.engine, schema), name)
            fetched[table] = session.arrow(f"select * from {built}")
        _copy_into(connection, fetched)
        yield connection


@contextmanager
def open_previous(settings: Settings, tables: Iterable[str]) -> Iterator[duckdb.DuckDBPyConnection]:
    """The published version a rollback would put back, as a read-only DuckDB connection (on
    Spark, the ``tables`` read from that version)."""
    if not settings.engine.is_spark:
        previous = duckdb_publish.previous_version(settings)
        with duckdb.connect(str(previous), read_only=True) as connection:
            yield connection
        return

    with spark_session(settings.engine) as session, duckdb.connect() as connection:
        version = spark_publish.previous_version(session, settings.engine)
        fetched = {}
        for table in tables:
            schema, name = table.split(".")
            fetched[table] = session.arrow(f"select * from {quoted(version, f'{schema}__{name}')}")
        _copy_into(connection, fetched)
        yield connection


def _copy_into(connection: duckdb.DuckDBPyConnection, tables: dict) -> None:
    for table, arrow in tables.items():
        schema, name = table.split(".")
        connection.execute(f'create schema if not exists "{schema}"')
        connection.register("fetched", arrow)
        connection.execute(f'create table "{schema}"."{name}" as select * from fetched')
        connection.unregister("fetched")


def count_built_rows(settings: Settings, tables: Iterable[str]) -> dict[str, int]:
    """Rows of each ``schema.table`` this run built."""
    tables = list(tables)
    if settings.engine.is_spark:
        built = {
            table: "{}.{}".format(build_schema(settings.engine, table.split(".")[0]),
                                  table.split(".")[1])
            for table in tables
        }  # fmt: skip
        with spark_session(settings.engine) as session:
            counts = count_rows(session, list(built.values()))
        return {table: counts[name] for table, name in built.items()}
    with duckdb_publish.connect_working(settings, read_only=True) as connection:
        return {
            table: connection.execute(
                'select count(*) from "{}"."{}"'.format(*table.split("."))
            ).fetchone()[0]
            for table in tables
        }
