"""The job, the nightly schedule and the landing sensor: small and declarative."""

import dagster as dg

WAREHOUSE_JOB = "warehouse_job"

warehouse_job = dg.define_asset_job(
    name=WAREHOUSE_JOB,
    selection=dg.AssetSelection.all(),
    description="Take in new submissions, build and test the warehouse, publish it.",
)

nightly_schedule = dg.ScheduleDefinition(
    name="nightly_warehouse",
    job=warehouse_job,
    cron_schedule="0 2 * * *",
    execution_timezone="Asia/Tokyo",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night at 02:00 Japan time: the whole pipeline.",
)
