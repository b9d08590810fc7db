"""The Dagster instance of a WELFARE_HOME: its dagster.yaml and its storage (both made by
`welfare prepare`).

Plain YAML, no Dagster import: preparing a home pays for Dagster only the once its storage is
created.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from pipelines.foundation.atomic import write_text
from pipelines.foundation.locks import exclusive
from pipelines.foundation.settings import Settings


def dagster_instance_config(settings: Settings) -> dict:
    """SQLite storage under WELFARE_HOME/dagster, telemetry off, one writer."""
    base = settings.dagster_home
    return {
        "telemetry": {"enabled": False},
        # Dagster's SQLite storage, laid out as its `storage: sqlite` puts it, with the event
        # log keeping its connections open (pipelines.defs.dagster_storage).
        "run_storage": {
            "module": "dagster.core.storage.runs",
            "class": "SqliteRunStorage",
            "config": {"base_dir": str(base / "storage" / "history")},
        },
        "event_log_storage": {
            "module": "pipelines.defs.dagster_storage",
            "class": "KeptConnectionsEventLogStorage",
            "config": {"base_dir": str(base / "storage" / "history" / "runs")},
        },
        "schedule_storage": {
            "module": "dagster.core.storage.schedules",
            "class": "SqliteScheduleStorage",
            "config": {"base_dir": str(base / "storage" / "schedules")},
        },
        "local_artifact_storage": {
            "module": "dagster.core.storage.root",
            "class": "LocalArtifactStorage",
            "config": {"base_dir": str(base)},
        },
        "compute_logs": {
            "module": "dagster.core.storage.local_compute_log_manager",
            "class": "LocalComputeLogManager",
            "config": {"base_dir": str(base / "logs")},
        },
        # Each pool (the lake's ledger, the working database) admits one step at a time, and
        # the queue runs one run at a time: two runs never write the working database at once.
        "concurrency": {"pools": {"default_limit": 1}, "runs": {"max_concurrent_runs": 1}},
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            # A run the landing sensor asks for starts within a second, not five.
            "config": {"dequeue_interval_seconds": 1},
        },
        "run_retries": {"enabled": True, "max_retries": 1},
        "nux": {"enabled": False},
    }


# The first line of a dagster.yaml `welfare prepare` keeps up to date; one without it is the
# operator's own (PostgreSQL storage, say: README.md, "Production set-up") and is left alone.
KEPT_UP_TO_DATE = "# Written by `welfare prepare` for this WELFARE_HOME"


def write_dagster_yaml(settings: Settings) -> Path:
    """The instance's dagster.yaml: written when missing, rewritten when it is one this
    function wrote and the configuration has changed since (a new version of the project)."""
    path = settings.dagster_home / "dagster.yaml"
    text = (
        f"{KEPT_UP_TO_DATE}; production set-up: README.md. Delete this line to keep your "
        "own changes.\n"
        + yaml.safe_dump(dagster_instance_config(settings), sort_keys=False, allow_unicode=True)
    )
    if path.exists():
        kept = path.read_text(encoding="utf-8")
        if kept == text or not kept.startswith(KEPT_UP_TO_DATE):
            return path
    write_text(path, text)
    return path


STORAGE_CREATED = ".storage-created"  # in the Dagster home, once its databases exist


def create_storage(settings: Settings) -> None:
    """Create the instance's databases once, one process at a time. Processes that would
    otherwise each create them on first use (the daemon, a `welfare run`, the page's run, all
    started on a new home) can stamp them twice, and Dagster then refuses the storage."""
    marker = settings.dagster_home / STORAGE_CREATED
    if marker.exists():
        return
    with exclusive(settings.work_dir / "dagster-storage.lock"):
        if marker.exists():
            return
        import dagster as dg

        dg.DagsterInstance.from_config(str(settings.dagster_home)).dispose()
        write_text(marker, "")
