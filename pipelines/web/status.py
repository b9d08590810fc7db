"""What the published warehouse says about submissions: read-only, one short connection each.

The page reads only the published copy (``warehouse.duckdb``), as analysts do: it never blocks
the nightly run, and it shows what the last published run made of each file.
"""

from __future__ import annotations

import pandas as pd

from pipelines.foundation.settings import Settings
from pipelines.ingest.messages import SUBMISSION_STAGE, SUBMISSION_STATUS, SUBMISSION_TIMELINESS
from pipelines.warehouse.engine import open_published
from pipelines.warehouse.publication import NotPublished, tables_in

STATUS_LABELS = {status: f"{ja} / {en}" for status, (ja, en) in SUBMISSION_STATUS.items()}
STAGE_LABELS = {stage: f"{ja} / {en}" for stage, (ja, en) in SUBMISSION_STAGE.items()}


def _query(settings: Settings, sql: str, parameters: list) -> pd.DataFrame | None:
    """The rows, a missing value as None (never NaN, which a page would show as "nan");
    None when nothing has been published yet."""
    try:
        with open_published(settings, tables_in(sql)) as connection:
            frame = connection.execute(sql, parameters).df()
    except NotPublished:
        return None
    return frame.astype(object).where(frame.notna(), None)


def _submitter_filter(column: str, submitter_code: str | None) -> tuple[str, list]:
    if submitter_code is None:
        return "true", []
    return f"{column} = ?", [submitter_code]


def submissions(
    settings: Settings, submitter_code: str | None, sent: list[str] | tuple[str, ...] = ()
) -> pd.DataFrame | None:
    """Every file received from the submitter (all submitters: None), newest first, and the
    files with the SHA-256s in ``sent`` (sent through the page: shown even when the reader
    could not tell whose they are)."""
    where, parameters = _submitter_filter("submitter_code", submitter_code)
    if submitter_code is not None and sent:
        where = f"({where} or sha256 in (select unnest(?)))"
        parameters = [*parameters, list(sent)]
    return _query(
        settings,
        "select sha256, source, file_name, received_at, sent_by, status, submitter_code, "
        "submitter_name, fiscal_year, rows_read, rows_loaded, rows_quarantined, rows_skipped, "
        "rows_rejected, reason, hold_reason, released_at, released_by, review_decision, "
        "review_comment, after_closing, consultations_held, consultations_held_for_years "
        f"from audit.submissions where {where} order by received_at desc, file_name",
        parameters,
    )


def submission_status(settings: Settings, submitter_code: str | None) -> pd.DataFrame | None:
    where, parameters = _submitter_filter("submitter_code", submitter_code)
    return _query(
        settings,
        "select fiscal_year, source, stage, submitter_code, submitter_name, status, latest_file, "
        "received_at, hold_reason, rows_loaded, rows_quarantined, review_state, review_comment, "
        "year_closed, after_closing_file, period_start, period_end, due_on, timeliness, "
        "days_late, "
        "days_overdue, reminders_sent, last_reminded_at "
        f"from marts.submission_status where {where} "
        "order by fiscal_year desc, source, submitter_code, period_start, due_on",
        parameters,
    )


def history_warnings(settings: Settings) -> dict[str, str]:
    """The history warnings of each file (by file name): what changed against its
    submitter's previous period."""
    frame = _query(
        settings,
        "select file_name, string_agg(description, ' / ' order by column_name) as warnings "
        "from audit.dq_results where suite = 'history' and not success group by file_name",
        [],
    )
    return {} if frame is None else dict(zip(frame["file_name"], frame["warnings"], strict=True))


TIMELINESS_LABELS = {t: f"{ja} / {en}" for t, (ja, en) in SUBMISSION_TIMELINESS.items()}


def submission(settings: Settings, sha256: str) -> pd.DataFrame | None:
    return _query(
        settings,
        "select sha256, source, file_name, submitter_code, submitter_name, fiscal_year, status, "
        "hold_reason, after_closing, consultations_held, consultations_held_for_years "
        "from audit.submissions where sha256 = ?",
        [sha256],
    )


def quarantined_rows(settings: Settings, sha256: str) -> pd.DataFrame | None:
    return _query(
        settings,
        "select row_number, header, cell_value, rule, message from audit.quarantined_rows "
        "where sha256 = ? order by row_number, column_name",
        [sha256],
    )


def published_at(settings: Settings) -> str | None:
    frame = _query(settings, "select max(published_at) as at from audit.publishes", [])
    if frame is None or frame.empty or pd.isna(frame["at"].iloc[0]):
        return None
    return f"{pd.Timestamp(frame['at'].iloc[0]):%Y-%m-%d %H:%M} UTC"
