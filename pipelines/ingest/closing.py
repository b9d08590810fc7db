"""Closed fiscal years: the council's figures for a year, once published in its annual report,
are final (docs/submissions.md, "Closing a fiscal year").

Closing a year records who closed it, when and why, the vintage kept of the published
warehouse, and the files whose rows made the year's figures (``closed_files``). While the
year stays closed only those files count for it: a later file for the year is received,
archived and checked as any other, then shown as 「締切後（年度確定済み）」 and left out — until
the year is reopened (recorded the same way) or that one file is released (`welfare release`).
A consultation export counts for the months of open years only.

dbt applies the same rule to build the marts (models/intermediate/int_year_locks.sql); this
module is what commands ask before a run: which years are closed, which files a closing
locks out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipelines.foundation.clock import utc_now
from pipelines.foundation.locks import exclusive
from pipelines.foundation.settings import Settings
from pipelines.ingest.archive import keep_record
from pipelines.ingest.contract import load_contract
from pipelines.ingest.lake import Lake, read_records
from pipelines.ingest.lake_tables import (
    CLOSED_FILE_SCHEMA,
    CLOSED_FILES,
    RELEASES,
    YEAR_CLOSING_SCHEMA,
    YEAR_CLOSINGS,
)

CLOSED, REOPENED = "closed", "reopened"
DECISIONS_LOCK = ".decisions.lock"  # in archive/records/: one council decision at a time


class ClosingError(ValueError):
    """A year cannot be closed or reopened now (the message says why and what to do)."""


@dataclass(frozen=True)
class Closing:
    closing_id: str
    fiscal_year: int
    action: str  # closed / reopened
    acted_at: dt.datetime
    acted_by: str
    reason: str
    vintage: str | None
    # The first closing since the year was last reopened (a release closes the year again on
    # amended figures, and files that came between the two closings still came too late).
    closed_since: dt.datetime | None = None

    @property
    def late_after(self) -> dt.datetime:
        """Files received after this did not make the year's figures (unless frozen)."""
        return self.closed_since or self.acted_at


def decision_lock(settings: Settings):
    """Held while a council decision (review, release, closing, reopening) reads the records
    and writes its own."""
    return exclusive(settings.archive / "records" / DECISIONS_LOCK)


FIRST_YEAR, LAST_YEAR = 1989, 2100  # 平成元年度 onwards: anything else is a typing slip


def check_fiscal_year(fiscal_year: int | None) -> int:
    """A fiscal year a person typed, or an error saying what a fiscal year looks like."""
    if fiscal_year is None or not FIRST_YEAR <= fiscal_year <= LAST_YEAR:
        raise ClosingError(
            f"年度は西暦で書いてください（例: 2024 = 令和6年度）。「{fiscal_year}」は年度では"
            f"ありません。 / Give the fiscal year as a Western year (e.g. 2024 for 令和6年度): "
            f"{fiscal_year!r} is not one."
        )
    return fiscal_year


def fiscal_year_bounds(fiscal_year: int) -> tuple[dt.date, dt.date]:
    """April to March: 令和6年度 (FY2024) is 2024-04-01 to 2025-03-31."""
    return dt.date(fiscal_year, 4, 1), dt.date(fiscal_year + 1, 3, 31)


def closing_events(lake: Lake) -> pd.DataFrame:
    """Every closing and reopening, oldest first."""
    return read_records(lake, YEAR_CLOSINGS).sort_values(["acted_at", "closing_id"], kind="stable")


def closed_years(lake: Lake) -> dict[int, Closing]:
    """The fiscal years closed now (their latest event is a closing), with that closing."""
    closed: dict[int, Closing] = {}
    for event in closing_events(lake).to_dict("records"):
        year = int(event["fiscal_year"])
        if event["action"] == CLOSED:
            since = closed[year].closed_since if year in closed else event["acted_at"]
            closed[year] = Closing(**{**event, "fiscal_year": year}, closed_since=since)
        else:
            closed.pop(year, None)
    return closed


def frozen_files(lake: Lake, closing_id: str) -> set[str]:
    """The files whose rows made a closed year's figures (SHA-256)."""
    rows = read_records(lake, CLOSED_FILES)
    return set(rows.loc[rows["closing_id"] == closing_id, "sha256"])


def years_of(entry: dict | pd.Series) -> list[int]:
    """The fiscal years a ledger entry gives figures for: its own, or every year a
    consultation export's period touches."""
    if entry["source"] == "consultations":
        start, end = entry.get("period_start"), entry.get("period_end")
        if start is None or end is None or pd.isna(start) or pd.isna(end):
            return []
        first = start.year if start.month >= 4 else start.year - 1
        last = end.year if end.month >= 4 else end.year - 1
        return list(range(first, last + 1))
    year = entry.get("fiscal_year")
    return [] if year is None or pd.isna(year) else [int(year)]


def years_reached(
    lake: Lake, entry: dict | pd.Series, counting: Collection[str] | None = None
) -> list[int]:
    """The fiscal years whether a file counts can change: those it gives figures for, and, for
    a source whose rows are versions of one another across files (a consultation export: the
    newest version of a 受付番号 wins, wherever its 受付日 puts it), every year that a file
    counting now (``counting``: SHA-256s; every file when None) gives one of its rows in — a
    row a closed year holds back (the file came too late for it) is in no year."""
    years = set(years_of(entry))
    contract = load_contract(entry["source"])
    folder = lake.table_dir(contract.key)
    own = folder / f"{entry['sha256']}.parquet"
    if not contract.fiscal_year_from_date or not own.exists():
        return sorted(years)
    identity = list(contract.identity)
    mine = pq.read_table(own, columns=identity).to_pandas().drop_duplicates()
    if mine.empty:
        return sorted(years)
    files = sorted(
        str(path)
        for path in folder.glob("*.parquet")
        if counting is None or path.stem in counting or path == own
    )
    versions = (
        ds.dataset(files, format="parquet")
        .to_table(
            columns=[*identity, "sha256", "fiscal_year"],
            filter=pc.field(identity[0]).isin(pa.array(mine[identity[0]].unique())),
        )
        .to_pandas()
        .merge(mine, on=identity)  # the whole identity, when it has more than one column
        .dropna(subset=["fiscal_year"])
    )
    ledger = lake.ledger().drop_duplicates("sha256", keep="last").set_index("sha256")
    released = set(read_records(lake, RELEASES)["sha256"])
    for sha256, file_years in versions.groupby("sha256")["fiscal_year"]:
        late = sha256 in ledger.index and sha256 not in released
        file_entry = ledger.loc[sha256].to_dict() | {"sha256": sha256} if late else None
        held = set(locked_years(lake, file_entry)) if file_entry else set()
        years |= {int(year) for year in file_years.unique()} - held
    return sorted(years)


def locked_years(lake: Lake, entry: dict | pd.Series) -> list[int]:
    """The closed years a file came too late for: closed before the file was received, and
    the file not among those that made the year's figures (a release lifts this; callers
    check releases)."""
    closed = closed_years(lake)
    received = pd.Timestamp(entry["received_at"])
    return [
        year
        for year in years_of(entry)
        if year in closed
        and received > pd.Timestamp(closed[year].late_after)
        and entry["sha256"] not in frozen_files(lake, closed[year].closing_id)
    ]


def _new_id(fiscal_year: int, action: str, at: dt.datetime) -> str:
    return f"FY{fiscal_year}-{action}-{at:%Y%m%dT%H%M%S%fZ}"


def _check_who(by: str, reason: str) -> None:
    if not by.strip() or not reason.strip():
        raise ClosingError(
            "誰が、なぜ行うかを記録します。名前と理由を書いてください。 / Closing and reopening "
            "record who and why: give both."
        )


def record_closing(
    settings: Settings, fiscal_year: int, by: str, reason: str, vintage: str, files: Iterable[str]
) -> Closing:
    """Record that ``fiscal_year`` is closed with ``files`` as the ones that made its figures
    (the files list first: a closing is in force only once its record exists)."""
    _check_who(by, reason)
    at = utc_now()
    closing = Closing(
        _new_id(fiscal_year, CLOSED, at), fiscal_year, CLOSED, at, by.strip(), reason.strip(),
        vintage,
    )  # fmt: skip
    rows = sorted(set(files))
    keep_record(
        settings.archive,
        settings.lake,
        CLOSED_FILES,
        closing.closing_id,
        pa.table(
            {
                "closing_id": [closing.closing_id] * len(rows),
                "fiscal_year": [fiscal_year] * len(rows),
                "sha256": rows,
            },
            schema=CLOSED_FILE_SCHEMA,
        ),
    )
    _keep(settings, closing)
    return closing


def reopen_year(settings: Settings, fiscal_year: int, by: str, reason: str) -> Closing:
    """Reopen a closed year: files that came after its closing count again from the next run.
    The vintage kept at closing stays."""
    with decision_lock(settings):
        return _reopen_year(settings, fiscal_year, by, reason)


def _reopen_year(settings: Settings, fiscal_year: int, by: str, reason: str) -> Closing:
    check_fiscal_year(fiscal_year)
    _check_who(by, reason)
    closed = closed_years(Lake(settings.lake))
    if fiscal_year not in closed:
        raise ClosingError(
            f"{fiscal_year}年度は確定されていません。 / FY{fiscal_year} is not closed."
        )
    later = sorted((year for year in closed if year > fiscal_year), reverse=True)
    if later:  # a later closed year's change on the year before would move
        raise ClosingError(
            f"先に{', '.join(map(str, later))}年度を再開してください"
            "（年度は新しい順に再開します）。"
            f" / Reopen FY{', FY'.join(map(str, later))} first: years reopen newest first."
        )
    at = utc_now()
    reopening = Closing(
        _new_id(fiscal_year, REOPENED, at), fiscal_year, REOPENED, at, by.strip(),
        reason.strip(), None,
    )  # fmt: skip
    _keep(settings, reopening)
    return reopening


def _keep(settings: Settings, event: Closing) -> None:
    row = {name: [getattr(event, name)] for name in YEAR_CLOSING_SCHEMA.names}
    keep_record(
        settings.archive,
        settings.lake,
        YEAR_CLOSINGS,
        event.closing_id,
        pa.table(row, schema=YEAR_CLOSING_SCHEMA),
    )
