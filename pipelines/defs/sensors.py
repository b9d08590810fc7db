"""The landing-folder sensor and the run-failure sensor."""

import dagster as dg

from pipelines.defs.automation import going_warehouse_run, warehouse_job
from pipelines.defs.jobs import TRIGGER_TAG
from pipelines.defs.planning import plan_run
from pipelines.defs.resources import WelfareSettings
from pipelines.defs.runner import release_abandoned_runs
from pipelines.foundation.notifications import notify
from pipelines.ingest.run_failures import record_run_failure
from pipelines.intake.receiving import waiting_files, waiting_key
from pipelines.intake.run_starts import SENSOR, claim, page_running, run_executing

LANDING_INTERVAL_SECONDS = 5  # the daemon evaluates sensors at most this often anyway


@dg.sensor(
    job=warehouse_job,
    minimum_interval_seconds=LANDING_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts the warehouse job within seconds of a file arriving in "
    "$WELFARE_HOME/landing/ (put there by hand, or sent on the submission page while no run "
    "started from the page could take it), with only what the new files reach. A file is "
    "waiting until the ledger has it, so each set of waiting files asks for one run (its run "
    "key, claimed against the page: pipelines.intake.run_starts) and files received long ago "
    "never start one; while a run is queued or going, files that arrive wait for it to end.",
)
def landing_sensor(context: dg.SensorEvaluationContext, welfare: WelfareSettings):
    release_abandoned_runs(context.instance)  # a run whose process died would hold back every tick
    going = going_warehouse_run(context.instance)
    if going:
        return dg.SkipReason(
            f"run {going[:8]} is going: files waiting now are taken in by the next run, when "
            "it ends"
        )
    settings = welfare.get()
    if run_executing(settings):
        return dg.SkipReason(
            "a run is going in this home (a `welfare run`, `welfare rebuild-lake`, another job): "
            "files waiting now are taken in by the next run, when it ends"
        )
    if page_running(settings):
        return dg.SkipReason(
            "a run started from the submission page is going or about to: it takes the files "
            "waiting when it ends"
        )
    waiting = waiting_files(settings)
    if not waiting:
        return dg.SkipReason("no file waiting in the landing folder")
    key = waiting_key(waiting)
    earlier = claim(settings, key, SENSOR)
    if earlier is not None and earlier.by != SENSOR:
        return dg.SkipReason(
            f"the submission page started a run for the files waiting ({earlier.claimed_at})"
        )
    plan = plan_run(settings, waiting=waiting)
    return dg.RunRequest(
        run_key=key,
        asset_selection=plan.selection,
        tags={
            **plan.tags,
            "welfare/new_files": str(sum(len(files) for files in waiting.values())),
            TRIGGER_TAG: SENSOR,
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
