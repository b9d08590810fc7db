"""The landing-folder sensor and the run-failure sensor."""

import json

import dagster as dg

from pipelines.defs.automation import warehouse_job
from pipelines.defs.resources import WelfareSettings
from pipelines.foundation.notifications import notify
from pipelines.ingest.landing_snapshot import landing_snapshot, new_files, run_key
from pipelines.ingest.run_failures import record_run_failure


@dg.sensor(
    job=warehouse_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts the warehouse job when new files land in $WELFARE_HOME/landing/. The "
    "cursor remembers every file's size and modification time, so a file is never requested "
    "twice; a file that lands during a run is picked up on the next tick.",
)
def landing_sensor(context: dg.SensorEvaluationContext, welfare: WelfareSettings):
    snapshot = landing_snapshot(welfare.get())
    files = new_files(snapshot, context.cursor)
    if not files:
        return dg.SkipReason("no new files in the landing folder")
    context.update_cursor(json.dumps(snapshot, sort_keys=True))
    return dg.RunRequest(
        run_key=run_key(files, snapshot),
        tags={"welfare/new_files": str(len(files)), "welfare/trigger": "landing_sensor"},
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
