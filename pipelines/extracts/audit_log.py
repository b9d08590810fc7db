"""Every extract handed over, recorded in the lake; dbt shows them as audit.extracts.

The published warehouse is only ever replaced whole, so extract runs are recorded beside it
(one Parquet file per run) and appear in audit.extracts after the next build.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from pipelines.foundation.settings import Settings
from pipelines.ingest.archive import keep_record
from pipelines.ingest.lake_tables import EXTRACT_SCHEMA, EXTRACTS


def record_extract(settings: Settings, entry: dict) -> None:
    row = {**entry, "created_at": entry.get("created_at") or dt.datetime.now(dt.UTC)}
    table = pa.Table.from_pylist([row], schema=EXTRACT_SCHEMA)
    keep_record(settings.archive, settings.lake, EXTRACTS, row["extract_id"], table)
