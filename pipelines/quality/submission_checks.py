"""Checking one submission's rows with its source's suite, once, as the file is taken in.

A failed ``error`` expectation holds that submission back (ledger status ``held``) with a
reason its sender can act on; a failed ``warning`` lets it load and is shown. Nothing else is
held back: other submissions, sources and the run go on. Plain Python, no Dagster: intake
and ``welfare validate`` both call :func:`check_submission`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipelines.ingest.contract import load_contract
from pipelines.quality.suites import Suite, plain_value, submission_suite, validator

ROW_COLUMN = "source_row"  # the file's own row number (as Excel shows it)
ROWS_SHOWN = 10


@dataclass(frozen=True)
class SubmissionCheck:
    """What a source's suite found in one file."""

    results: pd.DataFrame  # one row per expectation (audit.dq_results), empty without a suite
    errors: tuple[str, ...] = ()  # one line per failed `error` expectation (ja / en)
    warnings: tuple[str, ...] = field(default=())
    # Against the submitter's published history (pipelines.quality.history): warnings, and
    # their audit.dq_results rows. Kept apart: they depend on what was published when the
    # file came, so they are a record of that moment, not derived again from the file.
    history: tuple[str, ...] = ()
    history_results: pd.DataFrame | None = None

    @property
    def shown_warnings(self) -> tuple[str, ...]:
        """Everything the sender and the council are asked to look at."""
        return (*self.warnings, *self.history)

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


BLANK = "空欄"


def _written(value: Any) -> str:
    """A value as the sender reads it: 527, not 527.0; a missing one is 空欄 (blank)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return BLANK
    return plain_value(value)


def describe_finding(
    description: str,
    columns: tuple[str, ...],
    headers: Mapping[str, str],
    failing: list[tuple],
    index_columns: tuple[str, ...],
    judged_value: str | None = None,
) -> str:
    """One failed expectation for the sender, in the file's own terms: the rule, the columns
    as headed in the file, and each row as Excel numbers it with its values as written
    (``failing``: the ``index_columns`` values of each row that failed; ``judged_value``: a
    computed column the rule judged, shown after the values it is computed from)."""
    named = [headers.get(c, c) for c in columns]
    parts = ["列 column: " + "、".join(f"「{name}」" for name in named)]
    shown = []
    for values in failing[:ROWS_SHOWN]:
        by_column = dict(zip(index_columns, values, strict=True))
        cells = "、".join(f"{headers.get(c, c)} {_written(by_column.get(c))}" for c in columns)
        if judged_value is not None and judged_value in by_column:
            cells += f" → {_written(by_column[judged_value])}"
        shown.append(f"{_written(by_column[ROW_COLUMN])}行目（{cells}）")
    if shown:
        more = len(failing) - ROWS_SHOWN
        parts.append(
            "行 rows: " + "、".join(shown) + (f" … ほか{more}行 (+{more})" if more > 0 else "")
        )
    return f"{description} — " + "; ".join(parts)


def check_submission(
    source: str,
    rows: pd.DataFrame,
    run_id: str,
    sha256: str | None = None,
    file_name: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> SubmissionCheck:
    """Validate one file's clean rows with its source's suite (none: nothing to check).
    ``headers``: each column as the file heads it, for the findings' wording."""
    return check_submission_in_slices(source, [rows], run_id, sha256, file_name, headers)


def check_submission_in_slices(
    source: str,
    slices: Iterable[pd.DataFrame],
    run_id: str,
    sha256: str | None = None,
    file_name: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> SubmissionCheck:
    """The same, on a large file's clean rows slice by slice: every slice is consumed (the
    caller may write each as it passes), and the findings are the whole file's. ``headers``
    is read once the slices are consumed (a sliced read learns them from its first slice)."""
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

    results, failing = validator().validate(suite, frames(), run_id, _index_columns(suite))
    if not checked:
        return NOT_CHECKED
    return _conclude(suite, results, failing, sha256, file_name, headers)


@dataclass(frozen=True)
class SubmissionRows:
    """One file's clean rows, to be checked."""

    rows: pd.DataFrame
    sha256: str | None = None
    file_name: str | None = None
    headers: Mapping[str, str] | None = None  # each column as the file heads it


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
        _index_columns(suite),
    )
    found = iter(validated)  # in the order of the files with rows
    return [
        _conclude(suite, *next(found), f.sha256, f.file_name, f.headers)
        if not f.rows.empty
        else NOT_CHECKED
        for f in files
    ]


def _index_columns(suite: Suite) -> tuple[str, ...]:
    """What is kept of each row that fails: the file's row number, the values the rules
    judge, and the computed values they judged."""
    return (ROW_COLUMN, *suite.judged, *suite.derived)


def _conclude(
    suite: Suite,
    results: pd.DataFrame,
    failing: list[list[tuple]],
    sha256: str | None,
    file_name: str | None,
    headers: Mapping[str, str] | None,
) -> SubmissionCheck:
    """The suite's results for one file, for the ledger and its sender."""
    results["sha256"], results["file_name"] = sha256, file_name
    results["rows"] = [
        ", ".join(plain_value(values[0]) for values in rows) or None for rows in failing
    ]
    contract = load_contract(suite.table)
    named = {c.name: c.header for c in contract.columns} | dict(headers or {})
    index_columns = _index_columns(suite)
    lines: dict[str, list[str]] = {"error": [], "warning": []}
    for expectation, success, rows in zip(
        suite.expectations, results["success"], failing, strict=True
    ):
        if success:
            continue
        column = expectation["kwargs"].get("column")
        lines[expectation["meta"]["severity"]].append(
            describe_finding(
                expectation["meta"].get("description", expectation["type"]),
                suite.judged_columns(expectation),
                named,
                rows,
                index_columns,
                judged_value=column if column in suite.derived else None,
            )
        )
    return SubmissionCheck(
        results=results, errors=tuple(lines["error"]), warnings=tuple(lines["warning"])
    )
