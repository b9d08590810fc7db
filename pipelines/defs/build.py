"""Building the Dagster definitions for one WELFARE_HOME (used by the code location and the CLI)."""

import dagster as dg

from pipelines.defs.automation import nightly_schedule, warehouse_job
from pipelines.defs.extracts import extract_job
from pipelines.defs.ingestion import ingestion_assets, submission_ledger
from pipelines.defs.lake_rebuild import rebuild_lake_job
from pipelines.defs.progress import progress_logger
from pipelines.defs.quality import quality_checks
from pipelines.defs.releases import release_job
from pipelines.defs.reminders import daily_reminders, reminder_job
from pipelines.defs.reporting import overview_report
from pipelines.defs.resources import (
    WarmChecks,
    WelfareSettings,
    dbt_project_for,
    dbt_resource_for,
)
from pipelines.defs.sensors import landing_sensor, run_failure_recorder
from pipelines.defs.warehouse import build_dbt_assets, build_publish_asset
from pipelines.foundation.settings import Settings


class ManifestMissing(RuntimeError):
    pass


def build_definitions(settings: Settings) -> dg.Definitions:
    project = dbt_project_for(settings)
    if not project.manifest_path.exists():
        raise ManifestMissing(
            f"dbt manifest not found at {project.manifest_path}: run `welfare prepare` first "
            "(it parses the dbt project once for this WELFARE_HOME)."
        )
    dbt_defs = build_dbt_assets(project)
    return dg.Definitions(
        assets=[
            *ingestion_assets,
            submission_ledger,
            dbt_defs,
            build_publish_asset(dbt_defs),
            overview_report,
        ],
        asset_checks=quality_checks,
        jobs=[warehouse_job, extract_job, release_job, rebuild_lake_job, reminder_job],
        schedules=[nightly_schedule, daily_reminders],
        sensors=[landing_sensor, run_failure_recorder],
        loggers={"console": dg.colored_console_logger, "progress": progress_logger()},
        # Every job runs in one process, which sets up its resources — and so takes the home's
        # turn (WelfareSettings) — before any step claims a pool's slot. Dagster's default
        # executor claims a step's slot in the run's process, then starts the step's process,
        # which would wait for the turn holding a slot a `welfare run` holding the turn needs.
        executor=dg.in_process_executor,
        resources={
            "welfare": WelfareSettings(home=str(settings.home)),
            "dbt": dbt_resource_for(settings),
            "warm_checks": WarmChecks(),
        },
    )
