"""Operations: the landing sensor, and faults: kills at every stage, a full disk, a damaged or
lost lake, readers kept open, failed runs recorded, rollback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.defs.automation import going_warehouse_run
from pipelines.defs.build import build_definitions
from pipelines.defs.ingestion import INGEST_POOL
from pipelines.defs.instance import write_dagster_yaml
from pipelines.defs.jobs import HOST_TAG, LAUNCHED_BY, PID_TAG, PROCESS_OF_TAG, WAREHOUSE_JOB
from pipelines.defs.runner import (
    one_run_at_a_time,
    release_abandoned_runs,
    run_pipeline,
    run_sent_files,
)
from pipelines.defs.warehouse import WAREHOUSE_POOL
from pipelines.foundation.locks import exclusive_if_free
from pipelines.foundation.pause_points import PAUSE_AT, PAUSE_DIR
from pipelines.foundation.settings import Settings
from pipelines.ingest.closing import closed_years
from pipelines.ingest.lake import Lake
from pipelines.ingest.review import APPROVED, review_submission, reviews
from pipelines.intake.receiving import waiting_files, waiting_key
from pipelines.intake.repair import lake_damage
from pipelines.intake.run_starts import (
    NEXT_LOCK,
    PAGE,
    SENSOR,
    STARTING_FD,
    claim,
    claim_of,
    claims_folder,
    page_running,
    page_turn,
    run_executing,
    starting,
)
from pipelines.warehouse.duckdb_publish import versions
from pipelines.warehouse.freshness import reason_to_run
from pipelines.warehouse.vintages import close_year
from pipelines.web.sending import start_run
from tests.conftest import MINIMAL_PATH, SEED, copy_sample, ward_file, welfare_cli

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


def test_the_sensor_asks_one_run_per_set_of_waiting_files_and_none_for_files_received(mini):
    """Each set of waiting files asks for one run (the daemon starts one run per run key),
    unless the submission page started one for them, or a run it started is going; a file
    landing later makes a new set; while a run is queued or going nothing is asked; once the
    files are in the ledger — also for a daemon that has just started, with no cursor —
    nothing is asked. The request carries the plan: only what the files reach."""
    defs = build_definitions(mini)
    # Resolved inside an instance of its own, as the daemon resolves it: Dagster reads the
    # definitions' state storage from whichever instance was entered last in this process.
    with dg.instance_for_test():
        sensor = defs.resolve_sensor_def("landing_sensor")

    def tick(instance):
        # Opened as the daemon opens it: the settings resource is set up and torn down.
        with dg.build_sensor_context(
            instance=instance, resources={"welfare": defs.resources["welfare"]}
        ) as context:
            return sensor.evaluate_tick(context)

    with dg.instance_for_test() as instance:
        # The page confirmed these files and started their run: the sensor leaves them.
        assert claim(mini, waiting_key(waiting_files(mini)), PAGE) is None
        by_page = tick(instance)
        assert by_page.run_requests == [] and "submission page" in by_page.skip_message
        copy_sample(mini, "ibasho_survey", CHUO)  # lands later: a new set, nobody's yet
        [request] = tick(instance).run_requests
        assert request.tags["welfare/new_files"] == "3"
        assert request.tags["welfare/build"] == "whole"  # a new home: its first build is whole
        assert tick(instance).run_requests[0].run_key == request.run_key  # the same set
        # The sensor claimed them: a run the page starts now leaves them to the sensor's.
        assert claim(mini, request.run_key, PAGE).by == SENSOR
        # A run the page started is going (or about to): files wait for it to end.
        with page_turn(mini) as my_turn:
            assert my_turn
            paged = tick(instance)
            assert paged.run_requests == [] and "submission page" in paged.skip_message
        handed = starting(mini)  # the page has just started a process for a file sent
        try:
            assert "submission page" in tick(instance).skip_message
            start_run(mini)  # a file confirmed now: that process takes it, none is started
            assert not (mini.work_dir / "logs" / "sent-runs.log").exists()
        finally:
            for fd in handed.values():
                os.close(fd)
        with one_run_at_a_time(mini):  # a person's `welfare run` executes the job
            assert "a run is going in this home" in tick(instance).skip_message
        # A run of the job going: files wait for it to end.
        job = defs.resolve_job_def("warehouse_job")
        instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED)
        going = tick(instance)
        assert going.run_requests == [] and "is going" in going.skip_message
    # What the requested run takes in: each file exactly once.
    from pipelines.ingest.contract import all_contracts
    from pipelines.intake.ingest import ingest_source

    for contract in all_contracts():
        ingest_source(mini, contract)
        ingest_source(mini, contract)
    ledger = Lake(mini.lake).ledger()
    assert sorted(ledger["file_name"]) == sorted([KITA, CHUO, "R6_推進計画_実績指標.xlsx"])
    with dg.instance_for_test() as restarted:  # a daemon started after they were received
        idle = tick(restarted)
        assert idle.run_requests == [] and "no file waiting" in idle.skip_message


def test_a_run_the_page_starts_waits_for_the_run_going_and_claims_nothing_meanwhile(mini):
    """`welfare run --sent` while another run of the job is going in the home's instance
    waits for it (here: no patience at all) and leaves the files unclaimed, for whichever
    run comes next; the page's mark that it is starting is let go once it has its turn; a
    second page process while one waits for its turn ends at once."""
    with dg.DagsterInstance.from_config(str(write_dagster_yaml(mini).parent)) as instance:
        job = build_definitions(mini).resolve_job_def("warehouse_job")
        instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED)
    said: list[str] = []
    # Started by the page: the sensor sees a run under way until the process has its turn.
    os.environ.update({name: str(fd) for name, fd in starting(mini).items()})
    assert page_running(mini)
    assert run_sent_files(mini, say=said.append, patience=0) == []
    assert STARTING_FD not in os.environ and not page_running(mini)
    assert "is still going" in said[-1]
    assert claim_of(mini, waiting_key(waiting_files(mini))) is None
    # A page process killed before its run began: its claim no longer holds, and the next to
    # look takes the files over (one of them: the sensor here), whose claim then holds.
    ended = subprocess.Popen([sys.executable, "-c", ""])
    ended.wait()
    key = waiting_key(waiting_files(mini))
    (claims_folder(mini) / f"{key}.json").write_text(
        json.dumps(
            {"key": key, "by": PAGE, "claimed_at": "-", "pid": ended.pid, "process_started": None}
        )
    )
    assert claim(mini, key, SENSOR) is None and claim_of(mini, key).by == SENSOR
    assert claim(mini, key, PAGE).by == SENSOR
    # One page process waits for its turn already: it will take these files too.
    with exclusive_if_free(claims_folder(mini) / NEXT_LOCK) as waiting_its_turn:
        assert waiting_its_turn
        said.clear()
        assert run_sent_files(mini, say=said.append) == []
        assert said == [
            "Another run started from the page is waiting for its turn: it takes these files."
        ]


def test_runs_take_turns_in_a_home_however_they_were_started(mini):
    """One run executes at a time in a home: a `welfare run` started while another executes
    (the page's, a person's) waits for it to end, and so does a run Dagster launched in a
    process of its own (as the daemon's run worker does: here `dagster job execute`), which
    holds no pool's slot meanwhile and starts its first step once the turn is free — instead
    of failing on the working database's lock. Such a run whose process dies (killed while it
    waits, a power cut) is closed out by the next to look, as a killed `welfare run` is."""
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "WELFARE_HOME": str(mini.home),
        "DAGSTER_HOME": str(mini.dagster_home),
        "PATH": MINIMAL_PATH,
    }

    def started(*command: str) -> subprocess.Popen:
        return subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def waits(process: subprocess.Popen, said: str) -> str:
        """What ``process`` says when it waits for the turn (or starts, or ends, instead)."""
        for line in iter(process.stdout.readline, ""):
            if "waiting for it" in line or "STEP_START" in line or "──" in line:
                break
        assert said in line
        return line

    def launched() -> subprocess.Popen:
        rebuild = ("job", "execute", "-m", "pipelines.definitions", "-j", "rebuild_lake_job")
        return started(str(bin_dir / "dagster"), *rebuild)

    with one_run_at_a_time(mini) as waited:
        assert not waited
        assert run_executing(mini)
        second = started(str(bin_dir / "welfare"), "run", "--force")
        killed, daemons = launched(), launched()
        try:
            waits(second, "another run of the warehouse job is going in this home")
            waits(killed, "another run is going in this home: waiting for it to end")
            waits(daemons, "another run is going in this home: waiting for it to end")
            time.sleep(1)
            assert second.poll() is None and daemons.poll() is None  # waiting, not failed
            with dg.DagsterInstance.from_config(str(mini.dagster_home)) as instance:
                # Waiting for the turn, they hold no pool's slot: the run holding the turn may
                # need it (its step would wait for the slot, and they for the turn).
                pool = instance.event_log_storage.get_concurrency_info(INGEST_POOL)
                assert not pool.claimed_slots and not pool.pending_steps
                os.killpg(killed.pid, signal.SIGKILL)
                killed.wait(timeout=30)
                [dead] = instance.get_runs(dg.RunsFilter(tags={PID_TAG: str(killed.pid)}))
                assert dead.status == dg.DagsterRunStatus.STARTED
                assert release_abandoned_runs(instance) == [dead.run_id]
                assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        finally:
            for process in (second, killed):
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
    rest = daemons.communicate(timeout=120)[0]
    assert daemons.returncode == 0, rest
    assert "STEP_START" in rest and "RUN_SUCCESS" in rest
    assert not run_executing(mini)  # let go when the run ended

    # A `welfare run` killed while Dagster was creating its run (writing the run's plan) left it
    # NOT_STARTED: the next to look closes it out, or the sensor and the page would wait on it.
    # A retry of it copies its tags, naming that dead process: the retry is left alone.
    ended = subprocess.Popen(["true"])
    ended.wait()
    with dg.DagsterInstance.from_config(str(mini.dagster_home)) as instance:
        job = build_definitions(mini).resolve_job_def(WAREHOUSE_JOB)
        left_id = str(uuid.uuid4())
        tags = {
            LAUNCHED_BY: "welfare run",
            PID_TAG: str(ended.pid),
            HOST_TAG: socket.gethostname(),
            PROCESS_OF_TAG: left_id,
        }
        left = instance.create_run_for_job(job, run_id=left_id, tags=tags)
        assert left.status == dg.DagsterRunStatus.NOT_STARTED
        assert going_warehouse_run(instance) == left.run_id
        assert release_abandoned_runs(instance) == [left.run_id]
        retry = instance.create_run_for_job(job, tags=tags)  # as the daemon's retry copies them
        assert release_abandoned_runs(instance) == []
        assert going_warehouse_run(instance) == retry.run_id
        # A run the daemon's code server failed, its worker killed mid-step, left its step's
        # slot claimed: the next to look gives it back, or every later run would wait for it.
        storage = instance.event_log_storage
        storage.set_concurrency_slots(WAREHOUSE_POOL, 1)  # the instance's default, as a run sets it
        storage.claim_concurrency_slot(WAREHOUSE_POOL, left.run_id, "warehouse_models")
        assert storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots
        release_abandoned_runs(instance)
        assert not storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots


# The publishing step alone, as the publish asset calls it, in a process of its own.
PUBLISH = (
    "from pipelines.foundation.settings import Settings; from pipelines.warehouse.engine import publish; "
    "from pipelines.warehouse.fingerprints import inputs_fingerprint; s = Settings.from_env(); "
    "publish(s, inputs_fingerprint(s), run_id='killed-while-publishing')"
)


def start(
    settings: Settings, pause_at: str, pause_dir: Path, publishing: bool, output: bool = False
) -> subprocess.Popen:
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
        stdout=subprocess.PIPE if output else subprocess.DEVNULL,
        stderr=subprocess.PIPE if output else subprocess.DEVNULL,
        text=True,
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


LAKE_TABLES = (
    "ibasho_survey",
    "facility_initiatives",
    "consultations",
    "plan_indicators",
    "ward_action_plans",
    "quarantined_rows",
    "submissions",
)


def lake_rows(settings: Settings) -> dict[str, list[tuple]]:
    """Every row of the lake's source tables, quarantine and ledger (without the checksums of
    derived files): what the marts are built from."""
    with duckdb.connect() as db:
        return {
            table: db.execute(
                f"select * {'exclude (lake_files)' if table == 'submissions' else ''} from "
                f"read_parquet('{settings.lake}/{table}/*.parquet', union_by_name = true) "
                "order by all"
            ).fetchall()
            for table in LAKE_TABLES
        }


def damage(home: Settings) -> list[Path]:
    """What a failing disk leaves: a truncated rows file, an unreadable ledger entry, a lost
    record (a mart suite's results)."""
    ledger = Lake(home.lake).ledger()
    loaded = ledger[ledger["status"] == "loaded"]
    ibasho = loaded[loaded["source"] == "ibasho_survey"]["sha256"].iloc[0]
    rows_file = home.lake / "ibasho_survey" / f"{ibasho}.parquet"
    rows_file.write_bytes(rows_file.read_bytes()[:100])
    consultations = loaded[loaded["source"] == "consultations"]["entry_id"].iloc[0]
    entry_file = home.lake / "submissions" / f"{consultations}.parquet"
    entry_file.write_bytes(b"PAR1 not a ledger entry")
    record = next((home.lake / "dq_results").glob("*__*.parquet"))
    record.unlink()
    return [rows_file, entry_file, record]


@pytest.fixture
def operator_home(published_home, tmp_path):
    """The published sample's WELFARE_HOME on a small file system of its own (200 MB more than
    it holds: a tmpfs, which needs root), or where it is when the tests do not run as root."""
    if os.geteuid() != 0:
        yield published_home, False
        return
    used = sum(p.stat().st_size for p in published_home.home.rglob("*") if p.is_file())
    mount = tmp_path / "small_disk"
    mount.mkdir()
    size = f"size={used // 2**20 + 200}m"
    subprocess.run(["mount", "-t", "tmpfs", "-o", size, "tmpfs", str(mount)], check=True)
    try:
        home = Settings(mount / "welfare_home")
        shutil.copytree(published_home.home, home.home, symlinks=True)
        write_dagster_yaml(home)
        yield home, True
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(settings: Settings, leave: int = 0) -> Path:
    """Take the disk's free space, but ``leave`` bytes."""
    filler = settings.home.parent / "filler"
    free = shutil.disk_usage(settings.home).free
    subprocess.run(["fallocate", "-l", str(max(free - leave, 4096)), str(filler)], check=True)
    return filler


def record_failed_run(settings: Settings) -> str:
    """What the daemon's run-failure sensor does for the last failed run (no daemon here)."""
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    release_abandoned_runs(instance)  # as the next `welfare run` does first
    [run] = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]), limit=1)
    failure = next(
        r.event_log_entry.dagster_event
        for r in instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.PIPELINE_FAILURE
        ).records
    )
    defs = build_definitions(settings)
    with dg.build_run_status_sensor_context(
        sensor_name="run_failure_recorder",
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=run,
        resources={"welfare": defs.resources["welfare"]},
    ) as context:
        defs.resolve_sensor_def("run_failure_recorder")(context.for_run_failure())
    instance.dispose()
    return run.run_id


@pytest.mark.background
def test_an_operators_bad_week_loses_nothing_and_counts_nothing_twice(operator_home, tmp_path):
    """One WELFARE_HOME through kills at every stage, a full disk before and during a run, a read-only disk, a
    damaged and then a lost lake, a reader kept open, and a rollback (one home: each step
    would otherwise cost a pipeline run to set up)."""
    home, small_disk = operator_home
    pauses = tmp_path / "pauses"
    published = home.warehouse.read_bytes()
    kept = len(versions(home))
    with duckdb.connect(str(home.warehouse), read_only=True) as db:
        received = db.execute("select count(*) from audit.submissions").fetchone()[0]
        before = places(db)
    sample_lake = lake_rows(home)
    # The council's decisions, which must survive everything below: FY2022 closed, a file
    # approved.
    close_year(home, 2022, "市社協 山田", "令和4年度 年次報告")
    review_submission(home, "FY2024_Chuo-ku_places.xlsx", APPROVED, "市社協 山田")
    decided = (closed_years(Lake(home.lake)), reviews(Lake(home.lake)).to_dict("records"))
    send_next_year(home)

    # 1. `welfare run` killed (SIGKILL to its process group) while reading the new file,
    # between its rows and its ledger entry, during dbt build and during the mart checks; each
    # run starts from what the one before left. The published warehouse stays byte for byte.
    for point in ("ingest.reading", "ingest.before_ledger", "dbt.build", "checks.marts"):
        kill_at(home, point, pauses)
        assert home.warehouse.read_bytes() == published, f"changed by a kill at {point}"
    # 2. Killed while publishing (the step alone, on the working database the last run built,
    # instead of a whole run up to it): after writing the new copy, before swapping it in...
    kill_at(home, "publish.before_swap", pauses, publishing=True)
    assert home.warehouse.read_bytes() == published
    assert len(versions(home)) == kept  # the unpublished copy is no version to roll back to
    # ... and between the swap and the Parquet export, while an analyst's connection is open:
    # the reader keeps the version it opened, whole; reconnecting shows the new one, with the
    # new file taken in once; the Parquet files are still the old version's.
    reader = duckdb.connect(str(home.warehouse), read_only=True)
    kill_at(home, "publish.before_parquet", pauses, publishing=True)
    assert places(reader) == before
    reader.close()
    with duckdb.connect(str(home.warehouse), read_only=True) as db:
        assert places(db) == before + 3
        assert db.execute("select count(*) from audit.submissions").fetchone()[0] == received + 1
    exported = home.published / "marts" / "place_counts.parquet"
    assert exported_places(exported) == before
    swapped = home.warehouse.read_bytes()

    # 3. Another ward's file arrives on a full disk. Before writing, the run sees it would not
    # fit and says so in one line (exit 3), recording the refusal; then, with the space just
    # enough to start, the disk fills up while the run reads the file: the same one line.
    ward_file(
        home, "R7_中央区_居場所.csv", ["R7,中央区,森之宮地域,C7-1,サロン1,高齢者サロン,12,240"]
    )
    if small_disk:
        filler = fill(home, leave=2 * 2**20)
        refused = welfare_cli(home.home, "run")
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "Traceback" not in refused.stdout + refused.stderr
        [line] = [x for x in refused.stderr.splitlines() if x.strip()]
        assert line.startswith(f"DISK FULL: {home.home} has 2 MB free and a run needs about")
        filler.unlink()
        process = start(home, "ingest.reading", pauses, publishing=False, output=True)
        deadline = time.monotonic() + 120
        while not (pauses / "ingest.reading").exists():
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.2)
        filler = fill(home)
        (pauses / "ingest.reading").unlink()  # go on, onto a full disk
        out, err = process.communicate(timeout=180)
        assert process.returncode == 3, out + err
        assert "Traceback" not in out + err and "DISK FULL" in out + err
        assert home.warehouse.read_bytes() == swapped
        filler.unlink()
        failed_run = record_failed_run(home)

    # 4. Space is freed, but lake files were damaged meanwhile. The next run rebuilds them from
    # the archive and says so, takes the new file in once, records the failures, brings the
    # Parquet files up to date and publishes exactly what an undisturbed run publishes.
    damaged = damage(home)
    found = lake_damage(home)
    assert all(path.relative_to(home.lake).as_posix() in found for path in damaged), found
    recovered = run_pipeline(home)
    assert recovered.success and recovered.published, recovered.failed_steps
    # The file the full disk stopped (received then, entered now) is in this run's summary.
    assert "R7_中央区_居場所.csv" in set(recovered.files["file_name"])
    repaired = "\n".join(recovered.repairs)
    assert all(path.relative_to(home.lake).as_posix() in repaired for path in damaged)
    with duckdb.connect(str(home.warehouse), read_only=True) as db:
        by_year = dict(
            db.execute(
                "select fiscal_year, sum(places) from marts.place_counts group by 1"
            ).fetchall()
        )
        assert db.execute("select count(*) from audit.submissions").fetchone()[0] == received + 2
        failures = {r[0] for r in db.execute("select run_id from audit.run_failures").fetchall()}
    assert by_year == {**SEED.places, 2025: 4}
    assert exported_places(exported) == before + 4
    ledger = Lake(home.lake).ledger()
    assert (ledger["file_name"] == NEW_WARD_FILE).sum() == 1
    repaired_lake = lake_rows(home)
    for table, rows in sample_lake.items():
        assert set(rows) <= set(repaired_lake[table]), table
    if small_disk:
        assert failed_run in failures
        assert any(run_id.startswith("disk-full-") for run_id in failures)

    # 5. The whole lake lost: `welfare rebuild-lake` derives it again from the archive alone,
    # and it is the lake the published warehouse was built from.
    shutil.rmtree(home.lake)
    rebuilt = welfare_cli(home.home, "rebuild-lake")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "131 received file(s) derived again (130 loaded, 1 rejected)" in rebuilt.stdout
    assert lake_rows(home) == repaired_lake
    assert reason_to_run(home) is None
    lake = Lake(home.lake)
    assert (closed_years(lake), reviews(lake).to_dict("records")) == decided

    # 6. welfare rollback puts the previous version back (the one swapped in before the kill).
    assert len(versions(home)) == kept + 2
    rolled = welfare_cli(home.home, "rollback")
    assert rolled.returncode == 0, rolled.stderr
    with duckdb.connect(str(home.warehouse), read_only=True) as restored:
        assert places(restored) == before + 3
        assert restored.execute("select count(*) from audit.run_failures").fetchone()[0] == 0
    if not small_disk:
        pytest.skip("everything but the full disk passed; a small file system needs root")

    # 7. The system remounts the disk read-only (as it does one it found failing) while a file
    # waits: the run says so in one line, not as a full disk, and changes nothing.
    ward_file(home, "R7_北区_居場所_追加.csv", ["R7,北区,曽根崎地域,K7-9,サロン9,高齢者サロン,1,9"])
    rolled_back = home.warehouse.read_bytes()
    mount = home.home.parent
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    try:
        refused = welfare_cli(home.home, "run")
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr
    [line] = [x for x in refused.stderr.splitlines() if x.strip()]
    assert line.startswith(f"DISK READ-ONLY: {home.home} cannot be written"), line
    assert home.warehouse.read_bytes() == rolled_back
