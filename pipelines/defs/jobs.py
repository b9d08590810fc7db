"""The names of the project's Dagster jobs, and the tags that say what started a run and which
process executes it (no Dagster import: the command line uses them without paying for
Dagster)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from pipelines.foundation.processes import process_started

WAREHOUSE_JOB = "warehouse_job"
EXTRACT_JOB = "extract_job"
RELEASE_JOB = "release_job"
REBUILD_LAKE_JOB = "rebuild_lake_job"
REMINDER_JOB = "reminder_job"
TRIGGER_TAG = "welfare/trigger"  # what started a run: the page, the sensor, the schedule
LAUNCHED_BY = "welfare/launched_by"  # "welfare run" on the runs that command executes itself
# The process executing a run (its id, and when it started: ids are reused), its machine, and
# the run they were recorded for: a retry or a re-execution copies its parent's tags, which
# name the parent's process, not its own.
PID_TAG, STARTED_TAG = "welfare/pid", "welfare/process_started"
HOST_TAG, PROCESS_OF_TAG = "welfare/host", "welfare/process_of"


def this_process() -> tuple[int, int | None]:
    """This process: its id, and when it started."""
    return os.getpid(), process_started(os.getpid())


def process_tags(run_id: str) -> dict[str, str]:
    """The tags that name this process as the one executing run ``run_id``."""
    pid, started = this_process()
    return {
        PID_TAG: str(pid),
        STARTED_TAG: str(started or ""),
        HOST_TAG: socket.gethostname(),
        PROCESS_OF_TAG: run_id,
    }


def recorded_process(run_id: str, tags: Mapping[str, str]) -> tuple[int, int | None] | None:
    """The process on this machine recorded as executing run ``run_id`` (its id, when it
    started), if any."""
    if tags.get(PROCESS_OF_TAG) != run_id or tags.get(HOST_TAG) != socket.gethostname():
        return None
    pid = int(tags.get(PID_TAG, "0") or 0)
    started = tags.get(STARTED_TAG) or ""
    return (pid, int(started) if started.isdigit() else None) if pid else None
