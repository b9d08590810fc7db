"""Every table of the lake, by name, with its schema: the one place that says what each holds.

Three kinds of table, each a folder of Parquet files under ``lake/``:

* a source's rows (``lake/<source>/<sha256>.parquet``): the clean rows of each file received,
  typed by the source's contract, with the file's SHA-256 and each row's number in the file;
* what intake derives from each file: the ledger (``submissions``: one entry per file
  received), its quarantined cells, its check results (``dq_results/<sha256>``);
* records of decisions and events, kept in the archive first (``archive/records/<table>/``)
  and copied here: releases of held files, the council's reviews, closed and reopened fiscal
  years with the files that made their figures, vintages kept, reminders sent, failed
  runs, extracts handed out, the mart checks' results (``dq_results/<run>__<suite>``).

A received file's identity is its SHA-256, named ``sha256`` in every table from here to the
marts. :data:`LAYOUT` is the version of these schemas: a lake written with another is derived
again from the archive (``welfare rebuild-lake``) before a run reads it.
"""

from __future__ import annotations

import pyarrow as pa

from pipelines.ingest.contract import Contract

LAYOUT = 2  # 2: the file's identity is `sha256` in every table (it was `submission_id` in some)

LEDGER = "submissions"
QUARANTINE = "quarantined_rows"
DQ_RESULTS = "dq_results"
RELEASES = "releases"
RUN_FAILURES = "run_failures"
EXTRACTS = "extracts"
REVIEWS = "reviews"
YEAR_CLOSINGS = "year_closings"
CLOSED_FILES = "closed_files"
VINTAGES = "vintages"
REMINDERS = "reminders"

LEDGER_SCHEMA = pa.schema(
    [
        ("entry_id", pa.string()),
        ("sha256", pa.string()),
        ("source", pa.string()),
        ("file_name", pa.string()),
        ("landing_path", pa.string()),
        ("archive_path", pa.string()),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("file_modified_at", pa.timestamp("us", tz="UTC")),
        # loaded / held / rejected / duplicate (superseded is derived in dbt)
        ("status", pa.string()),
        ("duplicate_of", pa.string()),
        ("submitter_code", pa.string()),
        ("submitter_name", pa.string()),
        ("fiscal_year", pa.int64()),
        ("period_start", pa.date32()),
        ("period_end", pa.date32()),
        ("rows_read", pa.int64()),
        ("rows_loaded", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("rows_skipped", pa.int64()),
        ("rows_rejected", pa.int64()),
        ("reason", pa.string()),
        ("warnings", pa.string()),
        ("encoding", pa.string()),
        ("sheet", pa.string()),
        # JSON {path under lake/: SHA-256} of the lake files derived from this file, so a
        # damaged one is found and derived again from the archive (pipelines.intake.repair).
        ("lake_files", pa.string()),
        # The account that sent the file through the submission page, and when (None: the
        # file was copied into landing/ by hand).
        ("sent_by", pa.string()),
        ("sent_at", pa.timestamp("us", tz="UTC")),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("sha256", pa.string()),
        ("source", pa.string()),
        ("file_name", pa.string()),
        ("row_number", pa.int64()),
        ("column_name", pa.string()),
        ("header", pa.string()),
        ("value", pa.string()),
        ("rule", pa.string()),
        ("message", pa.string()),
    ]
)

DQ_RESULT_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("checked_at", pa.timestamp("us", tz="UTC")),
        ("suite", pa.string()),
        ("target", pa.string()),
        ("sha256", pa.string()),  # the file checked (submission suites), else null
        ("file_name", pa.string()),
        ("expectation", pa.string()),
        ("column_name", pa.string()),
        ("description", pa.string()),
        ("severity", pa.string()),
        ("success", pa.bool_()),
        ("element_count", pa.int64()),
        ("unexpected_count", pa.int64()),
        ("examples", pa.string()),
        ("rows", pa.string()),  # the file's row numbers behind unexpected values
        ("files", pa.string()),
    ]
)

RELEASE_SCHEMA = pa.schema(
    [
        ("sha256", pa.string()),
        ("source", pa.string()),
        ("file_name", pa.string()),
        ("released_at", pa.timestamp("us", tz="UTC")),
        ("released_by", pa.string()),
        ("reason", pa.string()),
        ("findings", pa.string()),  # the hold reason that was released
    ]
)

RUN_FAILURE_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("job_name", pa.string()),
        ("failed_at", pa.timestamp("us", tz="UTC")),
        ("failed_steps", pa.string()),
        ("message", pa.string()),
    ]
)

EXTRACT_SCHEMA = pa.schema(
    [
        ("extract_id", pa.string()),
        ("name", pa.string()),
        ("requester", pa.string()),
        ("purpose", pa.string()),
        ("requested_by", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("spec_path", pa.string()),
        ("spec_sha256", pa.string()),
        ("tables", pa.string()),
        ("warehouse_version", pa.string()),
        ("cells_hidden", pa.int64()),
        ("package_path", pa.string()),
        ("zip_sha256", pa.string()),
        ("manifest_sha256", pa.string()),
    ]
)

# The council's review of a received file (承認 / 差し戻し); a file's latest review decides.
REVIEW_SCHEMA = pa.schema(
    [
        ("review_id", pa.string()),
        ("sha256", pa.string()),
        ("source", pa.string()),
        ("file_name", pa.string()),
        ("submitter_code", pa.string()),
        ("fiscal_year", pa.int64()),
        ("decision", pa.string()),  # approved / returned
        ("reviewed_at", pa.timestamp("us", tz="UTC")),
        ("reviewed_by", pa.string()),
        ("comment", pa.string()),
    ]
)

# Closing and reopening a fiscal year; a year's latest event says whether it is closed.
YEAR_CLOSING_SCHEMA = pa.schema(
    [
        ("closing_id", pa.string()),
        ("fiscal_year", pa.int64()),
        ("action", pa.string()),  # closed / reopened
        ("acted_at", pa.timestamp("us", tz="UTC")),
        ("acted_by", pa.string()),
        ("reason", pa.string()),
        ("vintage", pa.string()),  # the vintage kept at closing
    ]
)

# The files whose rows made a closed year's figures: only these count for it while it stays
# closed (and any file released for it afterwards).
CLOSED_FILE_SCHEMA = pa.schema(
    [
        ("closing_id", pa.string()),
        ("fiscal_year", pa.int64()),
        ("sha256", pa.string()),
    ]
)

# Named copies of the published warehouse, kept for good (pipelines.warehouse.vintages).
VINTAGE_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("created_by", pa.string()),
        ("note", pa.string()),
        ("fiscal_year", pa.int64()),  # the year whose closing kept it, else null
        ("warehouse_version", pa.string()),
        ("manifest_sha256", pa.string()),
    ]
)

# A reminder e-mailed to a submitter (one per submitter, period and calendar step).
REMINDER_SCHEMA = pa.schema(
    [
        ("reminder_id", pa.string()),
        ("source", pa.string()),
        ("submitter_code", pa.string()),
        ("fiscal_year", pa.int64()),
        ("period_start", pa.date32()),
        ("period_end", pa.date32()),
        ("due_on", pa.date32()),
        ("step", pa.string()),  # before-14, before-3, due, overdue-7, overdue-14, ...
        ("sent_at", pa.timestamp("us", tz="UTC")),
        ("sent_to", pa.string()),
    ]
)

# Tables of records: written to the archive first, copied to the lake.
RECORD_SCHEMAS: dict[str, pa.Schema] = {
    RELEASES: RELEASE_SCHEMA,
    REVIEWS: REVIEW_SCHEMA,
    YEAR_CLOSINGS: YEAR_CLOSING_SCHEMA,
    CLOSED_FILES: CLOSED_FILE_SCHEMA,
    VINTAGES: VINTAGE_SCHEMA,
    REMINDERS: REMINDER_SCHEMA,
    RUN_FAILURES: RUN_FAILURE_SCHEMA,
    EXTRACTS: EXTRACT_SCHEMA,
    DQ_RESULTS: DQ_RESULT_SCHEMA,
}
# What the warehouse is built from besides the sources' rows, by what a new record changes:
# decisions on one file (each names its file's source), closings (every source), events.
DECISION_TABLES = (RELEASES, REVIEWS)
CLOSING_TABLES = (YEAR_CLOSINGS, CLOSED_FILES)
EVENT_TABLES = (RUN_FAILURES, EXTRACTS, VINTAGES, REMINDERS)
WAREHOUSE_INPUTS = (LEDGER, *DECISION_TABLES, *CLOSING_TABLES, *EVENT_TABLES)
# The lake's own tables besides the sources'.
SCHEMAS: dict[str, pa.Schema] = {
    LEDGER: LEDGER_SCHEMA,
    QUARANTINE: QUARANTINE_SCHEMA,
    **RECORD_SCHEMAS,
}


def source_schema(contract: Contract) -> pa.Schema:
    """A source's rows: its contract's columns, typed, after the file's SHA-256 and the row's
    number in the file."""
    fields = [pa.field("sha256", pa.string()), pa.field("source_row", pa.int64())]
    for column in contract.columns:
        fields.append(pa.field(column.name, column.column_type.arrow))
        if column.key:
            fields.append(pa.field(column.key_name, pa.string()))
    if contract.fiscal_year_from_date:
        fields.append(pa.field("fiscal_year", pa.int64()))
    return pa.schema(fields)


def all_schemas(contracts: list[Contract]) -> dict[str, pa.Schema]:
    return {**{c.key: source_schema(c) for c in contracts}, **SCHEMAS}
