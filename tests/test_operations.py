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
from pipelines.operations.pause_points import PAUSE_AT, PAUSE_DIR
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


def exported_places(parquet: Path) -> int:
    with duckdb.connect() as db:
        return db.execute(f"select sum(places) from '{parquet}'").fetchone()[0]


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


# The publishing step alone, as the publish asset calls it, in a process of its own.
PUBLISH = (
    "from pipelines.settings import Settings; from pipelines.warehouse.publish import publish; "
    "from pipelines.workspace import inputs_fingerprint; s = Settings.from_env(); "
    "publish(s, inputs_fingerprint(s), run_id='killed-while-publishing')"
)


def start(settings: Settings, pause_at: str, pause_dir: Path, publishing: bool) -> subprocess.Popen:
    """`welfare run` (or only its publishing step) in its own process group, started by its
    full path with a minimal PATH as cron or systemd start it (dbt must be found beside the
    interpreter), to pause at ``pause_at``."""
    env = {
        **os.environ,
        "WELFARE_HOME": str(settings.home),
        "PATH": MINIMAL_PATH,
        PAUSE_AT: pause_at,
        PAUSE_DIR: str(pause_dir),
    }
    command = (
        [sys.executable, "-c", PUBLISH]
        if publishing
        else [str(Path(sys.executable).with_name("welfare")), "run"]
    )
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_at(settings: Settings, point: str, pause_dir: Path, publishing: bool = False) -> None:
    """Run until ``point``, then SIGKILL the whole process group (dbt included)."""
    process = start(settings, point, pause_dir, publishing)
    deadline = time.monotonic() + 180
    while not (pause_dir / point).exists():
        assert process.poll() is None, f"the run ended before reaching {point}"
        assert time.monotonic() < deadline, f"the run never reached {point}"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    (pause_dir / point).unlink()


def test_faults_leave_the_warehouse_as_it_was_and_readers_keep_their_version(
    published_home, tmp_path
):
    """One home through kills at every stage, a failed run, a run under an open reader, and a
    rollback (each step would otherwise cost a pipeline run to set up)."""
    mini = published_home
    pauses = tmp_path / "pauses"
    published = mini.warehouse.read_bytes()
    kept = len(versions(mini))
    with duckdb.connect(str(mini.warehouse), read_only=True) as db:
        received = db.execute("select count(*) from audit.submissions").fetchone()[0]
        before = places(db)
    send_next_year(mini)
    # 1. `welfare run` killed (SIGKILL to its process group) while reading the new file,
    # between its rows and its ledger entry, during dbt build and during the mart checks; each
    # run starts from what the one before left. The published warehouse stays byte for byte.
    for point in ("ingest.reading", "ingest.before_ledger", "dbt.build", "checks.marts"):
        kill_at(mini, point, pauses)
        assert mini.warehouse.read_bytes() == published, f"changed by a kill at {point}"
    # 2. Killed while publishing (the step alone, on the working database the last run built,
    # instead of a whole run up to it): after writing the new copy, before swapping it in...
    kill_at(mini, "publish.before_swap", pauses, publishing=True)
    assert mini.warehouse.read_bytes() == published
    assert len(versions(mini)) == kept  # the unpublished copy is no version to roll back to
    # ... and between the swap and the Parquet export, while an analyst's connection is open:
    # the reader keeps the version it opened, whole; reconnecting shows the new one, with the
    # new file taken in once; the Parquet files are still the old version's.
    reader = duckdb.connect(str(mini.warehouse), read_only=True)
    kill_at(mini, "publish.before_parquet", pauses, publishing=True)
    assert places(reader) == before
    reader.close()
    with duckdb.connect(str(mini.warehouse), read_only=True) as db:
        assert places(db) == before + 3
        assert db.execute("select count(*) from audit.submissions").fetchone()[0] == received + 1
    exported = mini.published / "marts" / "place_counts.parquet"
    assert exported_places(exported) == before
    swapped = mini.warehouse.read_bytes()

    # 3. The next run fails (a broken working database): recorded, publishing never starts.
    mini.working_db.unlink()
    mini.working_db.mkdir()  # dbt cannot open a directory as its database
    summary = run_pipeline(mini)
    assert not summary.success and summary.failed_steps
    assert mini.warehouse.read_bytes() == swapped
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

    # 4. Repaired: the next run publishes the failed run's record and brings the Parquet files
    # up to date; in all those runs the new file was taken in once.
    mini.working_db.rmdir()
    recovered = run_pipeline(mini)
    assert recovered.success and recovered.published, recovered.failed_steps
    with duckdb.connect(str(mini.warehouse), read_only=True) as db:
        assert places(db) == before + 3
        assert db.execute("select count(*) from audit.submissions").fetchone()[0] == received + 1
        rows = db.execute("select run_id, failed_steps from audit.run_failures").fetchall()
    assert rows and rows[0][0] == summary.run_id and "warehouse_models" in rows[0][1]
    assert exported_places(exported) == before + 3
    ledger = Lake(mini.lake).ledger()
    assert (ledger["file_name"] == NEW_WARD_FILE).sum() == 1

    # 5. welfare rollback puts the previous version back (the one swapped in before the kill).
    assert len(versions(mini)) == kept + 2
    rolled = welfare_cli(mini.home, "rollback")
    assert rolled.returncode == 0, rolled.stderr
    with duckdb.connect(str(mini.warehouse), read_only=True) as restored:
        assert places(restored) == before + 3
        assert restored.execute("select count(*) from audit.run_failures").fetchone()[0] == 0
