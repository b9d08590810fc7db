"""Checking one submission's rows with its source's suite, once, as the file is taken in.

A failed ``error`` expectation holds that submission back (ledger status ``held``) with a
reason its sender can act on; a failed ``warning`` lets it load and is shown. Nothing else is
held back: other submissions, sources and the run go on. Plain Python, no Dagster: intake
and ``welfare validate`` both call :func:`check_submission`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pandas as pd

from pipelines.ingest.contract import load_contract
from pipelines.quality.suites import submission_suite, validator

ROW_COLUMN = "source_row"  # the file's own row number (as Excel shows it)
ROWS_SHOWN = 10


@dataclass(frozen=True)
class SubmissionCheck:
    """What a source's suite found in one file."""

    results: pd.DataFrame  # one row per expectation (audit.dq_results), empty without a suite
    errors: tuple[str, ...] = ()  # one line per failed `error` expectation (ja / en)
    warnings: tuple[str, ...] = field(default=())

    @property
    def held(self) -> bool:
        return bool(self.errors)

    @property
    def hold_reason(self) -> str | None:
        if not self.errors:
            return None
        return (
            "確認が必要な値があるため、このファイルは確認待ちになりました（集計には入りません）。値を直して再提出するか、"
            "市社協に確認を依頼してください。 / This file is held: a check the council treats "
            "as an error failed. Send a corrected file, or ask the council to confirm and "
            "release it. — " + " / ".join(self.errors)
        )


NOT_CHECKED = SubmissionCheck(results=pd.DataFrame())


def describe_finding(finding, column_label: str) -> str:
    """One failed expectation, for the sender: rule, column, values, row numbers."""
    rows = (finding.rows or "").split(", ") if finding.rows else []
    shown = ", ".join(rows[:ROWS_SHOWN]) + (
        f" … (+{len(rows) - ROWS_SHOWN})" if len(rows) > ROWS_SHOWN else ""
    )
    parts = [f"列 column: {column_label}"]
    if finding.examples:
        parts.append(f"値 values: {finding.examples}")
    if rows:
        parts.append(f"行 rows: {shown}")
    return f"{finding.description} — " + "; ".join(parts)


def check_submission(
    source: str,
    rows: pd.DataFrame,
    run_id: str,
    submission_id: str | None = None,
    file_name: str | None = None,
) -> SubmissionCheck:
    """Validate one file's clean rows with its source's suite (none: nothing to check)."""
    return check_submission_in_slices(source, [rows], run_id, submission_id, file_name)


def check_submission_in_slices(
    source: str,
    slices: Iterable[pd.DataFrame],
    run_id: str,
    submission_id: str | None = None,
    file_name: str | None = None,
) -> SubmissionCheck:
    """The same, on a large file's clean rows slice by slice: every slice is consumed (the
    caller may write each as it passes), and the findings are the whole file's."""
    suite = submission_suite(source)
    if suite is None:
        for _ in slices:
            pass
        return NOT_CHECKED
    checked = 0

    def frames() -> Iterator[pd.DataFrame]:
        nonlocal checked
        for rows in slices:
            if not rows.empty:
                checked += len(rows)
                yield rows[[*suite.columns, ROW_COLUMN]]

    results, failing = validator().validate(suite, frames(), run_id, index_columns=(ROW_COLUMN,))
    if not checked:
        return NOT_CHECKED
    return _conclude(source, results, failing, submission_id, file_name)


@dataclass(frozen=True)
class SubmissionRows:
    """One file's clean rows, to be checked."""

    rows: pd.DataFrame
    submission_id: str | None = None
    file_name: str | None = None


def check_submissions(
    source: str, files: list[SubmissionRows], run_id: str
) -> list[SubmissionCheck]:
    """:func:`check_submission` for several files of one source, in as few great-expectations
    runs as the suite allows; each file's findings are its own."""
    suite = submission_suite(source)
    checked = [f for f in files if not f.rows.empty]
    if suite is None or not checked:
        return [NOT_CHECKED for _ in files]
    validated = validator().validate_each(
        suite,
        [f.rows[[*suite.columns, ROW_COLUMN]] for f in checked],
        run_id,
        ROW_COLUMN,
    )
    found = iter(validated)  # in the order of the files with rows
    return [
        _conclude(source, *next(found), f.submission_id, f.file_name)
        if not f.rows.empty
        else NOT_CHECKED
        for f in files
    ]


def _conclude(
    source: str,
    results: pd.DataFrame,
    failing: list[list[tuple]],
    submission_id: str | None,
    file_name: str | None,
) -> SubmissionCheck:
    """The suite's results for one file, for the ledger and its sender."""
    results["submission_id"], results["file_name"] = submission_id, file_name
    results["rows"] = [
        ", ".join(str(n) for n in sorted(int(row) for (row,) in index)) or None for index in failing
    ]
    failed = results[~results["success"]]
    contract = load_contract(source)
    labels = {c.name: c.label for c in contract.columns}

    findings = list(failed.itertuples())  # once: a file's few findings, a run's many files

    def lines(severity: str) -> tuple[str, ...]:
        return tuple(
            describe_finding(r, labels.get(r.column_name, r.column_name))
            for r in findings
            if r.severity == severity
        )

    return SubmissionCheck(results=results, errors=lines("error"), warnings=lines("warning"))
