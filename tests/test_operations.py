"""Operations: the landing sensor, safe publishing under readers and kills, rollback, failures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.defs.build import build_definitions
from pipelines.ingest.lake import Lake
from pipelines.runner import run_pipeline
from pipelines.settings import Settings
from pipelines.warehouse.publish import versions
from tests.conftest import MINIMAL_PATH, copy_sample, ward_file, welfare_cli

pytestmark = pytest.mark.slow

KITA = "令和6年度_北区_居場所.csv"
CHUO = "FY2024_Chuo-ku_places.xlsx"
NEW_WARD_FILE = "R7_北区_居場所.csv"  # FY2025: not in the sample


def send_next_year(settings: Settings) -> None:
    ward_file(
        settings,
        NEW_WARD_FILE,
        [f"R7,北区,曽根崎地域,K7-{n},サロン{n},高齢者サロン,12,240" for n in range(3)],
    )


@pytest.fixture
def mini(new_home) -> Settings:
    """A WELFARE_HOME with two ward files and the plan indicators."""
    settings = new_home
    copy_sample(settings, "ibasho_survey", KITA)
    copy_sample(settings, "plan_indicators", "R6_推進計画_実績指標.xlsx")
    return settings


def places(connection) -> int:
    return connection.execute("select sum(places) from marts.place_counts").fetchone()[0]


def test_the_sensor_requests_one_run_per_batch_of_new_files_and_never_twice(mini):
    defs = build_definitions(mini)
    sensor = defs.resolve_sensor_def("landing_sensor")
    with dg.instance_for_test() as instance:
        first = sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, resources=defs.resources)
        )
        assert (
            len(first.run_requests) == 1 and first.run_requests[0].tags["welfare/new_files"] == "2"
        )
        again = sensor.evaluate_tick(
            dg.build_sensor_context(
                instance=instance, cursor=first.cursor, resources=defs.resources
            )
        )
        assert again.run_requests == [] and again.skip_message
        copy_sample(mini, "ibasho_survey", CHUO)  # lands after the first request
        later = sensor.evaluate_tick(
            dg.build_sensor_context(
                instance=instance, cursor=first.cursor, resources=defs.resources
            )
        )
        assert len(later.run_requests) == 1
        assert later.run_requests[0].tags["welfare/new_files"] == "1"
        assert later.run_requests[0].run_key != first.run_requests[0].run_key
    # What the requested run takes in: each file exactly once.
    from pipelines.ingest.contract import all_contracts
    from pipelines.ingest.intake import ingest_source

    for contract in all_contracts():
        ingest_source(mini, contract)
        ingest_source(mini, contract)
    ledger = Lake(mini.lake).ledger()
    assert sorted(ledger["file_name"]) == sorted([KITA, CHUO, "R6_推進計画_実績指標.xlsx"])


def test_faults_leave_the_warehouse_as_it_was_and_readers_keep_their_version(published_home):
    """One home through a kill, a failed run, a run under an open reader, and a rollback (each
    step would otherwise cost a pipeline run to set up)."""
    mini = published_home
    published = mini.warehouse.read_bytes()
    kept = len(versions(mini))
    with duckdb.connect(str(mini.warehouse), read_only=True) as db:
        received = db.execute("select count(*) from audit.submissions").fetchone()[0]
    send_next_year(mini)
    # 1. Killed while dbt builds. The entry point is started by its full path with a minimal
    # PATH, as cron or systemd start it: dbt must be found beside the interpreter.
    env = {
        **os.environ,
        "WELFARE_HOME": str(mini.home),
        "PYTHONUNBUFFERED": "1",
        "PATH": MINIMAL_PATH,
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("welfare")), "run"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    building = False
    for line in process.stdout:  # kill it while dbt is building the private database
        building = "warehouse: built" in line
        if building or time.monotonic() > deadline:
            break
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert building, "dbt never started: is it found without the environment on PATH?"
    assert mini.warehouse.read_bytes() == published

    # 2. The next run fails (a broken working database): recorded, publishing never starts.
    mini.working_db.unlink()
    mini.working_db.mkdir()  # dbt cannot open a directory as its database
    summary = run_pipeline(mini)
    assert not summary.success and summary.failed_steps
    assert mini.warehouse.read_bytes() == published
    defs = build_definitions(mini)
    sensor = defs.resolve_sensor_def("run_failure_recorder")
    instance = dg.DagsterInstance.from_config(str(mini.dagster_home))
    run = instance.get_run_by_id(summary.run_id)
    failure = next(
        r.event_log_entry.dagster_event
        for r in instance.get_records_for_run(
            summary.run_id, of_type=dg.DagsterEventType.PIPELINE_FAILURE
        ).records
    )
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_recorder",
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=run,
        resources=defs.resources,
    ).for_run_failure()
    sensor(context)

    # 3. Repaired: the next run completes while an analyst's connection stays open. The reader
    # keeps the version it opened, whole; reconnecting shows the new one, which took the new
    # file once and recorded the failed run.
    mini.working_db.rmdir()
    reader = duckdb.connect(str(mini.warehouse), read_only=True)
    before = places(reader)
    recovered = run_pipeline(mini)
    assert recovered.success and recovered.published
    assert places(reader) == before
    reader.close()
    with duckdb.connect(str(mini.warehouse), read_only=True) as db:
        assert places(db) > before
        assert db.execute("select count(*) from audit.submissions").fetchone()[0] == received + 1
        rows = db.execute("select run_id, failed_steps from audit.run_failures").fetchall()
    assert rows and rows[0][0] == summary.run_id and "warehouse_models" in rows[0][1]

    # 4. welfare rollback puts the previous version back.
    assert len(versions(mini)) == kept + 1
    rolled = welfare_cli(mini.home, "rollback")
    assert rolled.returncode == 0, rolled.stderr
    with duckdb.connect(str(mini.warehouse), read_only=True) as restored:
        assert places(restored) == before
