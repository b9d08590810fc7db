"""The landing-folder sensor and the run-failure sensor."""

import dagster as dg

from pipelines.defs.automation import warehouse_job
from pipelines.defs.jobs import WAREHOUSE_JOB
from pipelines.defs.planning import plan_run
from pipelines.defs.resources import WelfareSettings
from pipelines.foundation.notifications import notify
from pipelines.ingest.run_failures import record_run_failure
from pipelines.intake.receiving import waiting_files, waiting_key

LANDING_INTERVAL_SECONDS = 5  # the daemon evaluates sensors at most this often anyway
GOING = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@dg.sensor(
    job=warehouse_job,
    minimum_interval_seconds=LANDING_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts the warehouse job within seconds of a file arriving in "
    "$WELFARE_HOME/landing/ (sent on the submission page or put there by hand), with only what "
    "the new files reach. A file is waiting until the ledger has it, so each set of waiting "
    "files asks for one run (its run key) and files received long ago never start one; while "
    "a run is queued or going, files that arrive wait for it to end.",
)
def landing_sensor(context: dg.SensorEvaluationContext, welfare: WelfareSettings):
    going = context.instance.get_run_records(
        filters=dg.RunsFilter(job_name=WAREHOUSE_JOB, statuses=GOING),
        limit=1,
    )
    if going:
        return dg.SkipReason(
            f"run {going[0].dagster_run.run_id[:8]} is going: files waiting now are taken in "
            "by the next run, when it ends"
        )
    settings = welfare.get()
    waiting = waiting_files(settings)
    if not waiting:
        return dg.SkipReason("no file waiting in the landing folder")
    plan = plan_run(settings, waiting=waiting)
    return dg.RunRequest(
        run_key=waiting_key(waiting),
        asset_selection=plan.selection,
        tags={
            **plan.tags,
            "welfare/new_files": str(sum(len(files) for files in waiting.values())),
            "welfare/trigger": "landing_sensor",
        },
    )


@dg.run_failure_sensor(
    monitored_jobs=[warehouse_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records every failed warehouse run (lake/run_failures → audit.run_failures) "
    "and sends a notification when $WELFARE_HOME/notifications.yml configures one.",
)
def run_failure_recorder(context: dg.RunFailureSensorContext, welfare: WelfareSettings):
    settings = welfare.get()
    failed_steps = [e.step_key for e in context.get_step_failure_events() if e.step_key]
    message = context.failure_event.message or "the run failed"
    record_run_failure(
        settings, context.dagster_run.run_id, context.dagster_run.job_name, failed_steps, message
    )
    notify(
        settings,
        f"[welfare-warehouse] run {context.dagster_run.run_id[:8]} failed",
        f"Failed steps: {', '.join(failed_steps) or '-'}\n{message}\n"
        "The published warehouse was left as it was.",
    )
