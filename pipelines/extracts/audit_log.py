"""Every extract handed over, recorded in the lake; dbt shows them as audit.extracts.

The published warehouse is only ever replaced whole, so extract runs are recorded beside it
(one Parquet file per run) and appear in audit.extracts after the next build.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from pipelines.ingest.archive import keep_record
from pipelines.settings import Settings

EXTRACTS_TABLE = "extracts"
EXTRACT_SCHEMA = pa.schema(
    [
        ("extract_id", pa.string()),
        ("name", pa.string()),
        ("requester", pa.string()),
        ("purpose", pa.string()),
        ("requested_by", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("spec_path", pa.string()),
        ("spec_sha256", pa.string()),
        ("tables", pa.string()),
        ("warehouse_version", pa.string()),
        ("cells_hidden", pa.int64()),
        ("package_path", pa.string()),
        ("zip_sha256", pa.string()),
        ("manifest_sha256", pa.string()),
    ]
)


def record_extract(settings: Settings, entry: dict) -> None:
    row = {**entry, "created_at": entry.get("created_at") or dt.datetime.now(dt.UTC)}
    table = pa.Table.from_pylist([row], schema=EXTRACT_SCHEMA)
    keep_record(settings.archive, settings.lake, EXTRACTS_TABLE, row["extract_id"], table)
