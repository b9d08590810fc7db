"""Turning a received file into a table of cells: decoding, sheets and the header row.

Nothing here knows a source: the caller passes a function that scores a row as a header.
"""

from __future__ import annotations

import codecs
import csv
import io
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from pipelines.ingest.messages import NoHeaderOnSheet, UnreadableFile, file_message
from pipelines.ingest.workbook import check_workbook_archive

HEADER_SEARCH_ROWS = 30  # title, date and blank lines above the header: never more than this
PREFERRED_SHEET = "データ"
# Limits that no real submission comes near and every hostile one does; past them a file is
# rejected with a reason before it can take the run's time or memory.
MAX_ROWS = 1_048_576  # Excel's limit: a sheet with more rows was not made by Excel (CSV: none)
MAX_COLUMNS = 1_000  # the widest template has 16 columns
# A workbook's cells are held in memory while it is read (a CSV's are read in slices): past
# this many (about 300 MB of Python objects) a file is to be sent as CSV.
MAX_CELLS = 4_000_000
MAX_LINE_CHARS = 1_000_000  # one CSV line of a million characters is not a survey row
# One file as sent: a year of the whole city's consultations is a few MB. Larger workbooks are
# not read at all (a bigger export is sent in parts, e.g. one file a month).
MAX_FILE_BYTES = 200 * 2**20
# A CSV export may be far larger (ten years of a prefecture's consultations: 10 million rows,
# about 1 GB). Past SLICE_FROM_BYTES it is read from disk in slices of about SLICE_BYTES, so
# memory stays bounded whatever its size; past MAX_CSV_BYTES it is refused unread.
SLICE_FROM_BYTES = 16 * 2**20
SLICE_BYTES = 8 * 2**20  # about 100,000 rows: some 500 MB of Python objects at most
MAX_CSV_BYTES = 4 * 2**30


@dataclass
class CellTable:
    """The cells below the header row, each as text (CSV) or as Excel gave it (.xlsx)."""

    header: list[Any]
    # columns 0..n-1, one row per line below the header: a CSV's as Arrow strings (blanks
    # null), a workbook's as the objects Excel gave (text, numbers, dates; blanks None)
    body: pd.DataFrame
    first_row_number: int  # the file's row number (1-based, as Excel shows it) of body row 0
    encoding: str
    sheet: str | None = None
    # A CSV's: the columns from here on hold cells beyond its header row's (a comma inside a
    # cell that was not quoted): the rows with any are misaligned, their cells not where the
    # header says (None: a workbook, whose cells stay in their columns).
    overflow_from: int | None = None


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
    if is_csv(filename):
        return _read_csv(data, header_score)
    raise UnreadableFile(
        f"この形式のファイルは読めません（.{suffix}）。.xlsx または .csv で提出してください。"
        f" / Unsupported file type '.{suffix}': send .xlsx or .csv."
    )


def head_rows(data: bytes, filename: str) -> list[list[Any]]:
    """The first HEADER_SEARCH_ROWS rows of a file (a workbook's first sheet, or データ), read
    as cheaply as possible: to tell which survey a file is."""
    suffix = filename.lower().rsplit(".", 1)[-1] if "." in filename else ""
    if suffix == "xlsx":
        import openpyxl  # imported here: only Excel files pay for it

        check_workbook_archive(data)
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            names = workbook.sheetnames
            sheet = workbook[PREFERRED_SHEET if PREFERRED_SHEET in names else names[0]]
            sheet.reset_dimensions()
            rows = sheet.iter_rows(values_only=True, max_row=HEADER_SEARCH_ROWS)
            return [list(row) for row in rows]
        finally:
            workbook.close()
    if is_csv(filename):
        head = data[: 2**20]
        try:
            text = head.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            if error.start >= len(head) - 3:  # a character cut by the head's end
                text = head[: error.start].decode("utf-8-sig")
            else:
                text = head.decode("cp932", errors="ignore")
        return list(csv.reader(text.splitlines()[:HEADER_SEARCH_ROWS]))
    return []


def is_csv(filename: str) -> bool:
    """A text export (.csv, or .txt as some systems name it): read as CSV, in slices when large."""
    return filename.lower().endswith((".csv", ".txt"))


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
    if (opened := _unclosed_quote_line(text)) is not None:
        raise UnreadableFile(file_message("unclosed_quote", line=opened + 1))
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
    width = _named_width(header)
    header, body = _csv_body(body_text, header)
    return CellTable(
        header, body, first_row_number=index + 2, encoding=encoding, overflow_from=width
    )


def _named_width(header: list[Any]) -> int:
    """How many of a CSV header's cells reach its last named one: blank cells after it (a
    header row ending in commas) name nothing, and a row's cells there are beyond its table."""
    named = [n for n, cell in enumerate(header) if str(cell or "").strip()]
    return named[-1] + 1 if named else len(header)


def _unclosed_quote_line(text: str) -> int | None:
    """The line (0-based, in ``text``) where a quoted cell opens that is never closed: every
    line after it would be one cell of that row, its rows lost without a word (or, in the
    header, taken for headings). None when every quoted cell is closed; a quote inside an
    unquoted cell (山田"太郎, 5") is a character, as Excel and every CSV reader take it."""
    if '"' not in text:
        return None
    # An open cell runs to the end of the text, so it is in the last record the csv module
    # reads (forgiving, as the readers after it are); that record alone is read strictly.
    lines = io.StringIO(text).readlines()
    reader = csv.reader(lines)
    last_start = ended = 0
    for _ in reader:
        last_start, ended = ended, reader.line_num
    try:
        for _ in csv.reader(lines[last_start:], strict=True):
            pass
    except csv.Error as error:
        return last_start if "unexpected end of data" in str(error) else None
    return None


def _csv_body(body_text: str, header: list[Any]) -> tuple[list[Any], pd.DataFrame]:
    """The rows below the header as a frame of text cells (blanks None), and the header,
    widened with blank names when a row has more cells than it.

    Split by Arrow's CSV reader into Arrow string columns (the reader's steps after this stay
    in Arrow where they can); a body it does not take as it is (a row with more or fewer cells
    than the header, an unclosed quote) is split by pandas as before. Both give the same cells
    and rows (tests/test_reader.py)."""
    body = _arrow_csv_body(body_text, len(header))
    if body is not None:
        return header, body
    return _pandas_csv_body(body_text, header)


def _pandas_csv_body(body_text: str, header: list[Any]) -> tuple[list[Any], pd.DataFrame]:
    """:func:`_csv_body` by pandas' parser (the csv module for rows wider than the header):
    object cells, blanks None."""
    width = len(header)
    try:
        with warnings.catch_warnings():
            # A first row wider than the header: pandas would make its first cell the index
            # (index_col=None) or drop the extra cells with this warning (index_col=False).
            warnings.simplefilter("error", pd.errors.ParserWarning)
            body = pd.read_csv(
                io.StringIO(body_text),
                header=None,
                names=list(range(width)),
                index_col=False,
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
                engine="c",
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning):
        # A row with more cells than the header: fall back to the csv module, keeping every row.
        try:
            rows = list(csv.reader(io.StringIO(body_text)))
        except csv.Error as error:  # a cell past the csv module's limit: a quote never closed
            raise UnreadableFile(file_message("unclosed_quote_somewhere")) from error
        width = max([width, *map(len, rows)])
        _check_width(width)
        body = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], columns=range(width))
        header = header + [""] * (width - len(header))
    except pd.errors.EmptyDataError:
        body = pd.DataFrame(columns=range(width), dtype=object)
    body = body.astype(object)
    return header, body.where(body.notna() & body.ne(""), None)


def _arrow_csv_body(body_text: str, width: int) -> pd.DataFrame | None:
    """The body as Arrow string columns 0..width-1 (blanks null); None when Arrow's reader
    would not keep every line as one row of ``width`` cells."""
    if not body_text.strip():
        return None
    names = [str(n) for n in range(width)]
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(body_text.encode("utf-8")),
            read_options=pa_csv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid:
        return None
    return pd.DataFrame(
        {n: pd.arrays.ArrowExtensionArray(table.column(n)) for n in range(width)}, copy=False
    )


# -- a large CSV, in slices -----------------------------------------------------------------
@dataclass(frozen=True)
class CsvLayout:
    """What a first pass over a large CSV learns: its encoding and where its body starts."""

    encoding: str
    header: list[Any]
    header_index: int  # the header's line (0-based)
    body_offset: int  # the byte where the line after the header starts


def _blocks(path: Path, size: int, start: int = 0) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(start)
        while block := handle.read(size):
            yield block


def csv_layout(path: Path, header_score: Callable[[Sequence[Any]], int]) -> CsvLayout | None:
    """Pass one over a large CSV, block by block: the encoding that decodes every byte of it
    (UTF-8, else CP932), no line longer than MAX_LINE_CHARS, and the header row."""
    head = next(_blocks(path, 2**20), b"")
    if not head.strip():
        raise UnreadableFile(file_message("empty_file"))
    encoding = _scan(path, bom=head.startswith(b"\xef\xbb\xbf"))
    text = head.decode(encoding, errors="ignore")  # the head may end inside a character
    head_rows = list(csv.reader(text.splitlines()[:HEADER_SEARCH_ROWS]))
    index = _best_header(head_rows, header_score)
    if index is None:
        return None
    header = head_rows[index]
    _check_width(len(header))
    offset = 0
    for _ in range(index + 1):
        offset = head.index(b"\n", offset) + 1
    return CsvLayout(encoding, header, index, offset)


def _scan(path: Path, bom: bool) -> str:
    """The file's encoding, having decoded all of it; refuses a line too long on the way (its
    length in bytes, which is at least its length in characters, counted with NumPy)."""
    decoders = (
        {"utf-8-sig": codecs.getincrementaldecoder("utf-8-sig")()}
        if bom
        else {
            "utf-8": codecs.getincrementaldecoder("utf-8")(),
            "cp932": codecs.getincrementaldecoder("cp932")(),
        }
    )
    since_newline = 0
    for block in _blocks(path, 16 * 2**20):
        newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
        if len(newlines):
            gaps = np.diff(newlines, prepend=-1)
            longest = max(since_newline + int(newlines[0]), int(gaps.max()) - 1)
            since_newline = len(block) - int(newlines[-1]) - 1
        else:
            longest = since_newline = since_newline + len(block)
        if longest > MAX_LINE_CHARS * 3:  # a character is 1–3 bytes (CP932: 1–2)
            raise UnreadableFile(file_message("line_too_long", limit=MAX_LINE_CHARS))
        for name, decoder in list(decoders.items()):
            try:
                decoder.decode(block)
            except UnicodeDecodeError:
                del decoders[name]
    for name, decoder in list(decoders.items()):
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            del decoders[name]
    if not decoders:
        raise UnreadableFile(
            "文字コードを判別できません。CSVはUTF-8またはShift_JIS(CP932)で保存してください。"
            " / The text is neither UTF-8 nor CP932 (Shift_JIS): save the CSV again from Excel."
        )
    return next(iter(decoders))  # UTF-8 when both decode it, as decode_text decides


def _record_end(block: bytes) -> int:
    """The end of the last whole record in ``block`` (which starts at a record's start): the
    last newline outside double quotes, +1; 0 when there is none. Byte-wise, which is safe
    in UTF-8 and CP932 alike: neither uses the bytes of '"' or a newline inside a character."""
    quotes_before = block.count(b'"')
    end = len(block)
    while (newline := block.rfind(b"\n", 0, end)) >= 0:
        quotes_before -= block.count(b'"', newline, end)
        if quotes_before % 2 == 0:
            return newline + 1
        end = newline
    return 0


def csv_slices(
    path: Path, layout: CsvLayout, slice_bytes: int | None = None
) -> Iterator[CellTable]:
    """Pass two: the body in slices of about ``slice_bytes``, each cut after a whole record
    (a quoted cell may hold a newline), with the file's row numbers."""
    slice_bytes = slice_bytes or SLICE_BYTES
    encoding = "utf-8" if layout.encoding == "utf-8-sig" else layout.encoding
    header, carry, first_row = layout.header, b"", layout.header_index + 2
    for block in _blocks(path, slice_bytes, layout.body_offset):
        block = carry + block
        end = _record_end(block)
        if end == 0:  # one record longer than a slice: read on
            carry = block
            continue
        carry = block[end:]
        widened, body = _csv_body(block[:end].decode(encoding), header)
        yield CellTable(widened, body, first_row, layout.encoding, None, _named_width(header))
        first_row += len(body)
    if carry.strip():
        widened, body = _csv_body(carry.decode(encoding), header)
        yield CellTable(widened, body, first_row, layout.encoding, None, _named_width(header))


def _sheet_rows(sheet) -> list[list[Any]]:
    """Every row of a read-only sheet (streamed from its XML), within MAX_ROWS and MAX_CELLS.
    The sheet's <dimension> element is ignored: some exporters write it stale (A1:N6 on an
    83-row sheet), and openpyxl would stop there."""
    sheet.reset_dimensions()
    rows = []
    cells = 0
    for row in sheet.iter_rows(values_only=True):
        if len(rows) == MAX_ROWS:
            raise UnreadableFile(file_message("too_many_rows", limit=MAX_ROWS))
        _check_width(len(row))
        cells += len(row)
        if cells > MAX_CELLS:
            raise UnreadableFile(file_message("too_many_cells", limit=MAX_CELLS))
        rows.append(list(row))
    return rows


def _read_xlsx(data: bytes, header_score: Callable[[Sequence[Any]], int]) -> CellTable | None:
    import openpyxl  # imported here: only Excel files pay for it

    check_workbook_archive(data)
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
    if index is None and len(names) > 1:
        raise NoHeaderOnSheet(sheet_name, [n for n in names if n != sheet_name])
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
