"""A workbook (.xlsx) is a zip of XML parts: before openpyxl opens one, it is checked to unpack
and parse within bounds, whatever its zip declares and whatever its parts are named.

1. **Its directory.** The central-directory entries are counted in the file itself (not from
   the end record, which can say anything): at most MAX_ZIP_ENTRIES, their names at most
   MAX_NAME_BYTES together. zipfile reads every entry of the directory before anything else.
2. **Its declared sizes.** zipfile inflates an entry no further than the size its directory
   declares, so these bound the bytes: a worksheet part at most MAX_SHEET_BYTES, any other
   MAX_PART_BYTES, all together MAX_UNPACKED_BYTES; a large part packed far tighter than
   Excel packs XML is refused.
3. **What parsing costs.** Every XML part is streamed once through expat, counting elements
   (nothing is kept): openpyxl keeps in memory every element it does not expect (after a
   sheet's data, in the styles, the properties …) and every shared string, so elements
   outside rows and shared-string items may number at most MAX_STRUCTURE per part, shared
   strings MAX_SHARED_STRINGS, elements within rows and strings MAX_CELL_ELEMENTS in all. A
   document type declaration (which Excel never writes) is refused.

Each refusal is a message for the sender, in Japanese and English.
"""

from __future__ import annotations

import io
import xml.parsers.expat
import zipfile

from pipelines.ingest.messages import UnreadableFile, file_message

MAX_ZIP_ENTRIES = 10_000  # a workbook has a few dozen parts
MAX_NAME_BYTES = 2**20  # the parts' names together
MAX_SHEET_BYTES = 256 * 2**20  # a sheet's XML once unzipped (a zip bomb is small zipped)
MAX_PART_BYTES = 64 * 2**20  # any other part: shared strings are the largest real ones
MAX_UNPACKED_BYTES = 512 * 2**20  # all parts together
MAX_RATIO = 100  # unpacked : packed; real workbooks are about 10 : 1 ...
RATIO_FROM_BYTES = 4 * 2**20  # ... checked on parts large enough to matter
MAX_STRUCTURE = 100_000  # elements of a part outside rows and shared strings
MAX_ATTRIBUTES = 1_000_000  # their attributes, in a part
MAX_SHARED_STRINGS = 4_000_000  # as many as cells a workbook is read with
MAX_CELL_ELEMENTS = 32_000_000  # elements within rows and shared strings, in all
CENTRAL_ENTRY = b"PK\x01\x02"
READ_BLOCK = 2**20


def check_workbook_archive(data: bytes) -> None:
    """Refuse a workbook that would unpack or parse past the limits (a zip bomb in any part)."""
    names = _directory_entries(data)
    if names is None:
        return  # not a zip: openpyxl says it is not a workbook, in the words staff get for it
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        return  # as above: openpyxl's refusal names it
    parts = archive.infolist()
    if len(parts) > MAX_ZIP_ENTRIES:  # the end record and the directory disagree
        raise UnreadableFile(file_message("workbook_too_many_parts", limit=MAX_ZIP_ENTRIES))
    _check_sizes(parts)
    budget = _Budget()
    for part in parts:
        _check_xml(archive, part, budget)


def _directory_entries(data: bytes) -> int | None:
    """How many central-directory entries the file holds (an upper bound: every signature is
    counted), their names within bounds; None for a file that is not a zip."""
    count, names, at = 0, 0, data.find(CENTRAL_ENTRY)
    if at < 0:
        return None
    while at >= 0:
        count += 1
        names += int.from_bytes(data[at + 28 : at + 30], "little")
        if count > MAX_ZIP_ENTRIES or names > MAX_NAME_BYTES:
            raise UnreadableFile(file_message("workbook_too_many_parts", limit=MAX_ZIP_ENTRIES))
        at = data.find(CENTRAL_ENTRY, at + 4)
    return count


def _check_sizes(parts: list[zipfile.ZipInfo]) -> None:
    total = 0
    for part in parts:
        limit = MAX_SHEET_BYTES if part.filename.startswith("xl/worksheets/") else MAX_PART_BYTES
        if part.file_size > limit:
            if limit == MAX_SHEET_BYTES:
                raise UnreadableFile(
                    file_message(
                        "sheet_too_large",
                        sheet=part.filename.rsplit("/", 1)[-1],
                        size=part.file_size // 2**20,
                        limit=limit // 2**20,
                    )
                )
            raise UnreadableFile(
                file_message(
                    "workbook_part_too_large",
                    part=part.filename,
                    size=_megabytes(part.file_size),
                    limit=_megabytes(limit),
                )
            )
        if part.file_size > RATIO_FROM_BYTES and part.file_size > MAX_RATIO * max(
            part.compress_size, 1
        ):
            raise UnreadableFile(
                file_message(
                    "workbook_packed_too_tightly",
                    part=part.filename,
                    ratio=part.file_size // max(part.compress_size, 1),
                    limit=MAX_RATIO,
                )
            )
        total += part.file_size
    if total > MAX_UNPACKED_BYTES:
        raise UnreadableFile(
            file_message(
                "workbook_too_large", size=_megabytes(total), limit=_megabytes(MAX_UNPACKED_BYTES)
            )
        )


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.0f}"


class _TooComplex(Exception):
    """A budget of the XML check is spent."""


class _Budget:
    """What the XML of the whole workbook may cost to parse (see the module's docstring)."""

    def __init__(self) -> None:
        self.shared_strings = 0
        self.cell_elements = 0


def _check_xml(archive: zipfile.ZipFile, part: zipfile.ZipInfo, budget: _Budget) -> None:
    """Stream one part through expat (nothing is kept), counting what openpyxl would keep."""
    structure = attributes = 0
    inside = 0  # depth within a row or a shared string: content, read as cells

    def start(name: str, attrs: list) -> None:
        nonlocal structure, attributes, inside
        local = name.rsplit(" ", 1)[-1]
        if inside:
            inside += 1
            budget.cell_elements += 1
            if budget.cell_elements > MAX_CELL_ELEMENTS:
                raise _TooComplex
            return
        if local in ("row", "si"):
            inside = 1
            if local == "si":
                budget.shared_strings += 1
                if budget.shared_strings > MAX_SHARED_STRINGS:
                    raise _TooComplex
            return
        structure += 1
        attributes += len(attrs) // 2
        if structure > MAX_STRUCTURE or attributes > MAX_ATTRIBUTES:
            raise _TooComplex

    def end(name: str) -> None:
        nonlocal inside
        if inside:
            inside -= 1

    def doctype(*_args) -> None:
        raise _TooComplex  # Excel never writes one; entities are how XML bombs work

    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.ordered_attributes = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    try:
        with archive.open(part) as stream:
            head = stream.read(READ_BLOCK)
            if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
                return  # not XML (an image): openpyxl's read-only mode does not parse it
            parser.Parse(head, False)
            while block := stream.read(READ_BLOCK):
                parser.Parse(block, False)
            parser.Parse(b"", True)
    except _TooComplex:
        raise UnreadableFile(file_message("workbook_too_complex", part=part.filename)) from None
    except xml.parsers.expat.ExpatError:
        return  # malformed XML: openpyxl refuses the file, in the words staff get for it
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
        raise UnreadableFile(file_message("unreadable", detail=type(error).__name__)) from error
