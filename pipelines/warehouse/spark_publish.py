"""Publishing on the Spark cluster, and rollback (WELFARE_ENGINE=spark).

dbt builds into private schemas (``<prefix>_build_<layer>``). Publishing copies the published
layers (marts and audit) into a new version database, ``<prefix>_v<UTC stamp>``, as Parquet
tables named ``<schema>__<table>``, and only then points each of the names analysts query,
``marts.<table>`` and ``audit.<table>``, at the copy: one ``create or replace view`` per table.
A run that fails or is held before that step leaves every published view as it was. A version
database records its state in its properties (``welfare.state``: pending, published,
rolled_back); the last few published versions are kept for ``welfare rollback``.
"""

from __future__ import annotations

import datetime as dt

from pipelines.foundation.pause_points import pause_point
from pipelines.foundation.settings import EngineSettings, Settings
from pipelines.ingest.lake_tables import DQ_RESULT_SCHEMA, DQ_RESULTS
from pipelines.warehouse.publication import KEEP_VERSIONS, PUBLISHED_SCHEMAS, Published
from pipelines.warehouse.spark_thrift import ThriftSession, count_rows, quoted, spark_session

STATE = "welfare.state"


def build_schema(engine: EngineSettings, layer: str) -> str:
    """The private schema a run builds ``layer`` into (generate_schema_name.sql, spark)."""
    return f"{engine.spark_build_prefix}_{layer}"


def _version_prefix(engine: EngineSettings) -> str:
    return f"{engine.spark_prefix}_v"


def publication_complete(settings: Settings) -> bool:
    """Nothing is written besides the cluster's tables and views."""
    return True


def location(settings: Settings) -> str:
    engine = settings.engine
    return f"marts.* and audit.* on the Spark Thrift server {engine.spark_host}:{engine.spark_port}"


def _built_tables(session: ThriftSession, engine: EngineSettings) -> list[tuple[str, str]]:
    return [
        (schema, name)
        for schema in PUBLISHED_SCHEMAS
        for name in session.tables(build_schema(engine, schema))
    ]


def published_tables(session: ThriftSession) -> list[tuple[str, str]]:
    return [(schema, name) for schema in PUBLISHED_SCHEMAS for name in session.tables(schema)]


def _versions(session: ThriftSession, engine: EngineSettings) -> list[tuple[str, str]]:
    """(database, state) of every version, newest first."""
    prefix = _version_prefix(engine)
    names = sorted(
        (name for (name,) in session.rows("show databases") if name.startswith(prefix)),
        reverse=True,
    )
    return [(name, _state(session, name)) for name in names]


def _state(session: ThriftSession, database: str) -> str:
    for row in session.rows(f"describe database extended `{database}`"):
        if row[0] == "Properties" and f"({STATE}," in row[1]:
            return row[1].split(f"({STATE},", 1)[1].split(")", 1)[0].strip()
    return "pending"


def _set_state(session: ThriftSession, database: str, state: str) -> None:
    session.execute(f"alter database `{database}` set dbproperties ('{STATE}' = '{state}')")


def last_publish(settings: Settings) -> tuple[str, str] | None:
    """(version, input fingerprint) of what analysts see now, if anything is published."""
    with spark_session(settings.engine) as session:
        return _last_publish(session)


def _last_publish(session: ThriftSession) -> tuple[str, str] | None:
    if "publishes" not in session.tables("audit"):
        return None
    rows = session.rows(
        "select version, fingerprint from audit.publishes order by published_at desc limit 1"
    )
    return rows[0] if rows else None


def publish(settings: Settings, fingerprint: str, run_id: str | None = None) -> Published:
    engine = settings.engine
    now = dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    with spark_session(engine) as session:
        last = _last_publish(session)
        if last and last[1] == fingerprint:
            counts = count_rows(session, [f"{s}.{n}" for s, n in published_tables(session)])
            return Published(last[0], location(settings), counts, [], unchanged=True)
        audit = build_schema(engine, "audit")
        session.execute(f"create database if not exists `{audit}`")
        session.execute(
            f"create table if not exists {quoted(audit, 'publishes')} (published_at timestamp, "
            "version string, run_id string, fingerprint string) using parquet"
        )
        session.execute(
            f"insert into {quoted(audit, 'publishes')} values (timestamp "
            f"'{now:%Y-%m-%d %H:%M:%S.%f}', '{stamp}', {_literal(run_id)}, '{fingerprint}')"
        )
        _load_dq_results(session, settings, audit)
        tables = _built_tables(session, engine)
        version = f"{_version_prefix(engine)}{stamp.lower()}"
        session.execute(f"create database `{version}`")
        _set_state(session, version, "pending")
        for schema, name in tables:
            session.execute(
                f"create table {quoted(version, f'{schema}__{name}')} using parquet as "
                f"select * from {quoted(build_schema(engine, schema), name)}"
            )
        pause_point("publish.before_swap")
        _point_views_at(session, version, tables)
        _set_state(session, version, "published")
        counts = count_rows(session, [f"{s}.{n}" for s, n in tables])
        pause_point("publish.before_parquet")
        _prune(session, engine, KEEP_VERSIONS)
    return Published(stamp, location(settings), counts, [])


def _literal(value: str | None) -> str:
    if value is None:
        return "null"
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _load_dq_results(session: ThriftSession, settings: Settings, audit: str) -> None:
    """The data-quality results the checks wrote to the lake, as audit.dq_results."""
    target = quoted(audit, DQ_RESULTS)
    session.execute(f"drop table if exists {target}")
    if any((settings.lake / DQ_RESULTS).glob("*.parquet")):
        session.execute(
            f"create table {target} using parquet as select * from "
            f"parquet.`{settings.lake_uri}/{DQ_RESULTS}` order by checked_at"
        )
    else:
        columns = ", ".join(f"{f.name} {_spark_type(f.type)}" for f in DQ_RESULT_SCHEMA)
        session.execute(f"create table {target} ({columns}) using parquet")


def _spark_type(arrow_type) -> str:
    import pyarrow as pa

    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type):
        return "bigint"
    return "string"


def _point_views_at(session: ThriftSession, version: str, tables: list[tuple[str, str]]) -> None:
    """Each published name becomes a view of the version's copy (one statement per table);
    a name the version no longer has is dropped."""
    for schema in PUBLISHED_SCHEMAS:
        session.execute(f"create database if not exists `{schema}`")
    for schema, name in tables:
        session.execute(
            f"create or replace view {quoted(schema, name)} as "
            f"select * from {quoted(version, f'{schema}__{name}')}"
        )
    for schema, name in set(published_tables(session)) - set(tables):
        session.execute(f"drop view if exists {quoted(schema, name)}")


def _prune(session: ThriftSession, engine: EngineSettings, keep: int) -> None:
    """Keep the last ``keep`` published versions (and set-aside ones); drop older ones and
    those of stopped runs (pending). Never the one analysts see now, whatever its state (a run
    stopped between repointing the views and marking it published leaves it pending)."""
    last = _last_publish(session)
    current = f"{_version_prefix(engine)}{last[0].lower()}" if last else None
    seen = {"published": 0, "rolled_back": 0}
    for database, state in _versions(session, engine):
        if database == current:
            continue
        if state in seen:
            seen[state] += 1
            if seen[state] <= keep:
                continue
        session.execute(f"drop database if exists `{database}` cascade")


def versions(settings: Settings) -> list[str]:
    """Published versions on the cluster, newest first (their stamps)."""
    prefix = _version_prefix(settings.engine)
    with spark_session(settings.engine) as session:
        return [
            name.removeprefix(prefix)
            for name, state in _versions(session, settings.engine)
            if state == "published"
        ]


def previous_version(session: ThriftSession, engine: EngineSettings) -> str:
    """The version database a rollback would point the published names back at."""
    prefix = _version_prefix(engine)
    last = _last_publish(session)
    current = f"{prefix}{last[0].lower()}" if last else None
    available = [name for name, state in _versions(session, engine) if state == "published"]
    older = [name for name in available if current and name < current]
    if not older:
        raise RuntimeError(
            "戻せる以前の版がありません。 / There is no earlier published version to roll back to."
        )
    return older[0]


def rollback(settings: Settings) -> str:
    """Point the published names back at the previous version; the newer ones are set aside
    (state rolled_back; the last few are kept)."""
    engine = settings.engine
    prefix = _version_prefix(engine)
    with spark_session(engine) as session:
        available = [name for name, state in _versions(session, engine) if state == "published"]
        previous = previous_version(session, engine)
        tables = [tuple(name.split("__", 1)) for name in session.tables(previous) if "__" in name]
        _point_views_at(session, previous, tables)
        for name in available:
            if name > previous:
                _set_state(session, name, "rolled_back")
    return previous.removeprefix(prefix)
