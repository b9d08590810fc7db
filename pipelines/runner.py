"""Running the warehouse job once through Dagster and summarizing what happened.

The command line, the schedule and the UI run the same job (pipelines.defs.automation); this
module only launches it in-process against the WELFARE_HOME's Dagster instance, so the run,
its materializations and its check results are in the same history the UI shows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipelines.ingest.lake import Lake
from pipelines.settings import Settings

PROGRESS_LOGGER = "welfare.progress"
LAUNCHED_BY, PID_TAG, HOST_TAG = "welfare/launched_by", "welfare/pid", "welfare/host"


@dataclass
class RunSummary:
    run_id: str
    success: bool
    started_at: dt.datetime
    files: pd.DataFrame  # ledger entries received during this run
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)
    checks_warned: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)
    tables_built: int = 0
    published: bool = False
    figures: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    unchanged: bool = False
    report: Path | None = None


def run_pipeline(settings: Settings) -> RunSummary:
    """Execute the warehouse job once; never raises for a failed step (see RunSummary)."""
    import dagster as dg

    from pipelines.defs.automation import WAREHOUSE_JOB
    from pipelines.defs.build import build_definitions

    started = dt.datetime.now(dt.UTC)
    definitions = build_definitions(settings)
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    release_abandoned_runs(instance)
    job = definitions.resolve_job_def(WAREHOUSE_JOB)
    log_path = settings.work_dir / "logs" / f"run-{started.strftime('%Y%m%dT%H%M%SZ')}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # dbt's own output (dagster-dbt echoes it to stdout) goes to the run's log file; the
    # progress lines and the summary stay on the terminal.
    with log_path.open("w", encoding="utf-8") as log, contextlib.redirect_stdout(log):
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            tags={
                LAUNCHED_BY: "welfare run",
                PID_TAG: str(os.getpid()),
                HOST_TAG: socket.gethostname(),
            },
        )
    summary = RunSummary(
        run_id=result.run_id,
        success=result.success,
        started_at=started,
        files=_files_since(settings, started),
        log_path=log_path,
    )
    for evaluation in result.get_asset_check_evaluations():
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.description and not evaluation.passed:
            name += f" — {evaluation.description}"
        if evaluation.passed:
            summary.checks_passed += 1
        elif evaluation.severity == dg.AssetCheckSeverity.WARN:
            summary.checks_warned.append(name)
        else:
            summary.checks_failed.append(name)
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            message = error.message.strip().splitlines()[0] if error else "unknown error"
            summary.failed_steps.append(f"{event.step_key}: {message}")
        if event.is_step_materialization:
            key = event.asset_key
            if key is not None and key.path[0] in ("marts", "audit"):
                summary.tables_built += 1
            if key is not None and key.path == ["published_warehouse"]:
                metadata = event.step_materialization_data.materialization.metadata
                unchanged = metadata.get("unchanged")
                summary.published = not (unchanged is not None and unchanged.value)
                summary.unchanged = not summary.published
            if key is not None and key.path == ["reports", "overview"]:
                metadata = event.step_materialization_data.materialization.metadata
                summary.report = Path(metadata["path"].value)
    summary.figures = headline_figures(settings) if settings.warehouse.exists() else {}
    return summary


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_abandoned_runs(instance) -> list[str]:
    """Close out earlier `welfare run`s whose process died (killed, power cut): mark them failed
    and give back the concurrency-pool slots they held, so the next run is not kept waiting."""
    import dagster as dg

    released = []
    stuck = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
            tags={LAUNCHED_BY: "welfare run"},
        )
    )
    for run in stuck:
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if run.tags.get(HOST_TAG) != socket.gethostname() or (pid and _process_alive(pid)):
            continue
        instance.report_run_failed(
            run, f"abandoned: the `welfare run` process ({pid}) ended before the run finished"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
    return released


def _files_since(settings: Settings, started: dt.datetime) -> pd.DataFrame:
    ledger = Lake(settings.lake).ledger()
    if ledger.empty:
        return ledger
    received = pd.to_datetime(ledger["received_at"], utc=True)
    return ledger[received >= pd.Timestamp(started)].sort_values("received_at")


def headline_figures(settings: Settings) -> dict[str, str]:
    """The council's published figures, read back from the published warehouse."""
    import duckdb

    figures: dict[str, str] = {}
    with duckdb.connect(str(settings.warehouse), read_only=True) as db:
        queries = {
            "places (居場所)": "select fiscal_year, sum(places) from marts.place_counts group by 1",
            "facilities with public-interest activities": "select fiscal_year, "
            "sum(facilities_with_initiatives) from marts.public_interest_facilities group by 1",
            "volunteer consultations": "select fiscal_year, sum(consultations) from "
            "marts.consultation_volumes group by 1",
        }
        for label, sql in queries.items():
            try:
                rows = db.execute(sql + " order by 1").fetchall()
            except duckdb.Error:
                continue
            figures[label] = ", ".join(f"FY{fy} {int(n):,}" for fy, n in rows) or "none"
    return figures


def format_summary(summary: RunSummary, settings: Settings) -> str:
    files = summary.files
    lines = [
        f"── welfare run {summary.run_id[:8]} ── {'SUCCEEDED' if summary.success else 'FAILED'} ──"
    ]
    if files.empty:
        lines.append("Files: no new files in the landing folder.")
    else:
        counts = files["status"].value_counts()
        lines.append(
            f"Files: {len(files)} new — {counts.get('loaded', 0)} loaded, "
            f"{counts.get('held', 0)} held for confirmation, "
            f"{counts.get('rejected', 0)} rejected, {counts.get('duplicate', 0)} already received"
        )
        total = {
            c: int(files[c].fillna(0).sum())
            for c in (
                "rows_read",
                "rows_loaded",
                "rows_quarantined",
                "rows_skipped",
                "rows_rejected",
            )
        }
        lines.append(
            f"Rows: {total['rows_read']:,} read = {total['rows_loaded']:,} loaded + "
            f"{total['rows_quarantined']:,} quarantined + {total['rows_skipped']:,} skipped + "
            f"{total['rows_rejected']:,} in rejected files"
        )
        for row in files[files["status"] == "rejected"].itertuples():
            lines.append(f"  REJECTED {row.source}/{row.file_name}: {row.reason}")
        for row in files[files["status"] == "held"].itertuples():
            lines.append(f"  HELD {row.source}/{row.file_name}: {row.reason}")
        if (files["status"] == "held").any():
            lines.append(
                "  A held file is not in the marts (an earlier version, if any, still is). "
                "Send a corrected file, or after confirming with the sender: "
                "welfare release FILE --by NAME --reason TEXT"
            )
        quarantined = files[files["rows_quarantined"].fillna(0) > 0]
        if len(quarantined):
            lines.append(
                f"  {len(quarantined)} file(s) had rows quarantined: see "
                "audit.quarantined_rows (file, row, column, value, rule)."
            )
    lines.append(
        f"Checks: {summary.checks_passed} passed, {len(summary.checks_failed)} failed, "
        f"{len(summary.checks_warned)} warnings"
    )
    lines.extend(f"  FAILED check {name}" for name in summary.checks_failed)
    lines.extend(f"  warning {name}" for name in summary.checks_warned)
    lines.extend(f"  FAILED step {step}" for step in summary.failed_steps)
    lines.append(f"Tables built: {summary.tables_built} (marts and audit)")
    if summary.published:
        lines.append(f"Published: {settings.warehouse}")
    elif summary.unchanged:
        lines.append(f"Unchanged (no new inputs), still published: {settings.warehouse}")
    elif settings.warehouse.exists():
        lines.append(f"Not published; the previous warehouse is unchanged: {settings.warehouse}")
    else:
        lines.append("Not published; there is no warehouse yet.")
    for label, value in summary.figures.items():
        lines.append(f"  {label}: {value}")
    if summary.report:
        lines.append(f"Report (年次概要): {summary.report}")
    if summary.log_path:
        lines.append(f"Log (dbt output): {summary.log_path}")
    return "\n".join(lines)


def progress_logger() -> logging.Logger:
    return logging.getLogger(PROGRESS_LOGGER)
