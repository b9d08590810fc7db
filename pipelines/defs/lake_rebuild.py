"""Rebuilding the whole lake from the archive as a Dagster job (`welfare rebuild-lake`).

It takes the ingestion pool's slot, so it never runs while a run takes in files.
"""

import dagster as dg

from pipelines.defs.ingestion import INGEST_POOL
from pipelines.defs.jobs import REBUILD_LAKE_JOB
from pipelines.defs.progress import say_to
from pipelines.defs.resources import WelfareSettings
from pipelines.intake.repair import rebuild_lake as rebuild


@dg.op(
    pool=INGEST_POOL,
    description="Derive every lake file again from archive/ (the originals, their receipts and "
    "the records of releases, failed runs, extracts and check results) with today's contracts "
    "and suites, in a new folder that then replaces lake/.",
)
def rebuild_lake(context: dg.OpExecutionContext, welfare: WelfareSettings) -> dg.Output[int]:
    result = rebuild(welfare.get(), say=say_to(context))
    statuses = ", ".join(f"{n} {status}" for status, n in sorted(result.by_status.items()))
    say_to(context)(
        f"rebuild-lake: {result.entries} received file(s) derived again ({statuses or 'none'}), "
        f"{result.records} record(s) copied from the archive"
    )
    return dg.Output(
        result.entries,
        metadata={"entries": result.entries, "records": result.records, "statuses": statuses},
    )


@dg.job(
    name=REBUILD_LAKE_JOB,
    description="取込みデータの再構築: re-derive the lake from the archive (after a contract "
    "change, or to recover a lost lake). The next warehouse run publishes what changed.",
)
def rebuild_lake_job() -> None:
    rebuild_lake()
