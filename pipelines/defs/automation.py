"""The job, the nightly schedule and the landing sensor: small and declarative."""

import dagster as dg

from pipelines.defs.jobs import WAREHOUSE_JOB
from pipelines.defs.resources import WelfareSettings
from pipelines.warehouse.freshness import reason_to_run

warehouse_job = dg.define_asset_job(
    name=WAREHOUSE_JOB,
    selection=dg.AssetSelection.all(),
    description="Take in new submissions, build and test the warehouse, publish it.",
)


@dg.schedule(
    name="nightly_warehouse",
    job=warehouse_job,
    cron_schedule="0 2 * * *",
    execution_timezone="Asia/Tokyo",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night at 02:00 Japan time: the whole pipeline, unless nothing is new "
    "(then the tick records why it skipped).",
)
def nightly_schedule(context: dg.ScheduleEvaluationContext, welfare: WelfareSettings):
    reason = reason_to_run(welfare.get())
    if reason is None:
        return dg.SkipReason("nothing new since the published version")
    return dg.RunRequest(tags={"welfare/trigger": "nightly", "welfare/reason": reason})
