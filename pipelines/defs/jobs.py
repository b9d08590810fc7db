"""The names of the project's Dagster jobs, and the tag that says what started a run (no
Dagster import: the command line uses them without paying for Dagster)."""

WAREHOUSE_JOB = "warehouse_job"
EXTRACT_JOB = "extract_job"
RELEASE_JOB = "release_job"
REBUILD_LAKE_JOB = "rebuild_lake_job"
REMINDER_JOB = "reminder_job"
TRIGGER_TAG = "welfare/trigger"  # what started a run: the page, the sensor, the schedule
# The process executing a run and its machine (pipelines.defs.runner.release_abandoned_runs),
# and "welfare run" on the runs that command executes itself.
LAUNCHED_BY, PID_TAG, HOST_TAG = "welfare/launched_by", "welfare/pid", "welfare/host"
