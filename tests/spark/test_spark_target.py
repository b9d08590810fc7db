"""The same dbt project on Apache Spark (issue 9): `make test-spark` runs this module.

The shipped sample submissions are taken into a real Parquet lake, then the whole dbt project
(every model, dbt test and unit test) is built twice from that lake: on DuckDB (the default
target) and on Spark (PySpark in local mode, the `spark` target). Every mart and audit table
must be equal row for row. A model given a DuckDB-only function must fail on Spark: that is
how this suite catches engine-specific SQL written outside the dispatch macros.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import subprocess
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest.contract import all_contracts
from pipelines.ingest.intake import ingest_source
from pipelines.settings import Settings
from pipelines.workspace import initialize_lake, load_sample, run_dbt

pyspark = pytest.importorskip(
    "pyspark", reason="the Spark extra is not installed: run `make test-spark`"
)

COMPARED_SCHEMAS = ("marts", "audit")
DECIMALS = 6  # DuckDB computes x/100.0 in DOUBLE, Spark in DECIMAL: compare after rounding


def _build(settings: Settings, target: str, target_path: Path) -> subprocess.CompletedProcess:
    result = run_dbt(
        settings,
        ["build", "--target", target],
        quiet=False,
        target_path=target_path,
    )
    log = target_path / f"build-{target}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(result.stdout + "\n" + result.stderr, encoding="utf-8")
    return result


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict:
    """One lake from the sample, built on both engines."""
    home = tmp_path_factory.mktemp("spark_home")
    settings = Settings(home).ensure()
    initialize_lake(settings)
    load_sample(settings)
    for contract in all_contracts():
        ingest_source(settings, contract, progress=lambda _message: None)

    duckdb_build = _build(settings, "duckdb", home / "dbt_duckdb")
    spark_build = _build(settings, "spark", home / "dbt_spark")
    return {
        "settings": settings,
        "duckdb": duckdb_build,
        "spark": spark_build,
        "manifest": json.loads((home / "dbt_spark" / "manifest.json").read_text()),
    }


def _summary(result) -> str:
    lines = [line for line in result.stdout.splitlines() if "Done." in line or "ERROR" in line]
    return "\n".join(lines[-20:]) or result.stdout[-3000:] + result.stderr[-3000:]


def _results(target_path: Path) -> dict[str, str]:
    run_results = json.loads((target_path / "run_results.json").read_text())
    return {result["unique_id"]: result["status"] for result in run_results["results"]}


def test_every_model_test_and_unit_test_passes_on_both_engines(builds):
    home = builds["settings"].home
    assert builds["duckdb"].returncode == 0, _summary(builds["duckdb"])
    assert builds["spark"].returncode == 0, _summary(builds["spark"])

    duckdb_nodes = _results(home / "dbt_duckdb")
    spark_nodes = _results(home / "dbt_spark")
    assert duckdb_nodes.keys() == spark_nodes.keys()
    kinds = {unique_id.split(".")[0] for unique_id in spark_nodes}
    assert {"model", "seed", "test", "unit_test"} <= kinds
    passed = {"success", "pass", "no-op"}  # models and seeds succeed, tests pass
    failing = {node: status for node, status in spark_nodes.items() if status not in passed}
    assert failing == {}, failing
    assert sum(node.startswith("unit_test.") for node in spark_nodes) >= 4


def _normalize(value):
    if isinstance(value, float | decimal.Decimal):
        return round(float(value), DECIMALS)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _sorted_rows(rows) -> list[tuple]:
    normalized = [tuple(_normalize(value) for value in row) for row in rows]
    return sorted(normalized, key=lambda row: tuple((v is None, str(v)) for v in row))


def _spark_session(settings: Settings):
    from pyspark.sql import SparkSession

    spark_home = settings.spark_home
    return (
        SparkSession.builder.master("local[2]")
        .appName("welfare-warehouse-compare")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", f"{spark_home}/warehouse")
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={spark_home}/metastore_db;create=true",
        )
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={spark_home}")
        .enableHiveSupport()
        .getOrCreate()
    )


@pytest.fixture(scope="module")
def spark(builds):
    """A Spark session on the catalog the Spark build wrote (one JVM for the module)."""
    session = _spark_session(builds["settings"])
    yield session
    session.stop()


def test_every_mart_is_equal_on_spark_and_duckdb(builds, spark):
    assert builds["spark"].returncode == 0, _summary(builds["spark"])
    settings = builds["settings"]
    tables = sorted(
        (node["schema"], node["alias"])
        for node in builds["manifest"]["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] in COMPARED_SCHEMAS
    )
    assert ("marts", "place_counts") in tables and len(tables) >= 14

    differences: dict[str, tuple] = {}
    compared: dict[str, int] = {}
    with duckdb.connect(str(settings.working_db), read_only=True) as con:
        for schema, table in tables:
            duck = con.sql(f"select * from {schema}.{table}")
            spark_frame = spark.table(f"{schema}.{table}")
            duck_columns = [column.lower() for column in duck.columns]
            if duck_columns != [column.lower() for column in spark_frame.columns]:
                differences[f"{schema}.{table}"] = (
                    "columns",
                    duck.columns,
                    spark_frame.columns,
                )
                continue
            duck_rows = _sorted_rows(duck.fetchall())
            spark_rows = _sorted_rows(tuple(row) for row in spark_frame.collect())
            if duck_rows != spark_rows:
                only_duck = [row for row in duck_rows if row not in spark_rows][:3]
                only_spark = [row for row in spark_rows if row not in duck_rows][:3]
                differences[f"{schema}.{table}"] = (
                    len(duck_rows),
                    len(spark_rows),
                    only_duck,
                    only_spark,
                )
            compared[f"{schema}.{table}"] = len(duck_rows)
    assert differences == {}, differences
    # Only the logs of failed runs and of extracts may be empty: everything else was compared.
    empty = [name for name, rows in compared.items() if rows == 0]
    assert empty == ["audit.extracts", "audit.run_failures"]


def _compiled(target_path: Path, model: str) -> str:
    models = target_path / "compiled" / "welfare_warehouse" / "models"
    return (models / "intermediate" / f"{model}.sql").read_text(encoding="utf-8")


def test_engine_specific_sql_outside_the_dispatch_macros_fails_on_spark(builds, spark):
    """The check this suite exists for: a DuckDB-only function in a model breaks on Spark.

    The model's SQL as each engine's build compiled it, with `strftime` added outside the
    dispatch macros, is run as it would be built: on DuckDB it runs, on Spark it fails.
    """
    from pyspark.errors import AnalysisException

    home = builds["settings"].home
    model = "int_plan_indicators_current"
    injected = "select indicators.*, strftime(current_date, '%Y') as built_year"
    on_spark = _compiled(home / "dbt_spark", model)
    on_duckdb = _compiled(home / "dbt_duckdb", model)
    assert "select indicators.*" in on_spark and "select indicators.*" in on_duckdb
    spark.sql(on_spark).collect()  # the model as shipped runs on Spark
    with duckdb.connect(str(builds["settings"].working_db), read_only=True) as con:
        con.sql(on_duckdb.replace("select indicators.*", injected)).fetchall()  # fine on DuckDB
    with pytest.raises(AnalysisException) as failure:
        spark.sql(on_spark.replace("select indicators.*", injected)).collect()
    assert "UNRESOLVED_ROUTINE" in str(failure.value) and "strftime" in str(failure.value)
