"""Cells a spreadsheet must never run: text starting with =, +, -, @, tab or CR.

Excel and LibreOffice treat such a cell as a formula (CSV injection). A leading apostrophe
makes it plain text in both and shows the value as written.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: Any) -> Any:
    """The value as a spreadsheet shows it, never as a formula; non-text values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
