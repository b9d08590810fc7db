"""The column types a contract may use: the one table of what each type means.

For each type: how a cell is parsed (after NFKC), which rule a cell breaks when it cannot be
parsed, how the value is stored in the lake (Arrow type), and what kind of value it is
(free text kept as sent, whole numbers, decimals, a year) for the checks that follow.
NFKC is for matching and parsing: codes, identifiers, numbers, dates, wards and flags are
normalized; names and notes (``text``) are stored as sent, only trimmed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from pipelines.ingest import normalize

if TYPE_CHECKING:
    from pipelines.ingest.contract import Column

Parser = Callable[[Any], Any]


def _code_parser(column: Column) -> Parser:
    return normalize.code_matcher(column.codes, column.code_aliases)


def _ward_parser(column: Column) -> Parser:
    extra = normalize.code_matcher(column.extra_codes) if column.extra_codes else None

    def ward(value: Any) -> Any:
        code = normalize.ward_code(value)
        if code is normalize.MISSING and extra is not None:
            return extra(value)
        return code

    return ward


def _fixed(parser: Parser) -> Callable[[Column], Parser]:
    return lambda _column: parser


@dataclass(frozen=True)
class ColumnType:
    name: str
    arrow: pa.DataType
    parser: Callable[[Column], Parser] | None  # None: text, taken as it is (see kind)
    rule: str | None  # the rule a cell breaks when it cannot be parsed
    # "free_text" (stored as sent, trimmed), "whole" (integers), "decimal", "year", "flag",
    # "date" or "value" (NFKC-normalized: codes, identifiers, wards)
    kind: str = "value"


# The whole numbers the warehouse holds: its models cast counts to INTEGER (32 bits) on every
# engine, so a larger one is out of range where it is read, not a failed build afterwards.
WHOLE_RANGE = (-(2**31), 2**31 - 1)

COLUMN_TYPES: dict[str, ColumnType] = {
    t.name: t
    for t in (
        ColumnType("text", pa.string(), None, None, "free_text"),  # names, notes: as sent
        ColumnType("identifier", pa.string(), None, None),  # ids and codes without a list
        ColumnType("code", pa.string(), _code_parser, "not_in_code_list"),
        ColumnType("ward", pa.string(), _ward_parser, "unknown_ward"),
        ColumnType("count", pa.int64(), _fixed(normalize.parse_number), "not_a_number", "whole"),
        ColumnType("integer", pa.int64(), _fixed(normalize.parse_number), "not_a_number", "whole"),
        ColumnType(
            "number", pa.float64(), _fixed(normalize.parse_number), "not_a_number", "decimal"
        ),
        ColumnType("date", pa.date32(), _fixed(normalize.parse_date), "invalid_date", "date"),
        ColumnType(
            "fiscal_year",
            pa.int64(),
            _fixed(normalize.parse_fiscal_year),
            "invalid_fiscal_year",
            "year",
        ),
        ColumnType("year", pa.int64(), _fixed(normalize.parse_year), "invalid_year", "year"),
        ColumnType("flag", pa.bool_(), _fixed(normalize.parse_flag), "invalid_flag", "flag"),
    )
}
