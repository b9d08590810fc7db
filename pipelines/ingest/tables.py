"""Turning a received file into a table of cells: decoding, sheets and the header row.

Nothing here knows a source: the caller passes a function that scores a row as a header.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipelines.ingest.messages import file_message

HEADER_SEARCH_ROWS = 30  # title, date and blank lines above the header: never more than this
PREFERRED_SHEET = "データ"
# Limits that no real submission comes near and every hostile one does; past them a file is
# rejected with a reason before it can take the run's time or memory.
MAX_ROWS = 1_048_576  # Excel's limit: a sheet with more rows was not made by Excel (CSV: none)
MAX_COLUMNS = 1_000  # the widest template has 16 columns
MAX_LINE_CHARS = 1_000_000  # one CSV line of a million characters is not a survey row
MAX_SHEET_BYTES = 256 * 2**20  # a sheet's XML once unzipped (a zip bomb is small zipped)
# One file as sent: a year of the whole city's consultations is a few MB. Larger files are not
# read into memory at all; a bigger export is sent in parts (e.g. one file a month).
MAX_FILE_BYTES = 200 * 2**20


class UnreadableFile(Exception):
    """The file cannot be read at all (corrupt, wrong format, unknown encoding)."""


@dataclass
class CellTable:
    """The cells below the header row, each as text (CSV) or as Excel gave it (.xlsx)."""

    header: list[Any]
    body: pd.DataFrame  # object columns 0..n-1, one row per line below the header
    first_row_number: int  # the file's row number (1-based, as Excel shows it) of body row 0
    encoding: str
    sheet: str | None = None


def decode_text(data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without BOM) or CP932, the encoding Japanese Excel writes.

    CP932, not Shift_JIS: Shift_JIS fails on ～, ①, ㈱ and 髙, all common in real files.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "cp932"
    except UnicodeDecodeError as error:
        raise UnreadableFile(
            "文字コードを判別できません。CSVはUTF-8またはShift_JIS(CP932)で保存してください。"
            " / The text is neither UTF-8 nor CP932 (Shift_JIS): save the CSV again from Excel."
        ) from error


def read_cells(
    data: bytes, filename: str, header_score: Callable[[Sequence[Any]], int]
) -> CellTable | None:
    """Read a .csv or .xlsx file and locate its header row; None when no row looks like one."""
    suffix = filename.lower().rsplit(".", 1)[-1] if "." in filename else ""
    if not data.strip():
        raise UnreadableFile(file_message("empty_file"))
    if suffix == "xlsx":
        return _read_xlsx(data, header_score)
    if suffix in ("csv", "txt"):
        return _read_csv(data, header_score)
    raise UnreadableFile(
        f"この形式のファイルは読めません（.{suffix}）。.xlsx または .csv で提出してください。"
        f" / Unsupported file type '.{suffix}': send .xlsx or .csv."
    )


def _best_header(rows: Sequence[Sequence[Any]], header_score: Callable[[Sequence[Any]], int]):
    scores = [header_score(row) for row in rows[:HEADER_SEARCH_ROWS]]
    if not scores or max(scores) == 0:
        return None
    return scores.index(max(scores))


def _check_width(width: int) -> None:
    if width > MAX_COLUMNS:
        raise UnreadableFile(file_message("too_many_columns", count=width, limit=MAX_COLUMNS))


def _read_csv(data: bytes, header_score: Callable[[Sequence[Any]], int]) -> CellTable | None:
    text, encoding = decode_text(data)
    lines = text.splitlines()  # in C; a regex for a long line costs 30 times more
    if max(map(len, lines), default=0) > MAX_LINE_CHARS:
        raise UnreadableFile(file_message("line_too_long", limit=MAX_LINE_CHARS))
    head_lines = lines[:HEADER_SEARCH_ROWS]
    del lines
    head_rows = list(csv.reader(head_lines))
    index = _best_header(head_rows, header_score)
    if index is None:
        return None
    header = head_rows[index]
    _check_width(len(header))
    parts = text.split("\n", index + 1)  # the body starts on the line after the header
    body_text = parts[index + 1] if len(parts) > index + 1 else ""
    width = len(header)
    try:
        body = pd.read_csv(
            io.StringIO(body_text),
            header=None,
            names=list(range(width)),
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="c",
        )
    except pd.errors.ParserError:
        # A row with more cells than the header: fall back to the csv module, keeping every row.
        rows = list(csv.reader(io.StringIO(body_text)))
        width = max([width, *map(len, rows)])
        _check_width(width)
        body = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], columns=range(width))
        header = header + [""] * (width - len(header))
    except pd.errors.EmptyDataError:
        body = pd.DataFrame(columns=range(width), dtype=object)
    body = body.astype(object)
    body = body.where(body.notna() & body.ne(""), None)
    return CellTable(header, body, first_row_number=index + 2, encoding=encoding)


def _check_unzipped_sizes(data: bytes) -> None:
    """Refuse a workbook whose sheets unzip to more than MAX_SHEET_BYTES (a zip bomb) before
    any of it is unpacked. The sizes are the zip's own; zipfile stops at them when reading."""
    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except zipfile.BadZipFile:
        return  # openpyxl says it is not a workbook, in the words staff get for that
    for entry in entries:
        if entry.filename.startswith("xl/") and entry.file_size > MAX_SHEET_BYTES:
            raise UnreadableFile(
                file_message(
                    "sheet_too_large",
                    sheet=entry.filename.rsplit("/", 1)[-1],
                    size=entry.file_size // 2**20,
                    limit=MAX_SHEET_BYTES // 2**20,
                )
            )


def _sheet_rows(sheet) -> list[list[Any]]:
    """Every row of a read-only sheet. The sheet's <dimension> element is ignored: some
    exporters write it stale (A1:N6 on an 83-row sheet), and openpyxl would stop there."""
    sheet.reset_dimensions()
    rows = []
    for row in sheet.iter_rows(values_only=True):
        if len(rows) == MAX_ROWS:
            raise UnreadableFile(file_message("too_many_rows", limit=MAX_ROWS))
        _check_width(len(row))
        rows.append(list(row))
    return rows


def _read_xlsx(data: bytes, header_score: Callable[[Sequence[Any]], int]) -> CellTable | None:
    import openpyxl  # imported here: only Excel files pay for it

    _check_unzipped_sizes(data)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise UnreadableFile(
            "Excelファイルが壊れているか、.xlsx形式ではありません。"
            " / The Excel file is corrupt or not in .xlsx format."
        ) from error
    try:
        names = workbook.sheetnames
        sheet_name = PREFERRED_SHEET if PREFERRED_SHEET in names else names[0]
        rows = _sheet_rows(workbook[sheet_name])
    finally:
        workbook.close()
    index = _best_header(rows, header_score)
    if index is None:
        return None
    header = rows[index]
    width = len(header)
    body_rows = [list(r) + [None] * (width - len(r)) for r in rows[index + 1 :]]
    width = max([width, *map(len, body_rows)]) if body_rows else width
    body = pd.DataFrame(body_rows, columns=range(width), dtype=object)
    body = body.where(body.notna(), None)
    if width > len(header):
        header = list(header) + [None] * (width - len(header))
    return CellTable(list(header), body, index + 2, encoding="xlsx", sheet=sheet_name)
