"""Releasing a submission: council staff confirmed a held file's values with its sender, or
accept one file that came after its fiscal year was closed (pipelines.ingest.closing).

A release is a record (``archive/records/releases/<sha256>.parquet``, copied to
``lake/releases/``): who, when, why, and the findings released. The ledger entry stays
``held`` as it was written; dbt counts a held submission with a release as loaded, and a
released file counts for a closed year (int_submissions_current, int_year_locks), so the next
run shows its figures. Its rows are already in the
lake: nothing is re-read, and the same findings never hold it again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from pipelines.foundation.clock import utc_now
from pipelines.foundation.settings import Settings
from pipelines.ingest.archive import keep_record
from pipelines.ingest.closing import closed_years, decision_lock, locked_years, years_of
from pipelines.ingest.lake import Lake, read_records
from pipelines.ingest.lake_tables import RELEASE_SCHEMA, RELEASES
from pipelines.ingest.lookup import matching_entries, one_entry


class ReleaseError(ValueError):
    """The submission named cannot be released (with what to do instead)."""


@dataclass(frozen=True)
class Release:
    sha256: str
    source: str
    file_name: str
    released_at: dt.datetime
    released_by: str
    reason: str
    findings: str | None


def find_releasable(lake: Lake, ref: str) -> pd.Series:
    """The ledger entry ``ref`` names (a file name, a landing path or a SHA-256 prefix), if it
    waits for a release: held by a check, or come after its fiscal year was closed."""
    matches = matching_entries(lake.ledger(), ref)
    late = [bool(locked_years(lake, entry)) for _, entry in matches.iterrows()]
    waiting = matches[(matches["status"] == "held") | pd.Series(late, matches.index, dtype=bool)]
    if waiting.empty and not matches.empty:
        status = matches["status"].iloc[-1]
        raise ReleaseError(
            f"「{ref}」は確認待ちでも締切後でもありません（状態: {status}）。 / '{ref}' is "
            f"neither held nor after its year's closing (status {status}): nothing to release."
        )
    return one_entry(waiting, ref, "確認待ち・締切後の提出", "held or after-closing submission")


def releases(lake: Lake) -> pd.DataFrame:
    return read_records(lake, RELEASES)


def _findings(lake: Lake, entry: pd.Series) -> str | None:
    """What the release lets through: the hold reason, or the closed years the file is late
    for."""
    found = [] if pd.isna(entry["reason"]) else [str(entry["reason"])]
    late = locked_years(lake, entry)
    if late:
        years = ", ".join(f"FY{year}" for year in late)
        found.append(f"締切後（{years} 確定済み） / after closing ({years})")
    return "; ".join(found) or None


def release_submission(settings: Settings, ref: str, by: str, reason: str) -> Release:
    """Record the release (one decision at a time: a second release of the same file is
    refused)."""
    with decision_lock(settings):
        return _release(settings, ref, by, reason)


def _release(settings: Settings, ref: str, by: str, reason: str) -> Release:
    """Record that a held submission may load as it is; the next run shows its figures."""
    if not by.strip() or not reason.strip():
        raise ReleaseError(
            "解除する人と理由を記録します。理由を書いてください。 / A release records who "
            "releases the file and why: give both."
        )
    lake = Lake(settings.lake)
    entry = find_releasable(lake, ref)
    closed = closed_years(lake)
    # The closed years the file would change once it counts: those it came too late for, and
    # those it was held in (a held file did not make the closed figures either).
    late = [year for year in years_of(entry) if year in closed]
    later = sorted(year for year in closed if late and year > max(late))
    if later:  # the later year's change on the year before would move
        raise ReleaseError(
            f"このファイルは{', '.join(map(str, late))}年度のものです。受け入れるには先に"
            f"{', '.join(map(str, later))}年度を再開してください。 / The file is for FY"
            f"{', FY'.join(map(str, late))}: reopen FY{', FY'.join(map(str, later))} first."
        )
    done = releases(lake)
    if entry["sha256"] in set(done["sha256"]):
        raise ReleaseError(
            f"「{entry['file_name']}」はすでに解除されています。 / '{entry['file_name']}' was "
            "already released."
        )
    release = Release(
        sha256=entry["sha256"],
        source=entry["source"],
        file_name=entry["file_name"],
        released_at=utc_now(),
        released_by=by.strip(),
        reason=reason.strip(),
        findings=_findings(lake, entry),
    )
    row = {name: [getattr(release, name)] for name in RELEASE_SCHEMA.names}
    keep_record(
        settings.archive,
        settings.lake,
        RELEASES,
        release.sha256,
        pa.table(row, schema=RELEASE_SCHEMA),
    )
    return release
