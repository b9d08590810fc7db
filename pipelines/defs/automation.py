"""The job, the nightly schedule and the landing sensor: small and declarative."""

import dagster as dg

from pipelines.defs.jobs import TRIGGER_TAG, WAREHOUSE_JOB
from pipelines.defs.planning import plan_run
from pipelines.defs.resources import WelfareSettings
from pipelines.warehouse.freshness import reason_to_run

# A run in one of these states holds the working database, or soon will.
GOING = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def going_warehouse_run(instance: dg.DagsterInstance) -> str | None:
    """The id of a warehouse run queued or going in ``instance``, if there is one."""
    going = instance.get_run_records(
        filters=dg.RunsFilter(job_name=WAREHOUSE_JOB, statuses=GOING), limit=1
    )
    return going[0].dagster_run.run_id if going else None


warehouse_job = dg.define_asset_job(
    name=WAREHOUSE_JOB,
    selection=dg.AssetSelection.all(),
    description="Take in new submissions, build and test the warehouse, publish it.",
    # One process: Dagster's definitions, dbt's adapter and great-expectations load once a run.
    executor_def=dg.in_process_executor,
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
    settings = welfare.get()
    reason = reason_to_run(settings)
    if reason is None:
        return dg.SkipReason("nothing new since the published version")
    plan = plan_run(settings)
    return dg.RunRequest(
        asset_selection=plan.selection,
        tags={**plan.tags, TRIGGER_TAG: "nightly", "welfare/reason": reason},
    )
