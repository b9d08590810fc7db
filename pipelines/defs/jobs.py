"""The names of the project's Dagster jobs, and the tags that say what started a run and which
process executes it (no Dagster import: the command line uses them without paying for
Dagster)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

WAREHOUSE_JOB = "warehouse_job"
EXTRACT_JOB = "extract_job"
RELEASE_JOB = "release_job"
REBUILD_LAKE_JOB = "rebuild_lake_job"
REMINDER_JOB = "reminder_job"
TRIGGER_TAG = "welfare/trigger"  # what started a run: the page, the sensor, the schedule
LAUNCHED_BY = "welfare/launched_by"  # "welfare run" on the runs that command executes itself
# The process executing a run, its machine, and the run they were recorded for: a retry or a
# re-execution copies its parent's tags, which name the parent's process, not its own.
PID_TAG, HOST_TAG, PROCESS_OF_TAG = "welfare/pid", "welfare/host", "welfare/process_of"


def process_tags(run_id: str) -> dict[str, str]:
    """The tags that name this process as the one executing run ``run_id``."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(), PROCESS_OF_TAG: run_id}


def recorded_process(run_id: str, tags: Mapping[str, str]) -> int | None:
    """The process on this machine recorded as executing run ``run_id``, if any."""
    if tags.get(PROCESS_OF_TAG) != run_id or tags.get(HOST_TAG) != socket.gethostname():
        return None
    return int(tags.get(PID_TAG, "0") or 0) or None
