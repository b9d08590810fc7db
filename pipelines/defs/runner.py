"""Running the warehouse job once through Dagster (pipelines.defs.summary says what happened).

The command line, the schedule and the UI run the same job (pipelines.defs.automation); this
module only launches it in-process against the WELFARE_HOME's Dagster instance, so the run,
its materializations and its check results are in the same history the UI shows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import importlib
import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterator

from pipelines.defs.jobs import LAUNCHED_BY, TRIGGER_TAG, process_tags, recorded_process
from pipelines.defs.progress import TERMINAL_LOGGER
from pipelines.defs.summary import (
    JOB_TIME,
    RunSummary,
    format_summary,
    skipped_summary,
    summarize,
)
from pipelines.foundation.processes import same_process_running
from pipelines.foundation.settings import Settings
from pipelines.intake.receiving import waiting_files, waiting_key
from pipelines.intake.run_starts import PAGE, claim, page_turn, run_turn
from pipelines.intake.space import check_space
from pipelines.quality.suites import import_great_expectations, start_warm_checks
from pipelines.reporting.charts import JapaneseFontMissing, ready_to_draw
from pipelines.warehouse import warm_dbt
from pipelines.warehouse.dbt import ProjectParse
from pipelines.warehouse.freshness import reason_to_run

GOING_PATIENCE = 3600.0  # how long a run the page started waits for one already going
# The modules a run imports as it goes: the job's (each imports Dagster and dagster-dbt), and
# those Dagster imports when it executes a run (its daemon's and scheduler's, storage paths).
RUN_MODULES = (
    "pipelines.defs.automation",
    "pipelines.defs.build",
    "pipelines.defs.planning",
    "dagster._daemon.controller",
)


def import_for_runs() -> None:
    """Import what a run of the warehouse job imports as it goes (seconds of CPU: Dagster and
    the job's definitions, great-expectations, dbt, matplotlib and its Japanese font), for a
    standing process whose forks run it (`welfare worker`). Logging is left as it was: dbt's
    usage tracker configures Python's root logger as it is imported (a run's own process never
    imports dbt), and Dagster's and great-expectations' messages would reach the terminal."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    for module in RUN_MODULES:
        with contextlib.suppress(ImportError):  # one moved in an upgrade: imported when used
            importlib.import_module(module)
    import_great_expectations()
    warm_dbt.import_dbt()
    with contextlib.suppress(JapaneseFontMissing):  # said by the run's report, as without
        ready_to_draw()
    root.handlers[:] = handlers
    root.setLevel(level)


def run_pipeline(
    settings: Settings,
    force: bool = False,
    full_refresh: bool = False,
    parse: ProjectParse | None = None,
    timings: list[tuple[str, float]] | None = None,
    trigger: str | None = None,
) -> RunSummary:
    """Execute the warehouse job once; never raises for a failed step (see RunSummary).

    When nothing is new (no file waiting, the inputs of the published version) the job is not
    started at all, unless ``force`` or ``full_refresh`` (incremental models rebuilt whole): a
    night without submissions costs a second. ``parse``: a parse of the dbt project begun in
    the background (pipelines.home.prepare), waited for before the definitions load.
    ``timings``: stages already timed (the command's start); the run's are added.
    ``trigger``: what started the run, when not a person's `welfare run` (the run's tags).
    """
    clock = time.monotonic()
    timings = list(timings or [])
    if not (force or full_refresh) and reason_to_run(settings) is None:
        if parse is not None:
            parse.manifest()  # a parse begun in the background finishes
        return skipped_summary(settings)  # before Dagster is even imported (~3 s)
    check_space(settings)  # DiskFull before anything is written or started
    with one_run_at_a_time(settings) as waited:
        if waited:
            timings.append(("waiting for the run before", time.monotonic() - clock))
            clock = time.monotonic()
            if not (force or full_refresh) and reason_to_run(settings) is None:
                if parse is not None:
                    parse.manifest()
                return skipped_summary(settings)  # the run before took the files in
        return _run_warehouse_job(settings, full_refresh, parse, timings, trigger, clock)


@contextlib.contextmanager
def one_run_at_a_time(settings: Settings) -> Iterator[bool]:
    """The home's turn to run (pipelines.intake.run_starts.run_turn), said on the terminal when
    this run has to wait for another. Yields whether it waited."""

    def say_waiting() -> None:
        logging.getLogger(TERMINAL_LOGGER).info(
            "another run of the warehouse job is going in this home: waiting for it to end"
        )

    with run_turn(settings, on_wait=say_waiting) as waited:
        yield waited


def _run_warehouse_job(
    settings: Settings,
    full_refresh: bool,
    parse: ProjectParse | None,
    timings: list[tuple[str, float]],
    trigger: str | None,
    clock: float,
) -> RunSummary:
    # No Dagster instance can be left over in a process that has not imported Dagster yet.
    fresh = "dagster" not in sys.modules
    # Files and marts will be checked and dbt will build: great-expectations and dbt load on
    # the other core meanwhile.
    start_warm_checks()
    warm = warm_dbt.start_for(settings, after=parse.running if parse is not None else None)
    from pipelines.defs.automation import WAREHOUSE_JOB  # imports Dagster: only for a run

    try:
        started = dt.datetime.now(dt.UTC)
        log_path = settings.work_dir / "logs" / f"run-{started.strftime('%Y%m%dT%H%M%SZ')}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        # dbt's own output (dagster-dbt echoes it to stdout) goes to the run's log file; the
        # progress lines and the summary stay on the terminal.
        with log_path.open("w", encoding="utf-8") as log, contextlib.redirect_stdout(log):
            # What dagster-dbt says through Python's logging (which tests dbt ran beyond those
            # Dagster selected …) belongs in the run's log, beside dbt's own output.
            libraries = logging.StreamHandler(log)
            logging.getLogger("dagster_dbt").addHandler(libraries)
            result = run_job(
                settings,
                WAREHOUSE_JOB,
                {"ops": {"warehouse_models": {"config": {"full_refresh": True}}}}
                if full_refresh
                else None,
                parse,
                plan_for_warehouse=full_refresh,
                timings=timings,
                clock=clock,
                tags={TRIGGER_TAG: trigger} if trigger else None,
                collect=not fresh,
            )
            logging.getLogger("dagster_dbt").removeHandler(libraries)
    finally:
        if warm is not None:
            warm.stop()  # not used (no dbt step), or used: gone either way
    clock = time.monotonic()
    summary = summarize(settings, result, started, log_path, timings)
    summary.timings.append(("summary", time.monotonic() - clock))
    return summary


def run_job(
    settings: Settings,
    job_name: str,
    run_config: dict | None = None,
    parse: ProjectParse | None = None,
    plan_for_warehouse: bool | None = None,
    timings: list[tuple[str, float]] | None = None,
    clock: float | None = None,
    tags: dict[str, str] | None = None,
    collect: bool = True,
):
    """Execute one of the project's jobs in this process, in the WELFARE_HOME's Dagster
    instance (its history, pools and run queue), with progress lines on the terminal. With
    ``plan_for_warehouse`` not None (the warehouse job: whether a full refresh was asked
    for), only the assets what changed reaches run (pipelines.defs.planning). ``timings``:
    where the stages' seconds are added (the time since ``clock`` is the first).
    ``collect``: whether an earlier instance context may be left in this process (see below;
    collecting costs a tenth of a second with everything loaded)."""
    timings = timings if timings is not None else []
    clock = clock if clock is not None else time.monotonic()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.monotonic()
        timings.append((stage, now - clock))
        clock = now

    import dagster as dg

    from pipelines.defs.build import build_definitions  # imports Dagster
    from pipelines.defs.dagster_adapter import bound_to  # imports Dagster
    from pipelines.defs.planning import plan_run  # imports Dagster

    if parse is not None:
        parse.manifest()
    selection, tags = None, dict(tags or {})
    if plan_for_warehouse is not None:
        plan = plan_run(settings, full_refresh=plan_for_warehouse)
        selection, tags = plan.selection, {**plan.tags, **tags}
        logging.getLogger(TERMINAL_LOGGER).info(f"planned: {plan.build.reason}")
    lap("planning")
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    # An instance context left open earlier in a long-lived process is collected first, not
    # while the definitions load (see bound_to).
    if collect:
        gc.collect()
    try:
        with bound_to(instance):
            release_abandoned_runs(instance)
            job = build_definitions(settings).resolve_job_def(job_name)
            lap("loading definitions")
            run_id = str(uuid.uuid4())  # named before the run exists: see process_tags
            result = job.execute_in_process(
                instance=instance,
                run_id=run_id,
                raise_on_error=False,
                run_config={
                    **(run_config or {}),
                    # Dagster's own console lines (a failed step's stack, twice) stay off the
                    # terminal: the summary names each failed step, the run's log has its
                    # whole error (pipelines.defs.summary), the Dagster UI every event.
                    "loggers": {"console": {"config": {"log_level": "CRITICAL"}}, "progress": {}},
                },
                tags={**tags, LAUNCHED_BY: "welfare run", **process_tags(run_id)},
                asset_selection=selection,
            )
            lap(JOB_TIME)
            return result
    finally:
        instance.dispose()


def run_sent_files(
    settings: Settings,
    say: Callable[[str], object] = print,
    prepare: Callable[[], ProjectParse | None] | None = None,
    patience: float = GOING_PATIENCE,
) -> list[RunSummary]:
    """What the submission page starts when a file is confirmed (`welfare run --sent`): runs
    for the files waiting in landing/, one after another until none is waiting, unless another
    run has them (pipelines.intake.run_starts says who starts a run for which files). A run
    already going (the sensor's, the nightly one, a `welfare run`) is waited for — at most
    ``patience`` seconds — and the files waiting when it ends are taken then. Returns the
    summary of each run made; stops after a run that failed (the landing sensor, or the next
    file's run, tries its files once more: see run_starts). ``prepare``: readies the home
    before its first run (a process that ends at once does not), giving a parse begun in the
    background, if any."""
    summaries: list[RunSummary] = []
    parse = None
    with page_turn(settings) as my_turn:
        if not my_turn:
            say("Another run started from the page is waiting for its turn: it takes these files.")
            return summaries
        while True:
            if not waiting_files(settings):
                if not summaries:
                    say("Nothing waiting: an earlier run took the files in.")
                break
            if not _wait_for_going_run(settings, say, patience):
                break
            waiting = waiting_files(settings)  # what a run that was going left
            if not waiting:
                break
            earlier = claim(settings, waiting_key(waiting), PAGE)
            if earlier is not None:
                say(f"The {earlier.by} started a run for the files waiting ({earlier.claimed_at}).")
                break
            if prepare is not None:
                parse, prepare = prepare(), None
            say(f"Running the warehouse job for {settings.home} (files sent on the page) ...")
            summary = run_pipeline(settings, parse=parse, trigger=PAGE)
            parse = None
            say(format_summary(summary, settings))
            summaries.append(summary)
            if not summary.success:
                break
    if parse is not None:
        parse.manifest()  # a parse begun in the background ends before the process does
    return summaries


def _wait_for_going_run(settings: Settings, say: Callable[[str], object], patience: float) -> bool:
    """Wait until no warehouse run is queued or going (abandoned ones are closed out first):
    True, or False when one is still going after ``patience`` seconds."""
    import dagster as dg

    from pipelines.defs.automation import going_warehouse_run  # imports Dagster

    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    try:
        release_abandoned_runs(instance)
        deadline, told = time.monotonic() + patience, False
        while (going := going_warehouse_run(instance)) is not None:
            if time.monotonic() > deadline:
                say(
                    f"Run {going[:8]} is still going after {patience:.0f} s: the files waiting "
                    "are left to the next file sent, the landing sensor or the nightly run."
                )
                return False
            if not told:
                say(f"Run {going[:8]} is going: the files waiting are taken when it ends.")
                told = True
            time.sleep(1)
        return True
    finally:
        instance.dispose()


def release_abandoned_runs(instance) -> list[str]:
    """Close out earlier runs whose process died (killed, a power cut, a daemon stopped with
    them): mark them failed and give back the concurrency-pool slots they held, so the next run
    is not kept waiting and the sensor and the page do not wait for them for ever. A run names
    its process from the start of a `welfare run`, or once a run the daemon launched sets up
    its resources (pipelines.defs.resources); one not yet there is left alone. Slots still
    held or waited for by runs that have ended (one the daemon's code server failed when its
    worker was killed mid-step) are given back too. Returns the runs closed out."""
    import dagster as dg

    unfinished = [
        dg.DagsterRunStatus.NOT_STARTED,  # a `welfare run` killed while Dagster created the run
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
    ]
    released = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=unfinished)):
        process = recorded_process(run.run_id, run.tags)
        if process is None or same_process_running(*process):
            continue
        # Its process has ended: it writes nothing more. Read again: it may have ended well
        # between the list and the look at its process.
        run = instance.get_run_by_id(run.run_id)
        if run is None or run.status not in unfinished:
            continue
        by = run.tags.get(LAUNCHED_BY, "run worker")
        instance.report_run_failed(
            run, f"abandoned: the {by} process ({process[0]}) ended before the run finished"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
    _free_slots_of_ended_runs(instance)
    return released


def _free_slots_of_ended_runs(instance) -> None:
    storage = instance.event_log_storage
    holders = set()
    for pool in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(pool)
        holders |= {slot.run_id for slot in info.claimed_slots}
        holders |= {step.run_id for step in info.pending_steps}  # in line: next to be given one
    for run_id in holders:
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            storage.free_concurrency_slots_for_run(run_id)
