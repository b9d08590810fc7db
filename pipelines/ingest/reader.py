"""The one generic, contract-driven reader: a received file → clean rows, quarantine, or rejection.

Pure functions; no Dagster, no files written. ``welfare validate`` and the ingestion assets both
call :func:`read_submission`, so what staff see before sending is what the pipeline will do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from pipelines.ingest import normalize
from pipelines.ingest.cells import (
    MAX_CSV_BYTES,
    MAX_FILE_BYTES,
    SLICE_FROM_BYTES,
    CellTable,
    csv_layout,
    csv_slices,
    is_csv,
    read_cells,
)
from pipelines.ingest.contract import Column, Contract
from pipelines.ingest.messages import (
    NoHeaderOnSheet,
    UnreadableFile,
    file_message,
    row_message,
)

SKIP_TOTALS = {"合計", "計", "小計", "総計"}
SKIP_TOTALS_MARK = "計"  # in every one of them
SKIP_NOTE_PREFIXES = ("※", "注")
QUARANTINE_COLUMNS = ["row_number", "column", "header", "value", "rule", "message"]
REJECTED_SHOWN = 1_000  # wrong cells kept of a file refused as mostly wrong
# A file read in slices keeps its wrong cells until its verdict: past this many (no real
# export comes near) it is refused, so that its memory stays bounded.
MAX_QUARANTINED_CELLS = 2_000_000


@dataclass
class ReadResult:
    """What one file gives: loaded rows, quarantined cells, or a rejection with its reason."""

    source: str
    filename: str
    status: str  # "loaded" or "rejected"
    reason: str | None = None
    submitter_code: str | None = None
    submitter_name: str | None = None
    fiscal_year: int | None = None
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    quarantine: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=QUARANTINE_COLUMNS)
    )
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0
    rows_rejected: int = 0
    warnings: list[str] = field(default_factory=list)
    personal_columns_dropped: list[str] = field(default_factory=list)
    # Each contract column found, as the file heads it (「延べ参加者数」, 「参加者数（延べ）」):
    # what messages to the sender name it by.
    headers: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    sheet: str | None = None

    @property
    def accounted(self) -> bool:
        parts = self.rows_loaded + self.rows_quarantined + self.rows_skipped + self.rows_rejected
        return self.rows_read == parts


def read_submission(data: bytes, filename: str, contract: Contract) -> ReadResult:
    """Read one submitted file against its source contract. Never raises for bad input."""
    result = ReadResult(source=contract.key, filename=filename, status="loaded")
    try:
        table = read_cells(data, filename, _header_scorer(contract))
    except UnreadableFile as error:
        return _reject(result, str(error))
    except NoHeaderOnSheet as error:
        others = "、".join(f"「{name}」" for name in error.others[:5])
        return _reject(
            result,
            file_message(
                "no_header_on_sheet", sheet=error.sheet, others=others, source=contract.label_ja
            ),
        )
    except Exception as error:  # openpyxl and csv raise many kinds for damaged files
        return _reject(result, file_message("unreadable", detail=type(error).__name__))
    if table is None:
        return _reject(result, file_message("no_header", source=contract.label_ja))
    result.encoding, result.sheet = table.encoding, table.sheet
    try:
        return _read_table(table, filename, contract, result)
    except Exception as error:  # a file that trips the reader is rejected, never raised: a
        # step that raises is retried and then holds back every file of its source after it
        return _reject(result, file_message("unreadable", detail=type(error).__name__))


class SlicedRead:
    """A large CSV read from disk slice by slice (pipelines.ingest.cells.csv_slices), by the
    same rules as :func:`read_submission`: iterate :meth:`clean_rows` for each slice's clean
    rows (write them, check them), then :attr:`result` holds the file's verdict and counts
    (its ``rows`` stay empty: they were handed out). Memory is bounded by the slice size and
    the unique keys seen (8 bytes a row); a duplicate key is found across slices."""

    def __init__(self, path: Path, filename: str, contract: Contract, slice_bytes: int | None):
        self.path, self.filename, self.contract = path, filename, contract
        self.slice_bytes = slice_bytes
        self.result = ReadResult(source=contract.key, filename=filename, status="loaded")

    def clean_rows(self) -> Iterator[pd.DataFrame]:
        result, contract = self.result, self.contract
        parts: list[_Part] = []
        try:
            layout = csv_layout(self.path, _header_scorer(contract))
            if layout is None:
                _reject(result, file_message("no_header", source=contract.label_ja))
                return
            result.encoding = layout.encoding
            mapped: _Layout | str | None = None
            seen = SeenKeys()
            for table in csv_slices(self.path, layout, self.slice_bytes):
                if mapped is None:
                    mapped = _map_header(table, contract, result)
                if isinstance(mapped, str):
                    _reject(result, mapped)
                    return
                part = _read_part(table, self.filename, contract, mapped, result, seen)
                if isinstance(part, str):
                    _reject(result, part)
                    return
                if len(part.clean):
                    yield part.clean
                # Counts and quarantine only: an empty slice of the rows would keep them alive.
                empty = part.clean.iloc[:0].copy()
                parts.append(_Part(empty, part.quarantine, part.rows, part.bad_rows))
                wrong = sum(len(p.quarantine) for p in parts)
                if wrong > MAX_QUARANTINED_CELLS:  # kept until the file's verdict: bounded
                    _reject(result, file_message("too_many_wrong", limit=MAX_QUARANTINED_CELLS))
                    return
        except UnreadableFile as error:
            _reject(result, str(error))
            return
        except Exception as error:  # as read_submission: a damaged file is rejected, not raised
            _reject(result, file_message("unreadable", detail=type(error).__name__))
            return
        if not parts:
            _reject(result, file_message("empty"))
            return
        _conclude(result, contract, parts)
        result.rows = pd.DataFrame()


def read_large_csv(
    path: Path, filename: str, contract: Contract, slice_bytes: int | None = None
) -> SlicedRead:
    """A CSV too large to read at once (over SLICE_FROM_BYTES), read in slices from disk."""
    return SlicedRead(path, filename, contract, slice_bytes)


def read_in_slices(path: Path, filename: str) -> bool:
    """Whether a received file is read from disk in slices rather than whole."""
    size = path.stat().st_size
    return is_csv(filename) and SLICE_FROM_BYTES < size <= MAX_CSV_BYTES


def never_read_whole(path: Path, filename: str) -> bool:
    """Whether a received file stays on disk: read in slices, or refused unread as too large."""
    return read_in_slices(path, filename) or path.stat().st_size > size_limit(filename)


def _header_scorer(contract: Contract) -> Callable[[Sequence[Any]], int]:
    def score(row: Sequence[Any]) -> int:
        hits = sum(1 for cell in row if contract.match_header(cell) is not None)
        return hits if hits >= 2 else 0

    return score


def size_limit(filename: str) -> int:
    """The largest file of this kind that is read: a CSV is read in slices, a workbook whole."""
    return MAX_CSV_BYTES if is_csv(filename) else MAX_FILE_BYTES


def too_large(size: int, filename: str, contract: Contract) -> ReadResult | None:
    """The rejection of a file too large to be read (checked before its bytes are read)."""
    limit = size_limit(filename)
    if size <= limit:
        return None
    result = ReadResult(source=contract.key, filename=filename, status="loaded")
    reason = file_message("file_too_large", size=size // 2**20, limit=limit // 2**20)
    return _reject(result, reason)


def _reject(result: ReadResult, reason: str) -> ReadResult:
    result.status, result.reason = "rejected", reason
    result.rows_rejected = result.rows_read - result.rows_skipped
    result.rows_loaded = result.rows_quarantined = 0
    result.rows = pd.DataFrame()
    return result


@dataclass
class _Layout:
    """How a file's columns map to the contract: decided once from its header."""

    header: list[Any]
    positions: dict[str, int]  # contract column → position in the file
    personal: list[int]  # positions of personal-data columns (never read)


@dataclass
class _Part:
    """The rows of one table (a whole file, or one slice of a large CSV)."""

    clean: pd.DataFrame
    quarantine: pd.DataFrame
    rows: int  # data rows (not skipped)
    bad_rows: int


def _map_header(table: CellTable, contract: Contract, result: ReadResult) -> _Layout | str:
    """The file's columns against the contract; a rejection reason when required ones miss."""
    positions: dict[str, int] = {}
    for index, cell in enumerate(table.header):
        column = contract.match_header(cell)
        if column is not None:
            if column.name in positions:
                result.warnings.append(file_message("duplicate_header", header=str(cell)))
            else:
                positions[column.name] = index
        elif contract.is_personal(cell):
            result.personal_columns_dropped.append(normalize.header_key(cell))
        elif table.overflow_from is not None and index >= table.overflow_from:
            pass  # cells beyond the header's: their rows are quarantined whole (_read_part)
        elif normalize.header_key(cell) or table.body[index].notna().any():
            result.warnings.append(file_message("unknown_header", header=str(cell or "")))
    result.headers.update(
        {name: str(table.header[index]).strip() for name, index in positions.items()}
    )
    missing = [c for c in contract.required if c.name not in positions]
    if missing:
        return file_message("missing_columns", columns="、".join(c.label for c in missing))
    personal = [i for i, c in enumerate(table.header) if contract.is_personal(c)]
    return _Layout(list(table.header), positions, personal)


def _read_table(table: CellTable, filename: str, contract: Contract, result: ReadResult):
    layout = _map_header(table, contract, result)
    if isinstance(layout, str):
        return _reject(result, layout)
    part = _read_part(table, filename, contract, layout, result, SeenKeys())
    if isinstance(part, str):
        return _reject(result, part)
    return _conclude(result, contract, [part])


def _read_part(
    table: CellTable,
    filename: str,
    contract: Contract,
    layout: _Layout,
    result: ReadResult,
    seen: SeenKeys,
) -> _Part | str:
    """Read the rows of one table: parsed values, quarantined cells; the submission (fiscal
    year, submitter) is resolved from the first part read. A reason when it contradicts."""
    positions, header = layout.positions, layout.header
    # Personal data goes first: from here on those cells are not in memory we keep.
    body = table.body.drop(columns=[i for i in layout.personal if i in table.body.columns])

    row_numbers = pd.Series(np.arange(len(body)) + table.first_row_number, index=body.index)
    text_body = body.apply(normalize.nfkc_text) if body.shape[1] else body
    skip = _rows_to_skip(text_body)
    result.rows_read += len(body)
    result.rows_skipped += int(skip.sum())

    data = ~skip.to_numpy()
    kept_cells, kept_texts = body[data], text_body[data]

    def column_of(frame: pd.DataFrame, name: str) -> pd.Series:
        if name in positions and positions[name] in frame.columns:
            return frame[positions[name]]
        return pd.Series(None, index=frame.index, dtype=object)

    cells = {c.name: column_of(kept_cells, c.name) for c in contract.columns}
    texts = {c.name: column_of(kept_texts, c.name) for c in contract.columns}
    rows = row_numbers[data]

    issues: list[pd.DataFrame] = []
    parsed: dict[str, pd.Series] = {}
    for column in contract.columns:
        values, rule_per_row = _parse_column(column, cells[column.name], texts[column.name])
        parsed[column.name] = values
        issues.append(_issues(rows, column, header, positions, cells[column.name], rule_per_row))

    if len(rows) and not result.submitter_code:  # the first part with rows decides
        verdict = _resolve_submission(contract, filename, parsed, result)
        if verdict is not None:
            return verdict
    issues.extend(_row_context_issues(contract, header, positions, cells, parsed, rows, result))
    # Free text is compared by its key (NFKC, no spaces): 「①サロン」 repeats 「1 サロン」.
    matching = {
        c.name: normalize.match_key(texts[c.name])
        if c.column_type.kind == "free_text"
        else parsed[c.name]
        for c in contract.columns
    }
    issues.extend(_duplicate_key_issues(contract, header, positions, cells, matching, rows, seen))
    issues = _misaligned_rows(table, body, data, rows, issues)

    quarantine = pd.concat(
        [i for i in issues if len(i)] or [pd.DataFrame(columns=QUARANTINE_COLUMNS)],
        ignore_index=True,
    )
    bad_rows = np.unique(quarantine["row_number"].to_numpy(dtype="int64"))
    keep = ~rows.isin(bad_rows)
    clean = pd.DataFrame({name: values[keep] for name, values in parsed.items()})
    for column in contract.columns:
        if column.key:
            clean[column.key_name] = matching[column.name][keep]
    clean.insert(0, "source_row", rows[keep].astype("int64"))
    if contract.fiscal_year_column:
        clean[contract.fiscal_year_column] = result.fiscal_year
    if contract.fiscal_year_from_date:
        dates = clean[contract.fiscal_year_from_date]
        clean["fiscal_year"] = (
            normalize.map_distinct(dates, _fiscal_year_of).astype("int64") if len(dates) else []
        )
        if len(dates):
            low, high = min(dates), max(dates)
            result.period_start = min(low, result.period_start or low)
            result.period_end = max(high, result.period_end or high)
    return _Part(clean.reset_index(drop=True), quarantine, len(rows), len(bad_rows))


def _conclude(result: ReadResult, contract: Contract, parts: list[_Part]) -> ReadResult:
    """The file's verdict on all its rows: empty, mostly wrong, or loaded."""
    total = sum(p.rows for p in parts)
    bad = sum(p.bad_rows for p in parts)
    found = [p.quarantine for p in parts if len(p.quarantine)] or [parts[0].quarantine]
    if total == 0:
        return _reject(result, file_message("empty"))
    result.rows_quarantined = bad
    if bad * 2 > total:
        # Refused whole: what is wrong is shown from its first rows; the rest says nothing new
        # and is not kept.
        first = pd.concat([f.head(REJECTED_SHOWN) for f in found], ignore_index=True)
        result.quarantine = _in_row_order(first).head(REJECTED_SHOWN)
        return _reject(result, file_message("mostly_wrong", bad=bad, total=total))
    quarantine = pd.concat(found, ignore_index=True) if len(found) > 1 else found[0]
    quarantine = _in_row_order(quarantine)
    result.rows = (
        pd.concat([p.clean for p in parts], ignore_index=True) if len(parts) > 1 else parts[0].clean
    )
    result.rows_loaded = total - bad
    result.quarantine = quarantine
    return result


def _in_row_order(quarantine: pd.DataFrame) -> pd.DataFrame:
    return quarantine.sort_values(["row_number", "column"], kind="stable")


class SeenKeys:
    """The unique keys of the rows read so far, as 64-bit hashes of their text: a key seen in
    an earlier slice of a large file makes a row a duplicate as one earlier in the same
    slice does. (Two different keys share a hash once in billions of files of 10 million
    rows; such a row would be quarantined as a duplicate, with its row named.)

    The hashes are kept in sorted runs, merged as in a log-structured store (a run is merged
    into the one before while that is less than twice its size): a few runs at any time, so
    looking up a slice costs a few binary searches and the whole file O(n log n)."""

    def __init__(self) -> None:
        self.runs: dict[tuple[str, ...], list[np.ndarray]] = {}

    def seen_before(self, key: tuple[str, ...], hashes: np.ndarray) -> np.ndarray:
        found = np.zeros(len(hashes), dtype=bool)
        for run in self.runs.get(key, []):
            at = np.minimum(np.searchsorted(run, hashes), len(run) - 1)
            found |= run[at] == hashes
        return found

    def remember(self, key: tuple[str, ...], hashes: np.ndarray) -> None:
        if not len(hashes):
            return
        runs = self.runs.setdefault(key, [])
        runs.append(np.unique(hashes))
        while len(runs) > 1 and len(runs[-2]) < 2 * len(runs[-1]):
            last = runs.pop()
            runs[-1] = np.union1d(runs[-1], last)

    @staticmethod
    def hash(text: pd.Series) -> np.ndarray:
        return pd.util.hash_array(text.to_numpy(dtype=object))


def _fiscal_year_of(day: dt.date | None) -> int | None:
    return None if day is None else normalize.fiscal_year_of(day)


def _rows_to_skip(text: pd.DataFrame) -> pd.Series:
    """Blank rows, totals rows (合計・計・小計・総計) and note rows (※…, 注…): not data.

    ``text`` is the NFKC-normalized body, blanks as None.
    """
    if text.shape[1] == 0:
        return pd.Series(True, index=text.index)
    if all(normalize.is_arrow_text(text[c]) for c in text.columns):  # a CSV's: first cells in Arrow
        first_cells = pc.coalesce(*(normalize.arrow_of(text[c]) for c in text.columns))
        blank = pc.is_null(first_cells).to_numpy(zero_copy_only=False)
        first = first_cells.fill_null("").to_numpy(zero_copy_only=False)
    else:
        cells = text.to_numpy(dtype=object)
        present = ~pd.isna(cells)
        blank = ~present.any(axis=1)
        first = cells[np.arange(len(cells)), present.argmax(axis=1)]  # each row's first cell
    first_text = pd.Series(first, index=text.index, dtype=object).where(~blank, "").astype(str)
    # Every totals label has 計: only such cells are stripped of spaces and compared.
    maybe = first_text.str.contains(SKIP_TOTALS_MARK, regex=False).astype(bool)
    totals = pd.Series(False, index=text.index)
    totals[maybe] = first_text[maybe].str.replace(r"\s+", "", regex=True).isin(SKIP_TOTALS)
    notes = first_text.str.startswith(SKIP_NOTE_PREFIXES)
    return pd.Series(blank, index=text.index) | totals | notes.astype(bool)


def _parse_column(column: Column, cells: pd.Series, text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse one column (``text`` is its NFKC form); return the values and, per row, the
    broken rule (a later rule overrides an earlier one). Free text is kept as sent, only
    trimmed. On NumPy arrays: a file's columns are many, its rows often few."""
    index = text.index
    rule = np.full(len(index), None, dtype=object)
    kind = column.column_type.kind
    values: Any
    if kind == "free_text":
        values = normalize.trimmed_text(cells)
    elif column.column_type.parser is None:
        values = text
    else:
        parser = column.column_type.parser(column)
        parsed = normalize.map_distinct(text, parser).to_numpy(dtype=object, copy=True)
        failed = parsed == normalize.MISSING
        rule[failed] = column.column_type.rule
        parsed[failed] = None
        if kind in ("whole", "decimal"):
            numbers = pd.to_numeric(parsed, errors="coerce").astype("float64")
            with np.errstate(invalid="ignore"):
                if kind == "whole":
                    rule[~np.isnan(numbers) & (numbers % 1 != 0)] = "not_an_integer"
                low, high = column.bounds
                if low is not None:
                    rule[numbers < low] = "negative_count" if low == 0 else "out_of_range"
                if high is not None:
                    rule[numbers > high] = "out_of_range"
            if kind == "whole":
                numbers = np.round(np.where(pd.isna(rule), numbers, np.nan))
            values = pd.Series(
                pd.array(numbers, dtype="Float64" if kind == "decimal" else "Int64"), index=index
            )
        elif kind == "year":
            values = pd.Series(pd.array(parsed.tolist(), dtype="Int64"), index=index)
        elif kind == "flag":
            values = pd.Series(parsed, index=index, dtype=object).fillna(False).astype(bool)
        else:
            values = pd.Series(parsed, index=index, dtype=object)
    if column.required:
        rule[values.isna().to_numpy() & pd.isna(rule)] = "required_missing"
    return values, pd.Series(rule, index=index, dtype=object)


_NO_ISSUES = pd.DataFrame(columns=QUARANTINE_COLUMNS)


def _issues(
    rows: pd.Series,
    column: Column,
    header: list[Any],
    positions: dict[str, int],
    raw: pd.Series,
    rule: pd.Series,
) -> pd.DataFrame:
    mask = rule.notna()
    if not mask.any():
        return _NO_ISSUES  # the usual case: never changed, only skipped by its length
    file_header = header[positions[column.name]] if column.name in positions else column.header
    # A wrong value repeated down a column is one value and one message in memory, however
    # many rows carry it (a file of 700,000 wrong rows must not take gigabytes to refuse).
    values = normalize.map_distinct(raw[mask], _display)
    rules = rule[mask]
    messages: dict[tuple[str, Any], str] = {}

    def message(rule_name: str, value: Any) -> str:
        key = (rule_name, value)
        if key not in messages:
            messages[key] = row_message(rule_name, column, value, str(file_header))
        return messages[key]

    count = len(rules)

    def shared(items: list) -> pd.Series:
        # Object columns hold references to the few distinct texts (a list repeats the same
        # object; pandas and np.full would make a copy of the text for every row).
        return pd.Series(np.array(items, dtype=object), dtype=object)

    return pd.DataFrame(
        {
            "row_number": rows[mask].to_numpy(dtype="int64"),
            "column": shared([column.name] * count),
            "header": shared([str(file_header)] * count),
            "value": shared(values.tolist()),
            "rule": shared(rules.tolist()),
            "message": shared([message(r, v) for r, v in zip(rules, values, strict=True)]),
        },
        columns=QUARANTINE_COLUMNS,
    )


def _misaligned_rows(
    table: CellTable,
    body: pd.DataFrame,
    data: np.ndarray,
    rows: pd.Series,
    issues: list[pd.DataFrame],
) -> list[pd.DataFrame]:
    """A CSV row with more cells than its header (a comma inside a cell that was not quoted)
    has its cells shifted: none is where the header says, and a personal-data cell (a name
    with a comma) may have moved into a column that is kept. Such a row is quarantined whole,
    without its values; the findings on its cells are dropped with them."""
    if table.overflow_from is None or body.shape[1] == 0:
        return issues
    beyond = [c for c in body.columns if c >= table.overflow_from]
    if not beyond:
        return issues
    shifted = body.loc[data, beyond].notna().any(axis=1).to_numpy()
    if not shifted.any():
        return issues
    numbers = rows.to_numpy(dtype="int64")[shifted]
    kept = [i[~i["row_number"].isin(numbers)] for i in issues if len(i)]
    message = row_message("extra_cells", None, None, "")
    count = len(numbers)
    whole_row = pd.DataFrame(
        {
            "row_number": numbers,
            "column": ["*"] * count,
            "header": ["(行全体 / whole row)"] * count,
            "value": [None] * count,
            "rule": ["extra_cells"] * count,
            "message": [message] * count,
        },
        columns=QUARANTINE_COLUMNS,
    )
    return [*kept, whole_row]


def _display(value: Any) -> str | None:
    if value is None or value is pd.NA:  # pd.NA: a blank cell of a CSV (Arrow)
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    return str(value)


def _mode(values: pd.Series) -> Any:
    values = values.dropna()
    return None if values.empty else values.value_counts().index[0]


def _resolve_submission(
    contract: Contract, filename: str, parsed: dict[str, pd.Series], result: ReadResult
) -> str | None:
    """Fix the submission's fiscal year and submitter; a contradiction rejects the file."""
    if contract.fiscal_year_column:
        named = (
            normalize.fiscal_year_in_name(filename) if contract.fiscal_year_from_filename else None
        )
        content = _mode(parsed[contract.fiscal_year_column])
        if named is not None and content is not None and int(named) != int(content):
            return file_message("fiscal_year_conflict", named=named, content=int(content))
        fiscal_year = named if named is not None else content
        if fiscal_year is None:
            return file_message("fiscal_year_unknown")
        result.fiscal_year = int(fiscal_year)
    if contract.submitter_kind == "ward":
        named_ward = normalize.ward_in_name(filename)
        content_ward = _mode(parsed[contract.submitter_column])
        if named_ward and content_ward and named_ward != content_ward:
            return file_message(
                "ward_conflict",
                named=normalize.ward_name(named_ward),
                content=normalize.ward_name(content_ward),
            )
        code = named_ward or content_ward
        if code is None:
            return file_message("ward_unknown")
        result.submitter_code, result.submitter_name = code, normalize.ward_name(code)
    else:
        result.submitter_code, result.submitter_name = (
            contract.submitter_code,
            contract.submitter_name,
        )
    return None


def _row_context_issues(contract, header, positions, cells, parsed, rows, result):
    """Rows that contradict the submission: another fiscal year, a date outside it, another ward."""
    checks: list[tuple[Column, pd.Series, str]] = []
    if contract.fiscal_year_column and result.fiscal_year is not None:
        years = parsed[contract.fiscal_year_column]
        checks.append(
            (
                contract.column(contract.fiscal_year_column),
                years.notna() & (years != result.fiscal_year),
                "fiscal_year_mismatch",
            )
        )
    if result.fiscal_year is not None:
        start = dt.date(result.fiscal_year, 4, 1)
        end = dt.date(result.fiscal_year + 1, 3, 31)
        for column in contract.columns:
            if column.column_type.kind == "date":
                days = parsed[column.name]
                days = pd.to_datetime(days, errors="coerce")
                outside = days.notna() & ((days < pd.Timestamp(start)) | (days > pd.Timestamp(end)))
                checks.append((column, outside, "date_outside_fiscal_year"))
    if contract.submitter_kind == "ward" and result.submitter_code:
        wards = parsed[contract.submitter_column]
        checks.append(
            (
                contract.column(contract.submitter_column),
                wards.notna() & (wards != result.submitter_code),
                "ward_mismatch",
            )
        )
    if result.fiscal_year is not None:
        checks += _reference_checks(contract, parsed, result.fiscal_year)
    out = []
    for column, mask, rule_name in checks:
        rule = pd.Series(None, index=mask.index, dtype=object)
        rule[mask.fillna(False).astype(bool)] = rule_name
        out.append(_issues(rows, column, header, positions, cells[column.name], rule))
    return out


def _reference_checks(
    contract: Contract, parsed: dict[str, pd.Series], fiscal_year: int
) -> list[tuple[Column, pd.Series, str]]:
    """Codes checked against reference data (a contract column's ``reference``): a code not
    in force in the submission's fiscal year (an item of another plan period), and a column
    that must agree with the code's reference row (the goal of the item) but does not."""
    checks: list[tuple[Column, pd.Series, str]] = []
    for column in contract.columns:
        if column.reference is None:
            continue
        in_force = contract.in_force(column, fiscal_year)
        codes = parsed[column.name]
        known = codes.isin(list(in_force))
        checks.append((column, codes.notna() & ~known, "not_in_force"))
        for name, reference_column in column.reference.agree:
            expected = codes.map({c: row[reference_column] for c, row in in_force.items()})
            values = parsed[name]
            wrong = known & values.notna() & (values != expected)
            checks.append((contract.column(name), wrong, "disagrees_with_reference"))
    return checks


def _key_text(parts: pd.DataFrame) -> pd.Series:
    """Each row's key as one string (its parts joined by a separator no cell holds)."""
    text = parts.astype(str)
    if text.shape[1] == 1:
        return text.iloc[:, 0]
    if text.empty:
        return pd.Series([], index=text.index, dtype=object)
    first, *others = (text.iloc[:, n] for n in range(text.shape[1]))
    return first.str.cat(others, sep="\x1f")


def _duplicate_key_issues(contract, header, positions, cells, matching, rows, seen: SeenKeys):
    """The second and later rows with the same key (in this part, or in a part read before);
    the first one stays."""
    out = []
    for key in contract.unique_keys:
        parts = pd.DataFrame({name: matching[name] for name in key})
        complete = parts.notna().all(axis=1)
        text = _key_text(parts[complete])
        hashes = seen.hash(text)
        earlier = pd.Series(seen.seen_before(key, hashes), index=text.index, dtype=bool)
        within = text.duplicated(keep="first")
        duplicated = pd.Series(False, index=parts.index)
        duplicated[text.index] = earlier | within
        seen.remember(key, hashes[(~earlier & ~within).to_numpy()])
        rule = pd.Series(None, index=parts.index, dtype=object)
        rule[duplicated] = "duplicate_key"
        column = contract.column(key[-1])
        out.append(_issues(rows, column, header, positions, cells[column.name], rule))
    return out
