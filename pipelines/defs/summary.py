"""What a run did, for the person who started it: collected from the Dagster run's events
and the ledger, and written as the summary `welfare run` prints."""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipelines.foundation.disk import disk_line_in, mentions_disk_trouble
from pipelines.foundation.settings import Settings, today
from pipelines.ingest.closing import locked_years
from pipelines.ingest.contract import SOURCE_KEYS, row_dated_sources
from pipelines.ingest.lake import Lake
from pipelines.ingest.landing import stray_files
from pipelines.intake.space import disk_full_message
from pipelines.reporting.figures import (
    HEADLINE_TABLES,
    HELD_TABLES,
    headline_figures,
    held_consultations,
    overdue,
)
from pipelines.warehouse.dbt import failed_nodes
from pipelines.warehouse.engine import is_published, open_published, published_location
from pipelines.warehouse.publication import NotPublished


@dataclass
class RunSummary:
    run_id: str
    success: bool
    started_at: dt.datetime
    files: pd.DataFrame  # ledger entries received during this run
    checks_passed: int = 0
    passed_checks: list[str] = field(default_factory=list)  # asset:check of each that passed
    checks_failed: list[str] = field(default_factory=list)
    checks_warned: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)
    tables_built: int = 0
    published: bool = False
    figures: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    unchanged: bool = False
    skipped: bool = False  # nothing new: the job was not started at all
    report: Path | None = None
    repairs: list[str] = field(default_factory=list)  # lake files rebuilt from the archive
    disk_full: str | None = None  # the operator's one line when a step ran out of disk
    timings: list[tuple[str, float]] = field(default_factory=list)  # (stage, seconds), in order


# A run's steps by stage, for where its time went (first match of a step key wins).
STAGES = (
    ("submission_ledger", "ledger"),
    ("lake__", "reading and checking files"),
    ("warehouse_models", "dbt build and tests"),
    ("_gx_", "mart checks"),
    ("published_warehouse", "publishing"),
    ("reports__", "report"),
)
JOB_TIME = "job"  # the job's wall time, as the runner measured it: split into stages here


def stage_of(step_key: str) -> str:
    return next((stage for part, stage in STAGES if part in step_key), step_key)


def split_job_time(timings: list[tuple[str, float]], step_seconds: dict[str, float]):
    """The runner's timings with the job's wall time replaced by its stages, and what Dagster
    spent around the steps (its events, the steps' set-up) as one more."""
    stages: dict[str, float] = {}
    for step, seconds in step_seconds.items():
        stage = stage_of(step)
        stages[stage] = stages.get(stage, 0.0) + seconds
    result = []
    for name, seconds in timings:
        if name != JOB_TIME:
            result.append((name, seconds))
            continue
        result.extend(stages.items())
        result.append(("Dagster around the steps", max(0.0, seconds - sum(stages.values()))))
    return result


def _failure_message(error) -> str:
    """What the summary says of a failed step: a ``Failure`` a step raised for people (its
    description, every line of it); anything else, its error's first line (the whole error,
    with its stack, is in the run's log: ``_keep_in_log``)."""
    if error is None:
        return "unknown error"
    if error.cls_name == "Failure":
        text = error.message.strip().split(": ", 1)[-1]
        return "\n      ".join(line for line in text.splitlines() if line.strip())
    return error.message.strip().splitlines()[0]


def _dbt_error(message: str) -> str | None:
    """The first error dbt's output gave for a failed command, on one line (dagster-dbt lists
    them in its error after "Errors parsed from dbt logs:"); None when it gave none: what a
    summary says when dbt left no results to name a model or test from (dbt itself ended)."""
    _, found, errors = message.partition("Errors parsed from dbt logs:")
    lines = [line.strip() for line in errors.splitlines() if line.strip()]
    lines = [line for line in lines if line != "Encountered an error:"]
    return lines[0][:200] if found and lines else None


def _keep_in_log(log_path: Path, step: str | None, error) -> None:
    """The whole error of a failed step, stack included, at the end of the run's log (the
    terminal gets the summary's line)."""
    if error is None:
        return
    with contextlib.suppress(OSError), log_path.open("a", encoding="utf-8") as log:
        log.write(f"\n── step {step} failed ──\n{error.to_string()}\n")


def summarize(
    settings: Settings,
    result,
    started: dt.datetime,
    log_path: Path,
    timings: list[tuple[str, float]] = (),
) -> RunSummary:
    """The summary of a finished Dagster run (``ExecuteInProcessResult``); ``timings``: the
    runner's stages so far, the job's wall time as ``JOB_TIME``."""
    import dagster as dg

    summary = RunSummary(
        run_id=result.run_id,
        success=result.success,
        started_at=started,
        files=_files_of_run(settings, _ledger_entries(result), started),
        log_path=log_path,
    )
    for evaluation in result.get_asset_check_evaluations():
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.description and not evaluation.passed:
            name += f" — {evaluation.description}"
        if evaluation.passed:
            summary.checks_passed += 1
            summary.passed_checks.append(name)
        elif evaluation.severity == dg.AssetCheckSeverity.WARN:
            summary.checks_warned.append(name)
        else:
            summary.checks_failed.append(name)
    step_seconds: dict[str, float] = {}
    for event in result.all_events:
        if event.is_step_success and event.step_key:
            step_seconds[event.step_key] = event.step_success_data.duration_ms / 1000
        if event.is_step_failure:
            error = event.step_failure_data.error
            message = _failure_message(error)
            _keep_in_log(log_path, event.step_key, error)
            if error and "DagsterDbtCliRuntimeError" in error.message:
                failed = failed_nodes(settings, result.run_id)
                if not failed and (said := _dbt_error(error.message)):
                    failed = [said]  # no results to name a node from: dbt itself ended
                message = (
                    "dbt build failed — " + "; ".join(failed)
                    if failed
                    else "dbt build failed (the run's log has dbt's output)"
                )
            summary.failed_steps.append(f"{event.step_key}: {message}")
            trouble = error and mentions_disk_trouble(error.message, settings.home)
            if trouble and not summary.disk_full:
                summary.disk_full = disk_line_in(message) or disk_full_message(
                    settings, detail=message
                )
        if event.is_step_materialization:
            key = event.asset_key
            metadata = event.step_materialization_data.materialization.metadata
            if (repaired := metadata.get("lake_files_repaired")) and repaired.value != "none":
                summary.repairs += [line[2:] for line in repaired.value.splitlines()]
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
    summary.figures = published_headlines(settings)
    summary.files = _with_held_consultations(settings, summary.files)
    summary.timings = split_job_time(list(timings), step_seconds)
    return summary


def _files_of_run(settings: Settings, entries: set[str], started: dt.datetime) -> pd.DataFrame:
    """The ledger entries the run wrote (``entries``: as its ingestion steps said), and any
    received since it started (a step that failed half-way said nothing)."""
    ledger = Lake(settings.lake).ledger()
    if ledger.empty:
        return ledger
    received = pd.to_datetime(ledger["received_at"], utc=True)
    files = ledger[ledger["entry_id"].isin(entries) | (received >= pd.Timestamp(started))]
    files = files.sort_values("received_at")
    lake = Lake(settings.lake)
    late = [
        ", ".join(f"FY{year}" for year in locked_years(lake, entry)) or None
        if entry["status"] in ("loaded", "held")
        else None
        for _, entry in files.iterrows()
    ]
    return files.assign(closed_years=late)


def _with_held_consultations(settings: Settings, files: pd.DataFrame) -> pd.DataFrame:
    """The run's files with how many consultations closed years hold back of each, and which
    years, as published (audit.consultations_held; none when nothing was published)."""
    held: dict[str, tuple[int, list[int]]] = {}
    if not files.empty and files["source"].isin(row_dated_sources()).any():
        try:
            with open_published(settings, HELD_TABLES) as connection:
                held = held_consultations(connection)
        except NotPublished:
            pass
    return files.assign(consultations_held=[held.get(sha256) for sha256 in files.get("sha256", [])])


def _ledger_entries(result) -> set[str]:
    """The ledger entries a run's ingestion steps wrote (their materializations say)."""
    entries: set[str] = set()
    for event in result.all_events:
        if event.is_step_materialization:
            metadata = event.step_materialization_data.materialization.metadata
            if (written := metadata.get("ledger_entries")) is not None:
                entries.update(written.value)
    return entries


def published_headlines(settings: Settings) -> dict[str, str]:
    """The council's published figures, read back from the published warehouse."""
    try:
        with open_published(settings, HEADLINE_TABLES) as connection:
            headlines = {
                label: ", ".join(f"FY{fy} {n:,}" for fy, n in by_year) or "none"
                for label, by_year in headline_figures(connection).items()
            }
            if (late := overdue(connection)) is not None:
                headlines[f"submissions overdue on {today():%Y-%m-%d} (期限切れ)"] = late
            return headlines
    except NotPublished:
        return {}


def skipped_summary(settings: Settings) -> RunSummary:
    """A run that was not needed: no new file, the inputs of the published version."""
    return RunSummary(
        run_id="-",
        success=True,
        started_at=dt.datetime.now(dt.UTC),
        files=pd.DataFrame(),
        unchanged=True,
        skipped=True,
        figures=published_headlines(settings),
    )


def stray_lines(settings: Settings) -> list[str]:
    """What a person must move for it to be read: files in landing/ outside the sources'
    folders."""
    stray = stray_files(settings)
    if not stray:
        return []
    named = ", ".join(p.relative_to(settings.landing).as_posix() for p in stray[:5])
    more = f", … {len(stray) - 5} more" if len(stray) > 5 else ""
    return [
        f"Not read: {len(stray)} file(s) in {settings.landing} outside a source's folder "
        f"({named}{more}): move each into landing/<source>/ ({', '.join(SOURCE_KEYS)}). / "
        "受付フォルダの直下などに置かれたファイルは読み込まれません。種類ごとのフォルダへ移してください。"
    ]


def format_summary(summary: RunSummary, settings: Settings) -> str:
    files = summary.files
    if summary.skipped:
        return "\n".join(
            [
                "── welfare run ── NOTHING NEW ──",
                "No new file in the landing folder, and the files, releases, models, contracts "
                "and checks are those of the published version: nothing to do "
                "(`welfare run --force` runs the job anyway).",
                *stray_lines(settings),
                f"Still published: {published_location(settings)}",
                *(f"  {label}: {value}" for label, value in summary.figures.items()),
            ]
        )
    lines = [
        f"── welfare run {summary.run_id[:8]} ── {'SUCCEEDED' if summary.success else 'FAILED'} ──"
    ]
    if summary.disk_full:
        lines.append(summary.disk_full)
    lines.extend(stray_lines(settings))
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
        for row in files[files["consultations_held"].notna()].itertuples():
            held, years = row.consultations_held
            named = ", ".join(f"FY{year}" for year in years)
            release = (
                f"welfare release {row.file_name} --by NAME --reason TEXT (for "
                f"{row.closed_years}, the years its months touch), or "
                if row.closed_years
                else ""
            )
            newest_first = ", then ".join(f"FY{year}" for year in reversed(years))
            lines.append(
                f"  AFTER CLOSING {row.source}/{row.file_name}: {held} consultation(s) held back "
                f"— 締切後（{named} 確定済み）: they stay as the closed figures count them (rows "
                f"of a closed year, or a 受付日 moved out of one: audit.consultations_held); the "
                f"rest of the export counts. To let them count: {release}welfare reopen-year, "
                f"newest year first ({newest_first})"
            )
        late_files = files["closed_years"].notna() & files["consultations_held"].isna()
        for row in files[late_files].itertuples():
            counted = (
                f"its rows of {row.closed_years} are held back (the rest counts)"
                if row.source in row_dated_sources()
                else f"not counted for {row.closed_years} (closed)"
            )
            lines.append(
                f"  AFTER CLOSING {row.source}/{row.file_name}: "
                f"締切後（{row.closed_years} 確定済み） — received and checked, {counted}: "
                "welfare release FILE --by NAME --reason TEXT accepts it, or welfare reopen-year"
            )
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
    if summary.repairs:
        lines.append(
            f"Repaired: {len(summary.repairs)} damaged or missing lake file(s) rebuilt from "
            "the archive (nothing to do; check the disk if this repeats):"
        )
        lines.extend(f"  {repair}" for repair in summary.repairs)
    lines.append(
        f"Checks: {summary.checks_passed} passed, {len(summary.checks_failed)} failed, "
        f"{len(summary.checks_warned)} warnings"
    )
    lines.extend(f"  FAILED check {name}" for name in summary.checks_failed)
    lines.extend(f"  warning {name}" for name in summary.checks_warned)
    lines.extend(f"  FAILED step {step}" for step in summary.failed_steps)
    lines.append(f"Tables built: {summary.tables_built} (marts and audit)")
    if summary.published:
        lines.append(f"Published: {published_location(settings)}")
    elif summary.unchanged:
        lines.append(f"Unchanged (no new inputs), still published: {published_location(settings)}")
    elif is_published(settings):
        lines.append(
            f"Not published; the previous warehouse is unchanged: {published_location(settings)}"
        )
    else:
        lines.append("Not published; there is no warehouse yet.")
    for label, value in summary.figures.items():
        lines.append(f"  {label}: {value}")
    if summary.report:
        lines.append(f"Report (年次概要): {summary.report}")
    if summary.timings:
        lines.append(format_timings(summary.timings))
    if summary.log_path:
        lines.append(f"Log (dbt output, failed steps in full): {summary.log_path}")
    return "\n".join(lines)


def format_timings(timings: list[tuple[str, float]]) -> str:
    total = sum(seconds for _, seconds in timings)
    stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings if seconds >= 0.05)
    return f"Time: {total:.1f} s — {stages}"
