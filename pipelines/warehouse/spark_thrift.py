"""Talking to the Spark cluster through its Thrift server (HiveServer2 protocol, PyHive).

The one place that opens connections to the cluster and turns its answers into Arrow tables.
PyHive is part of the Spark extra (`uv sync --extra spark`); it is imported only when the
engine is Spark, so the default DuckDB install neither needs nor loads it.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from pipelines.foundation.settings import EngineError, EngineSettings

FETCH_ROWS = 10_000

# HiveServer2 column types → Arrow. PyHive returns dates and timestamps as text, decimals as
# Decimal (or text): they are parsed here once, so every reader gets proper types.
_ARROW_TYPES: dict[str, pa.DataType] = {
    "BOOLEAN_TYPE": pa.bool_(),
    "TINYINT_TYPE": pa.int32(),
    "SMALLINT_TYPE": pa.int32(),
    "INT_TYPE": pa.int32(),
    "BIGINT_TYPE": pa.int64(),
    "FLOAT_TYPE": pa.float64(),
    "DOUBLE_TYPE": pa.float64(),
    "DECIMAL_TYPE": pa.float64(),
    "DATE_TYPE": pa.date32(),
    "TIMESTAMP_TYPE": pa.timestamp("us"),
}


class SparkUnavailable(EngineError):
    pass


def _connect(engine: EngineSettings):
    try:
        from pyhive import hive
    except ImportError as missing:
        raise SparkUnavailable(
            "WELFARE_ENGINE=spark needs the Spark extra: `uv sync --extra spark` "
            "(PyHive and dbt-spark)."
        ) from missing
    try:
        return hive.connect(
            engine.spark_host,
            port=engine.spark_port,
            username=engine.spark_user,
            configuration={"spark.sql.session.timeZone": "UTC"},
        )
    except Exception as failure:  # thrift raises transport errors of several kinds
        raise SparkUnavailable(
            f"The Spark Thrift server at {engine.spark_host}:{engine.spark_port} does not "
            f"answer ({failure}). Start it, or set WELFARE_SPARK_HOST / WELFARE_SPARK_PORT."
        ) from failure


class ThriftSession:
    """One Thrift session: run statements, fetch results as Arrow."""

    def __init__(self, connection) -> None:
        self._connection = connection

    def execute(self, sql: str) -> None:
        cursor = self._connection.cursor()
        try:
            cursor.execute(sql)
        finally:
            cursor.close()

    def rows(self, sql: str) -> list[tuple]:
        cursor = self._connection.cursor()
        try:
            cursor.execute(sql)
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def arrow(self, sql: str) -> pa.Table:
        cursor = self._connection.cursor()
        try:
            cursor.execute(sql)
            names = [column[0].split(".")[-1] for column in cursor.description]
            types = [_ARROW_TYPES.get(column[1], pa.string()) for column in cursor.description]
            columns: list[list[Any]] = [[] for _ in names]
            while batch := cursor.fetchmany(FETCH_ROWS):
                for row in batch:
                    for values, value in zip(columns, row, strict=True):
                        values.append(value)
            arrays = [
                pa.array([_convert(value, kind) for value in values], type=kind)
                for values, kind in zip(columns, types, strict=True)
            ]
            return pa.Table.from_arrays(arrays, names=names)
        finally:
            cursor.close()

    def tables(self, schema: str) -> list[str]:
        """Tables and views of ``schema`` (empty when the schema does not exist)."""
        if schema.lower() not in {name for (name,) in self.rows("show databases")}:
            return []
        return sorted(row[1] for row in self.rows(f"show tables in `{schema}`"))


def _convert(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if kind == pa.date32() and isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if kind == pa.timestamp("us") and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    if kind == pa.float64() and isinstance(value, str | decimal.Decimal):
        return float(value)
    if kind == pa.string() and not isinstance(value, str):
        return str(value)
    return value


@contextmanager
def spark_session(engine: EngineSettings) -> Iterator[ThriftSession]:
    connection = _connect(engine)
    try:
        yield ThriftSession(connection)
    finally:
        connection.close()


def quoted(*parts: str) -> str:
    return ".".join(f"`{part}`" for part in parts)


def count_rows(session: ThriftSession, tables: Sequence[str]) -> dict[str, int]:
    """Rows of each ``schema.table``, in one query (one Spark job, not one per table)."""
    if not tables:
        return {}
    union = " union all ".join(
        f"select '{table}' as name, count(*) as n from {quoted(*table.split('.'))}"
        for table in tables
    )
    return {name: int(n) for name, n in session.rows(union)}
