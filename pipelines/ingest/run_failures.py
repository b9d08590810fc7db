"""Failed runs, recorded where staff will see them (audit.run_failures after the next build).

The published warehouse is only ever replaced whole, so a failure is kept as a record in the
archive and the lake, beside it, rather than written into it.
"""

from __future__ import annotations

import pyarrow as pa

from pipelines.foundation.clock import utc_now
from pipelines.foundation.settings import Settings
from pipelines.ingest.archive import keep_record
from pipelines.ingest.lake_tables import RUN_FAILURE_SCHEMA, RUN_FAILURES


def record_run_failure(
    settings: Settings, run_id: str, job_name: str, failed_steps: list[str], message: str
) -> None:
    table = pa.table(
        {
            "run_id": [run_id],
            "job_name": [job_name],
            "failed_at": [utc_now()],
            "failed_steps": [", ".join(failed_steps)],
            "message": [message],
        },
        schema=RUN_FAILURE_SCHEMA,
    )
    keep_record(settings.archive, settings.lake, RUN_FAILURES, run_id, table)
