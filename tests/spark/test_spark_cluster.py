"""The nightly job on a Spark cluster (issue 17): `make test-spark` runs this module.

A real standalone cluster (master, one worker, the Spark Thrift Server) is started on
127.0.0.1 from the PySpark distribution (tests/spark/local_cluster.py) and stopped at the end,
also when a test fails. On a copy of the DuckDB sample run's WELFARE_HOME (same lake, same
archive), the real `welfare run` runs with WELFARE_ENGINE=spark: dbt builds on the cluster
through the Thrift server (`method: thrift`), the mart suites check what the cluster built,
publishing points marts.* and audit.* at a new version on the cluster, and the overview report
is built from the cluster. Every published table must equal the DuckDB run's, row for row.
Then a blocking check is made to fail (the published tables do not change), a version is
forced over it and `welfare rollback` brings the previous one back.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.foundation.settings import PROJECT_ROOT, EngineSettings, Settings
from tests.conftest import ARTIFACTS, check_then_publish, copy_home, welfare_cli

pytest.importorskip("pyhive", reason="the Spark extra is not installed: run `make test-spark`")

from pipelines.warehouse import spark_publish
from pipelines.warehouse.duckdb_publish import connect_working
from pipelines.warehouse.spark_thrift import ThriftSession, spark_session
from tests.spark.local_cluster import LocalCluster

DECIMALS = 6  # DuckDB computes x/100.0 in DOUBLE, Spark in DECIMAL: compare after rounding
# Differ by nature between two runs: when each version was published, and the check results
# each run recorded (both are checked for what they say below).
RUN_LOGS = {"audit.publishes", "audit.dq_results"}


@pytest.fixture(scope="session")  # session: started before waiting for the shared sample run
def cluster(tmp_path_factory):
    started = time.monotonic()
    cluster = LocalCluster(tmp_path_factory.mktemp("spark_cluster")).start()
    cluster.started_in = time.monotonic() - started
    try:
        yield cluster
    finally:
        cluster.stop()
        _record(cluster, total_seconds=time.monotonic() - started)


def _record(cluster: LocalCluster, **figures) -> None:
    """What the test cluster cost (README, "When one machine is not enough")."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "spark-cluster.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    known.update(getattr(cluster, "figures", {}), started_in=cluster.started_in, **figures)
    path.write_text(json.dumps(known, indent=2))


def _engine(cluster: LocalCluster) -> EngineSettings:
    return EngineSettings(kind="spark", spark_port=cluster.thrift_port)


def _environment(settings: Settings) -> dict[str, str]:
    """The one setting that selects the engine (and where this test's cluster listens)."""
    return {"WELFARE_ENGINE": "spark", "WELFARE_SPARK_PORT": str(settings.engine.spark_port)}


@pytest.fixture(scope="session")
def spark_run(cluster, sample_run, tmp_path_factory):
    """`welfare run` with WELFARE_ENGINE=spark on a copy of the DuckDB sample run's home."""
    duckdb_home, _ = sample_run
    home = copy_home(duckdb_home.home, tmp_path_factory.mktemp("spark_run") / "welfare_home")
    settings = Settings(home.home, engine=_engine(cluster))
    started = time.monotonic()
    result = welfare_cli(settings.home, "run", env=_environment(settings))
    cluster.figures = {
        "welfare_run_seconds": round(time.monotonic() - started, 1),
        "after_the_run": cluster.usage(),
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "spark-run.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    return settings, duckdb_home, result


def _normalize(value):
    if isinstance(value, float | decimal.Decimal):
        return round(float(value), DECIMALS)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _sorted_rows(rows) -> list[tuple]:
    normalized = [tuple(_normalize(value) for value in row) for row in rows]
    return sorted(normalized, key=lambda row: tuple((v is None, str(v)) for v in row))


def _tuples(table) -> list[tuple]:
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))


def _published_on_spark(session: ThriftSession) -> dict[str, list[tuple]]:
    return {
        f"{schema}.{name}": _sorted_rows(_tuples(session.arrow(f"select * from {schema}.{name}")))
        for schema, name in spark_publish.published_tables(session)
    }


def test_the_whole_job_runs_on_the_cluster_and_publishes_there(spark_run):
    settings, _, result = spark_run
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "SUCCEEDED" in result.stdout
    assert "Published: marts.* and audit.* on the Spark Thrift server" in result.stdout
    assert "places (居場所): FY2022 1,791, FY2023 1,920, FY2024 2,182" in result.stdout
    assert "Checks: " in result.stdout and ", 0 failed" in result.stdout
    # dbt built on the cluster: the private build schemas, every test passed.
    with spark_session(settings.engine) as session:
        databases = {name for (name,) in session.rows("show databases")}
        assert {"welfare_build_staging", "welfare_build_marts", "marts", "audit"} <= databases
        [(version, state)] = [
            (name, spark_publish._state(session, name))
            for name in databases
            if name.startswith("welfare_v")
        ]
        assert state == "published"
        views = session.rows("show views in marts")
        assert len(views) >= 10  # analysts query views onto the version's tables
    runs = sorted((settings.dbt_target_dir / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    results = json.loads((runs[-1] / "run_results.json").read_text())["results"]
    passed = {"success", "pass", "no-op"}  # models and seeds succeed, tests pass, exposures
    assert [r["unique_id"] for r in results if r["status"] not in passed] == []
    assert sum(r["unique_id"].startswith("test.") for r in results) >= 100
    # The report was read from the cluster and says which version it shows.
    report = (settings.reports / "overview.html").read_text(encoding="utf-8")
    assert version.removeprefix("welfare_v") in report.lower()
    assert "Spark Thrift server" in report


def test_every_published_table_equals_the_duckdb_run(spark_run):
    settings, duckdb_home, result = spark_run
    assert result.returncode == 0, result.stdout[-4000:]
    with spark_session(settings.engine) as session:
        on_spark = _published_on_spark(session)
    with duckdb.connect(str(duckdb_home.warehouse), read_only=True) as connection:
        tables = connection.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema in ('marts', 'audit') order by 1"
        ).fetchall()
        on_duckdb = {
            name: _sorted_rows(connection.execute(f"select * from {name}").fetchall())
            for (name,) in tables
        }
    assert on_spark.keys() == on_duckdb.keys()
    assert "marts.place_counts" in on_spark and len(on_spark) >= 15
    differences = {
        name: (len(rows), len(on_spark[name]), [r for r in rows if r not in on_spark[name]][:3])
        for name, rows in on_duckdb.items()
        if name not in RUN_LOGS and rows != on_spark[name]
    }
    assert differences == {}
    empty = sorted(name for name, rows in on_spark.items() if not rows)
    # Nothing failed, extracted, reminded, reviewed, kept, closed or held back by a closing.
    assert empty == [
        "audit.consultations_held", "audit.extracts", "audit.reminders", "audit.reviews", "audit.run_failures",
        "audit.vintages", "audit.year_closings",
    ]  # fmt: skip
    # The run's own logs: the one version it published, the mart suites it ran on the cluster.
    [(_, version, _, fingerprint)] = on_spark["audit.publishes"]
    assert spark_publish.last_publish(settings) == (version, fingerprint)
    suites = {row[2] for row in on_spark["audit.dq_results"] if row[3].startswith("marts.")}
    assert suites == {"consultation_months", "place_counts_by_ward", "submission_completeness"}


def test_engine_specific_sql_fails_on_the_cluster(spark_run):
    """A DuckDB-only function in a model fails on Spark (the check for SQL written outside the
    dispatch macros). The models' unit tests run on DuckDB (tests/test_dbt_checks.py); every
    model runs on the cluster in the whole job above and equals DuckDB's."""
    settings, duckdb_home, _ = spark_run

    def compiled(home: Settings) -> str:
        runs = sorted((home.dbt_target_dir / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
        path = next(runs[-1].glob("compiled/**/int_plan_indicators_current.sql"))
        return path.read_text(encoding="utf-8")

    injected = "select staged_rows.*, strftime(current_date, '%Y') as built_year"
    on_spark, on_duckdb = compiled(settings), compiled(duckdb_home)
    assert "select staged_rows.*" in on_spark and "welfare_build_" in on_spark
    with connect_working(duckdb_home, read_only=True) as con:
        con.sql(on_duckdb.replace("select staged_rows.*", injected)).fetchall()  # fine there
    with spark_session(settings.engine) as session:
        session.rows(on_spark)  # the model as shipped runs on the cluster
        with pytest.raises(Exception, match="UNRESOLVED_ROUTINE") as failure:
            session.rows(on_spark.replace("select staged_rows.*", injected))
    assert "strftime" in str(failure.value)


def _break_a_ward(session: ThriftSession) -> None:
    """北区 has no places in what the run built (as the DuckDB check test does)."""
    built = "welfare_build_marts.place_counts_by_ward"
    columns = session.arrow(f"select * from {built} limit 0").column_names
    select = ", ".join(
        "case when ward_name = '北区' then 0 else places end as places" if c == "places" else c
        for c in columns
    )
    session.execute(f"create table {built}_broken using parquet as select {select} from {built}")
    session.execute(f"drop table {built}")
    session.execute(f"alter table {built}_broken rename to {built}")


def _north_ward_places(session: ThriftSession) -> int:
    [(places,)] = session.rows(
        "select sum(places) from marts.place_counts_by_ward where ward_name = '北区'"
    )
    return int(places)


def test_a_failed_blocking_check_leaves_the_cluster_as_published_then_rollback(spark_run):
    from pipelines.defs.warehouse import PUBLISHED_KEY
    from pipelines.warehouse.engine import publish, rollback

    settings, _, result = spark_run
    assert result.returncode == 0, result.stdout[-4000:]
    with spark_session(settings.engine) as session:
        before = _published_on_spark(session)
        published = spark_publish.last_publish(settings)
        north = _north_ward_places(session)
        _break_a_ward(session)
    assert north > 0

    with pytest.MonkeyPatch.context() as env:
        for key, value in _environment(settings).items():  # the run's resources read it
            env.setenv(key, value)
        outcome = check_then_publish(
            settings, ["marts", "place_counts_by_ward"], "gx_place_counts_by_ward"
        )
    [evaluation] = outcome.get_asset_check_evaluations()
    assert not evaluation.passed and "提出した区は1か所以上" in evaluation.description
    assert "令和6年度_北区_居場所.csv" in evaluation.description  # the file behind it
    assert not any(e.asset_key == PUBLISHED_KEY for e in outcome.get_asset_materialization_events())
    with spark_session(settings.engine) as session:
        assert _published_on_spark(session) == before  # analysts see what they saw
    assert spark_publish.last_publish(settings) == published

    # Forced over the failed check (as an operator could), then rolled back with the CLI.
    forced = publish(settings, "forced-over-a-failed-check", run_id="test")
    assert not forced.unchanged
    with spark_session(settings.engine) as session:
        assert _north_ward_places(session) == 0
    rolled = welfare_cli(settings.home, "rollback", env=_environment(settings))
    assert rolled.returncode == 0, rolled.stderr
    assert published[0].lower() in rolled.stdout.lower()
    with spark_session(settings.engine) as session:
        assert _north_ward_places(session) == north
        assert _published_on_spark(session) == before
    assert spark_publish.last_publish(settings) == published
    assert spark_publish.versions(settings) == [published[0].lower()]
    # Nothing older: a second rollback says so.
    with pytest.raises(RuntimeError, match="no earlier published version"):
        rollback(settings)


def test_the_cluster_listens_on_loopback_only(cluster):
    listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
    ports = {cluster.thrift_port, cluster.master_port}
    for line in listening:
        local, state = line.split()[1], line.split()[3]
        address, port = local.split(":")
        if state == "0A" and int(port, 16) in ports:  # LISTEN
            assert address == "0100007F", f"port {int(port, 16)} listens on {address}"
    assert os.getpgid(cluster.processes["thriftserver"].pid) != os.getpgid(0)


def test_extracts_and_the_submission_page_read_what_the_cluster_published(spark_run):
    from pipelines.extracts.package import build_extract
    from pipelines.extracts.spec import extractable_marts, load_spec
    from pipelines.web import status

    settings, duckdb_home, result = spark_run
    assert result.returncode == 0, result.stdout[-4000:]
    spec = load_spec(
        PROJECT_ROOT / "sources" / "extracts" / "places_and_facilities.yml",
        extractable_marts(settings.dbt_target_dir / "manifest.json"),
    )
    extract = build_extract(settings, spec, requested_by="test")
    assert extract.zip_path.exists()
    assert extract.warehouse_version == spark_publish.last_publish(settings)[0]
    received = status.submissions(settings, None)
    with duckdb.connect(str(duckdb_home.warehouse), read_only=True) as connection:
        [(files,)] = connection.execute("select count(*) from audit.submissions").fetchall()
    assert received is not None and len(received) == files
