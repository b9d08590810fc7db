"""Resources, configured in one place: the settings (paths under WELFARE_HOME) and dbt."""

import importlib.metadata
from functools import cached_property
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject
from packaging import version

from pipelines.settings import DBT_PROJECT_DIR, Settings, dbt_executable


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


class WarehouseDbtResource(DbtCliResource):
    """dbt-core from this environment, without two costs dagster-dbt pays on every command:

    - it asks a `dbt --version` subprocess for the version (seconds); the installed package
      says the same at no cost;
    - it builds a dbt adapter inside the Dagster process before starting dbt (~3 s: the
      profile, the project and every macro parsed again), which serves only its
      fetch_row_counts / fetch_column_metadata; this project uses neither (row counts are
      read once dbt has finished: pipelines.defs.warehouse.row_count_observations).
      dagster-dbt treats a missing adapter as "no metadata to fetch"."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


def dbt_resource_for(settings: Settings) -> DbtCliResource:
    return WarehouseDbtResource(
        project_dir=dbt_project_for(settings),
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=dbt_executable(),
    )
