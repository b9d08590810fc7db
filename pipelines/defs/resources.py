"""Resources, configured in one place: the settings (paths under WELFARE_HOME) and dbt."""

from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject

from pipelines.defs.dagster_adapter import LeanDbtCliResource
from pipelines.foundation.settings import DBT_PROJECT_DIR, Settings, dbt_executable


class WelfareSettings(dg.ConfigurableResource):
    """Where the pipeline reads and writes: everything lives under ``home`` (WELFARE_HOME)."""

    home: str

    def get(self) -> Settings:
        return Settings(Path(self.home)).ensure()


def dbt_project_for(settings: Settings) -> DbtProject:
    """The dbt project, with its manifest and run artefacts kept under WELFARE_HOME."""
    return DbtProject(
        project_dir=DBT_PROJECT_DIR,
        target_path=settings.dbt_target_dir,
        profiles_dir=DBT_PROJECT_DIR,
    )


def dbt_resource_for(settings: Settings) -> DbtCliResource:
    return LeanDbtCliResource(
        project_dir=dbt_project_for(settings),
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=dbt_executable(),
    )
