"""Releasing a held submission: council staff confirmed the held values with the sender.

A release is a record (``archive/records/releases/<sha256>.parquet``, copied to
``lake/releases/``): who, when, why, and the findings released. The ledger entry stays
``held`` as it was written; dbt counts a held submission with a release as loaded
(int_submissions_current), so the next run shows its figures. Its rows are already in the
lake: nothing is re-read, and the same findings never hold it again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.foundation.clock import utc_now
from pipelines.foundation.settings import Settings
from pipelines.ingest.archive import keep_record
from pipelines.ingest.lake import Lake
from pipelines.ingest.lake_tables import RELEASE_SCHEMA, RELEASES


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


def find_held(ledger: pd.DataFrame, ref: str) -> pd.Series:
    """The held ledger entry named by ``ref``: a file name, a landing path or a SHA-256 prefix."""
    ref = ref.strip()
    if not ref:
        raise ReleaseError(
            "確認待ちのファイル名かSHA-256を指定してください。 / Name a held file or its SHA-256."
        )
    matches = ledger[
        (ledger["file_name"] == ref)
        | (ledger["landing_path"] == ref)
        | (ledger["sha256"].str.startswith(ref.lower()) if len(ref) >= 8 else False)
    ]
    held = matches[matches["status"] == "held"].drop_duplicates("sha256")
    if held.empty:
        if matches.empty:
            raise ReleaseError(
                f"「{ref}」という提出は台帳にありません。 / No submission named '{ref}' was "
                "received (check the file name or SHA-256 in audit.submissions)."
            )
        raise ReleaseError(
            f"「{ref}」は確認待ちではありません（状態: {matches['status'].iloc[-1]}）。 / "
            f"'{ref}' is not held (status {matches['status'].iloc[-1]}): nothing to release."
        )
    if len(held) > 1:
        raise ReleaseError(
            f"「{ref}」に当たる確認待ちの提出が{len(held)}件あります。"
            "SHA-256で指定してください。 / "
            f"'{ref}' names {len(held)} held submissions: give the SHA-256 instead ("
            + ", ".join(held["sha256"].str[:12])
            + ")."
        )
    return held.iloc[0]


def releases(lake: Lake) -> pd.DataFrame:
    files = sorted(lake.table_dir(RELEASES).glob("*.parquet"))
    tables = [pq.read_table(f, schema=RELEASE_SCHEMA) for f in files]
    return pa.concat_tables(tables or [RELEASE_SCHEMA.empty_table()]).to_pandas()


def release_submission(settings: Settings, ref: str, by: str, reason: str) -> Release:
    """Record that a held submission may load as it is; the next run shows its figures."""
    if not by.strip() or not reason.strip():
        raise ReleaseError(
            "解除する人と理由を記録します。理由を書いてください。 / A release records who "
            "releases the file and why: give both."
        )
    lake = Lake(settings.lake)
    entry = find_held(lake.ledger(), ref)
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
        findings=entry["reason"],
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
