"""A file compared with its own history (docs/submissions.md, "The survey calendar").

A file's figures (its contract's ``history`` measures: places, sessions and participants for a
ward; facilities and initiatives for the facility council; each month's consultations) are
compared with the same submitter's figures of the previous period as published: the previous
fiscal year's file that counts, or for consultations the same month a year before and the
median of the twelve months before it. A change beyond the contract's band — both its share
and its amount — is a **warning** that states both figures in the clerk's terms
(「前年度 52か所 → 今回 21か所（−60%）」). It never holds a file: a real change must load.

Pure comparison: what was published is asked of a :class:`PreviousFigures` the caller gives
(pipelines.warehouse.history reads it from the published warehouse).
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, replace
from typing import Protocol

import pandas as pd

from pipelines.foundation.clock import utc_now
from pipelines.ingest.contract import Contract, Measure
from pipelines.ingest.lake_tables import DQ_RESULT_SCHEMA
from pipelines.quality.submission_checks import SubmissionCheck

SUITE = "history"


class PreviousFigures(Protocol):
    """What was published for a submitter's earlier periods."""

    def year(self, contract: Contract, submitter_code: str, fiscal_year: int) -> dict | None:
        """The measures of the file that counts for that fiscal year, or None."""

    def months(self, contract: Contract, submitter_code: str) -> dict[dt.date, float]:
        """The monthly measure of every published month (first day of the month → value)."""


@dataclass(frozen=True)
class Change:
    measure: Measure
    before: float
    now: float
    compared_with: str  # 前年度, 前年同月, 直近12か月の中央値
    compared_with_en: str
    period: str = ""  # the month, for monthly figures

    @property
    def pct(self) -> float | None:
        return None if not self.before else (self.now - self.before) / self.before * 100

    def describe(self) -> str:
        unit = self.measure.unit_ja
        pct = "" if self.pct is None else f"（{'+' if self.pct > 0 else '−'}{abs(self.pct):.0f}%）"
        pct_en = "" if self.pct is None else f" ({self.pct:+.0f}%)"
        where = f"{self.period}: " if self.period else ""
        return (
            f"{where}{self.measure.label_ja} {self.compared_with} {_n(self.before)}{unit} → "
            f"今回 {_n(self.now)}{unit}{pct}。大きく変わっています。"
            "正しければそのままで構いません。"
            f" / {self.measure.label_en}: {self.compared_with_en} {_n(self.before)} → this "
            f"file {_n(self.now)}{pct_en}: a large change; if it is right, nothing to do."
        )


def _n(value: float) -> str:
    return f"{value:,.0f}"


def figures(contract: Contract, rows: pd.DataFrame) -> dict[str, float | None]:
    """A file's measures: rows counted, or columns summed (None: no row fills them in)."""
    found: dict[str, float | None] = {}
    for measure in contract.history.measures:
        found[measure.name] = _measure(measure, rows)
    return found


def _measure(measure: Measure, rows: pd.DataFrame) -> float | None:
    if not measure.sum:
        return float(len(rows))
    values = rows[list(measure.sum)]
    if values.isna().all().all():
        return None
    return float(values.astype("float64").sum().sum())


def monthly_figures(contract: Contract, rows: pd.DataFrame) -> dict[dt.date, float]:
    """The monthly measure of each month a file's rows fall in."""
    history = contract.history
    if history.monthly is None or rows.empty:
        return {}
    months = pd.to_datetime(rows[history.monthly_date]).dt.to_period("M").dt.start_time.dt.date
    found = {}
    for month, in_month in rows.groupby(months):
        value = _measure(history.monthly, in_month)
        if value is not None:
            found[month] = value
    return found


def beyond_band(measure: Measure, before: float | None, now: float | None) -> bool:
    if before is None or now is None:
        return False
    change = abs(now - before)
    if change < measure.band_min:
        return False
    return before == 0 or change / before * 100 > measure.band_pct


def changes(
    contract: Contract,
    rows: pd.DataFrame,
    submitter_code: str | None,
    fiscal_year: int | None,
    previous: PreviousFigures,
) -> list[Change]:
    """The changes beyond the band of a file against what was published before it."""
    if not submitter_code:
        return []
    found: list[Change] = []
    history = contract.history
    if history.measures and fiscal_year:
        before = previous.year(contract, submitter_code, fiscal_year - 1) or {}
        now = figures(contract, rows)
        for measure in history.measures:
            if beyond_band(measure, before.get(measure.name), now[measure.name]):
                found.append(
                    Change(measure, before[measure.name], now[measure.name], "前年度", "last year")
                )
    if history.monthly is not None:
        published = previous.months(contract, submitter_code)
        for month, now in sorted(monthly_figures(contract, rows).items()):
            label = f"{month.year}年{month.month}月"
            year_before = published.get(month.replace(year=month.year - 1))
            if beyond_band(history.monthly, year_before, now):
                found.append(
                    Change(history.monthly, year_before, now, "前年同月", "a year before", label)
                )
                continue
            last_twelve = [
                value
                for published_month, value in published.items()
                if month.replace(year=month.year - 1) <= published_month < month
            ]
            if len(last_twelve) >= 6:  # half a year of history at least
                median = statistics.median(last_twelve)
                if beyond_band(history.monthly, median, now):
                    found.append(
                        Change(
                            history.monthly,
                            median,
                            now,
                            "直近12か月の中央値",
                            "the median of the last 12 months",
                            label,
                        )
                    )
    return found


def with_history(
    check: SubmissionCheck,
    found: list[Change],
    run_id: str,
    sha256: str | None,
    file_name: str | None,
    source: str,
) -> SubmissionCheck:
    """The check with the history warnings: lines for the sender, rows for audit.dq_results
    (suite ``history``; the caller keeps them as a record)."""
    if not found:
        return check
    checked_at = utc_now()
    rows = pd.DataFrame(
        [
            {
                "run_id": run_id,
                "checked_at": checked_at,
                "suite": SUITE,
                "target": f"lake/{source}",
                "sha256": sha256,
                "file_name": file_name,
                "expectation": "within_band_of_previous_period",
                "column_name": change.measure.name,
                "description": change.describe(),
                "severity": "warning",
                "success": False,
                "element_count": 1,
                "unexpected_count": 1,
                "examples": f"{_n(change.before)} → {_n(change.now)}",
                "rows": None,
                "files": None,
            }
            for change in found
        ],
        columns=DQ_RESULT_SCHEMA.names,
    )
    return replace(
        check, history=tuple(change.describe() for change in found), history_results=rows
    )
