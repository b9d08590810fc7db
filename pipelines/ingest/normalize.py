"""Pure, vectorized normalizers for the values ward staff type into Excel.

Every function takes and returns pandas objects and imports nothing from Dagster. Work that
needs Python per value (regexes, dictionary look-ups) runs once per *distinct* value and is
mapped back with ``pandas.factorize``: a million consultation rows carry a few hundred distinct
dates, codes and wards, so the cost follows the distinct values, not the rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.foundation.settings import REFERENCE_DIR

MISSING = object()  # sentinel returned by scalar parsers for "could not parse"

# ---------------------------------------------------------------------------------------------
# Text


def nfkc_text(values: pd.Series) -> pd.Series:
    """NFKC-normalize and trim a column of cell values; blanks become <NA>.

    Non-text cells (numbers and dates from .xlsx) are kept as they are so the typed parsers can
    use them (an Excel date cell is a date, not a string).
    """
    if len(values) == 0:
        return values.astype(object)
    if is_arrow_text(values):  # a CSV's cells: Arrow from the split to here
        arr = pc.utf8_trim_whitespace(pc.utf8_normalize(arrow_of(values), "NFKC"))
        arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)
        return pd.Series(pd.arrays.ArrowExtensionArray(arr), index=values.index, copy=False)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        arr = pa.array(values.to_numpy(dtype=object), pa.string(), from_pandas=True)
        arr = pc.utf8_trim_whitespace(pc.utf8_normalize(arr, "NFKC"))
        out = arr.to_numpy(zero_copy_only=False).astype(object)
        out[pd.isna(out) | (out == "")] = None
        return pd.Series(out, index=values.index, dtype=object)
    return map_distinct(values, _nfkc_scalar)


def is_arrow_text(values: pd.Series) -> bool:
    """Whether a column is text held by Arrow (a CSV's cells), rather than Python objects."""
    dtype = values.dtype
    return isinstance(dtype, pd.ArrowDtype) and (
        pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(dtype.pyarrow_dtype)
    )


def arrow_of(values: pd.Series) -> pa.ChunkedArray:
    """The Arrow array behind an Arrow-backed column (no copy)."""
    return pa.chunked_array(values.array.__arrow_array__())


def trimmed_text(values: pd.Series) -> pd.Series:
    """Free text as sent: surrounding white space removed, nothing else; blanks become None.
    A number or date typed into a text column becomes its text."""

    def trim(value: Any) -> Any:
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            return None
        text = str(value).strip()
        return text or None

    return map_distinct(values, trim)


def match_key(normalized: pd.Series) -> pd.Series:
    """The form in which two free texts are "the same" (from their NFKC form): no white space,
    one wave dash. ``①サロン（㈱協力）`` and ``1サロン ((株)協力)`` share a key."""

    def key(value: Any) -> Any:
        if value is None:
            return None
        return re.sub(r"\s+", "", str(value).translate(WAVE_DASHES)) or None

    return map_distinct(normalized, key)


def _nfkc_scalar(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        return text or None
    return value


def map_distinct(values: pd.Series, func: Callable[[Any], Any]) -> pd.Series:
    """Apply ``func`` once per distinct value and broadcast the results back to every row."""
    if len(values) == 0:
        return pd.Series([], index=values.index, dtype=object)
    # Values of one kind (every CSV cell is text; parsed dates are dates) need no tagging:
    # 1 and "1", or True and 1, can only meet in a column of mixed kinds (a workbook's).
    mixed = values.dtype == object and pd.api.types.infer_dtype(values, skipna=True).startswith(
        "mixed"
    )
    keys = values.map(_hashable) if mixed else values
    codes, uniques = pd.factorize(keys, use_na_sentinel=True)
    mapped = np.empty(len(uniques) + 1, dtype=object)
    # factorize numbers the distinct values in order of appearance: each one's first row.
    seen, first_rows = np.unique(codes, return_index=True)
    originals = values.iloc[first_rows].to_numpy(dtype=object)  # as sent, not as keyed
    for code, original in zip(seen.tolist(), originals, strict=True):
        if code >= 0:
            mapped[code] = func(original)
    mapped[-1] = func(None)
    return pd.Series(mapped[codes], index=values.index, dtype=object)


def _hashable(value: Any) -> Any:
    # Distinguish 1 (an Excel number) from "1" (text) so each is parsed as what it is.
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return (type(value).__name__, value)


WAVE_DASHES = str.maketrans({"〜": "~", "～": "~", "∼": "~", "〰": "~"})


def header_key(text: Any) -> str:
    """The form in which two headers are "the same header".

    Full-width/half-width, surrounding spaces, line breaks inside the cell, case and the
    〜/～/~ variants do not matter.
    """
    if text is None:
        return ""
    return _header_key(str(text))


@lru_cache(maxsize=4096)  # the same few dozen headers, in every file
def _header_key(text: str) -> str:
    normalized = unicodedata.normalize("NFKC", text).translate(WAVE_DASHES)
    return re.sub(r"\s+", "", normalized).lower()


# Hyphens and dashes staff type for 「3-1」 or 「−」 (NFKC leaves these apart; not ー, which
# is part of words such as グループ).
HYPHENS = str.maketrans({c: "-" for c in "‐‑‒–—―−﹣"})


def code_key(text: str) -> str:
    """The form in which a cell value is compared with a code list."""
    normalized = unicodedata.normalize("NFKC", text).translate(WAVE_DASHES).translate(HYPHENS)
    return re.sub(r"\s+", "", normalized).casefold()


# ---------------------------------------------------------------------------------------------
# Numbers

_UNITS = "件|人|名|回|か所|ヶ所|ケ所|カ所|箇所|部|施設|分|時間|円"
_NUMBER = re.compile(rf"^([+-]?)(\d{{1,3}}(?:,\d{{3}})+|\d+)(\.\d+)?\s*(?:{_UNITS})?$")


def parse_number(value: Any) -> Any:
    """1,234 / １２３４ / 12件 / 3か所 → a float; anything else → MISSING; blank → None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return MISSING
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value) if np.isfinite(value) else MISSING
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if not text:
        return None
    match = _NUMBER.match(text)
    if not match:
        return MISSING
    sign, digits, fraction = match.group(1), match.group(2).replace(",", ""), match.group(3) or ""
    number = float(f"{sign}{digits}{fraction}")
    return number if np.isfinite(number) else MISSING  # 400 digits: inf, no number


# ---------------------------------------------------------------------------------------------
# Japanese eras, dates and fiscal years

ERAS = {  # era: (first day, last day or None)
    "令和": (dt.date(2019, 5, 1), None),
    "平成": (dt.date(1989, 1, 8), dt.date(2019, 4, 30)),
    "昭和": (dt.date(1926, 12, 25), dt.date(1989, 1, 7)),
}
ERA_ALIASES = {
    "R": "令和",
    "H": "平成",
    "S": "昭和",
    "令和": "令和",
    "平成": "平成",
    "昭和": "昭和",
}
_ERA = r"(令和|平成|昭和|R|H|S)"
_ERA_YEAR = r"(元|\d{1,2})"


def era_to_year(era: str, era_year: str) -> int:
    """令和6 → 2024; 元 means year 1."""
    first = ERAS[ERA_ALIASES[era.upper() if len(era) == 1 else era]][0]
    return first.year + (1 if era_year == "元" else int(era_year)) - 1


EXCEL_EPOCH = dt.date(1899, 12, 30)
_DATE_WESTERN = re.compile(r"^(\d{4})\s*[/\-.年]\s*(\d{1,2})\s*[/\-.月]\s*(\d{1,2})\s*日?$")
_DATE_ERA = re.compile(
    rf"^{_ERA}\s*{_ERA_YEAR}\s*[/\-.年]\s*(\d{{1,2}})\s*[/\-.月]\s*(\d{{1,2}})\s*日?$", re.I
)
_DATE_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DATE_WITH_TIME = re.compile(r"^(.*?)[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$")


# The dates a submission can hold (a consultation, a start): year 1 is a typo, and breaks the
# arithmetic on years that follows (the previous period of 0001-01-01 has no year).
DATE_RANGE = (dt.date(1900, 1, 1), dt.date(2199, 12, 31))


def parse_date(value: Any) -> Any:
    """Every date form of docs/submissions.md → datetime.date (within DATE_RANGE);
    unparseable or out of range → MISSING; blank → None."""
    day = _parse_date(value)
    if isinstance(day, dt.date) and not DATE_RANGE[0] <= day <= DATE_RANGE[1]:
        return MISSING
    return day


def _parse_date(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, bool):
        return MISSING
    if isinstance(value, int | float | np.integer | np.floating):  # an Excel serial
        if not np.isfinite(value) or not 1 <= value < 2958466:
            return MISSING
        return EXCEL_EPOCH + dt.timedelta(days=int(value))
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if not text:
        return None
    timed = _DATE_WITH_TIME.match(text)
    if timed:
        text = timed.group(1).strip()
    try:
        if match := _DATE_WESTERN.match(text) or _DATE_COMPACT.match(text):
            return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        if match := _DATE_ERA.match(text):
            era = ERA_ALIASES[
                match.group(1).upper() if len(match.group(1)) == 1 else match.group(1)
            ]
            year = era_to_year(era, match.group(2))
            day = dt.date(year, int(match.group(3)), int(match.group(4)))
            first, last = ERAS[era]
            if day < first or (last is not None and day > last):
                return MISSING  # e.g. 平成31年5月1日 does not exist: 令和 began that day
            return day
    except ValueError:
        return MISSING  # 2024/2/30
    return MISSING


def fiscal_year_of(day: dt.date) -> int:
    """April to March: 2025-03-31 is FY2024."""
    return day.year if day.month >= 4 else day.year - 1


_FY_WESTERN = re.compile(r"^(?:FY)?\s*(\d{4})(?:\.0)?\s*(?:年度|年)?$", re.I)
_FY_ERA = re.compile(rf"^{_ERA}\s*{_ERA_YEAR}\s*(?:年度|年)?$", re.I)
YEAR_RANGE = (1900, 2100)


def parse_fiscal_year(value: Any) -> Any:
    """2024, 2024年度, 令和6年度, R6, R6年度, 令和元年度, FY2024 → 2024."""
    return _parse_year_label(value)


def parse_year(value: Any) -> Any:
    """A calendar year: 2021, 2021年, H30, 平成30年, R3, 令和3年 → an int."""
    return _parse_year_label(value)


def _parse_year_label(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return MISSING
    if isinstance(value, int | float | np.integer | np.floating):
        year = int(value) if np.isfinite(value) and float(value).is_integer() else None
        return year if year and YEAR_RANGE[0] <= year <= YEAR_RANGE[1] else MISSING
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if not text:
        return None
    if match := _FY_WESTERN.match(text):
        year = int(match.group(1))
        return year if YEAR_RANGE[0] <= year <= YEAR_RANGE[1] else MISSING
    if match := _FY_ERA.match(text):
        return era_to_year(match.group(1), match.group(2))
    return MISSING


_FY_IN_NAME = [
    re.compile(rf"(?<![A-Za-z]){_ERA}\s*{_ERA_YEAR}(?:年度|年)?(?!\d)"),  # R6 — not r6
    re.compile(r"(?<!\d)(?:FY)?(20\d{2})(?:年度)?(?!\d)", re.I),
]


def fiscal_year_in_name(name: str) -> int | None:
    """The fiscal year a file name states (R6_北区.xlsx, 2024_kita.csv), if it states one."""
    text = unicodedata.normalize("NFKC", name)
    for pattern in _FY_IN_NAME:
        if match := pattern.search(text):
            if len(match.groups()) == 2:
                return era_to_year(match.group(1), match.group(2))
            return int(match.group(1))
    return None


# ---------------------------------------------------------------------------------------------
# Wards


@cache
def ward_table() -> pd.DataFrame:
    """The 24 wards of Osaka City (sources/reference/wards.csv)."""
    with (REFERENCE_DIR / "wards.csv").open(encoding="utf-8") as handle:
        return pd.DataFrame(list(csv.DictReader(handle)))


@cache
def _ward_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for ward in ward_table().itertuples():
        romaji = ward.ward_name_en.lower()
        for form in (
            ward.ward_name,
            ward.ward_name_short,
            ward.ward_code,
            ward.ward_code5,
            romaji,
            f"{romaji}-ku",
            f"{romaji}ku",
            f"{romaji} ku",
            f"{romaji} ward",
        ):
            lookup[form] = ward.ward_code
    return lookup


def ward_code(value: Any) -> Any:
    """東淀川 / 東淀川区 / 27114 / 271144 / Higashiyodogawa(-ku) → '271144'; unknown → MISSING."""
    if value is None:
        return None
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        value = str(int(value)) if np.isfinite(value) else ""
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if not text:
        return None
    return _ward_lookup().get(text.lower(), MISSING)


def ward_name(code: str) -> str:
    return dict(zip(ward_table().ward_code, ward_table().ward_name, strict=True))[code]


def ward_in_name(name: str) -> str | None:
    """The ward a file name states (the longest name wins: 東淀川区, not 淀川区)."""
    text = unicodedata.normalize("NFKC", name)
    wards = ward_table()
    for ward in sorted(wards.itertuples(), key=lambda w: -len(w.ward_name)):
        if ward.ward_name in text:
            return ward.ward_code
    tokens = [t for t in re.split(r"[_\-\s.()\[\]]+", text.lower()) if t]
    lookup = _ward_lookup()
    for token in tokens:
        if token.isascii() and (code := lookup.get(token)):
            return code
        if token.endswith("ku") and token.isascii() and (code := lookup.get(token[:-2])):
            return code
    return None


# ---------------------------------------------------------------------------------------------
# Flags and code lists

FLAG_YES = {"○", "◯", "〇", "有", "あり", "有り", "1", "✓", "✔", "レ", "TRUE", "はい", "YES", "Y"}
FLAG_NO = {"無", "なし", "無し", "0", "×", "✕", "FALSE", "いいえ", "NO", "N", "-", "ー", "―"}


def parse_flag(value: Any) -> Any:
    """○ / ◯ / 有 / あり / 1 / ✓ / TRUE → True; blank / 無 / なし / 0 / × / FALSE → False."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | np.integer | np.floating):
        return {1: True, 0: False}.get(value, MISSING)
    text = unicodedata.normalize("NFKC", str(value)).strip().upper()
    if not text:
        return False
    if text in FLAG_YES:
        return True
    if text in FLAG_NO:
        return False
    return MISSING


def code_matcher(
    codes: Iterable[str], aliases: Iterable[tuple[str, str]] = ()
) -> Callable[[Any], Any]:
    """A parser that maps a cell (a code, or another way of writing one) to its canonical
    code-list value, or MISSING."""
    canonical = {code_key(alias): code for alias, code in aliases}
    canonical.update({code_key(code): code for code in codes})

    def match(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return canonical.get(code_key(str(value)), MISSING)

    return match
