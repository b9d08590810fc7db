"""Resources, configured in one place: the settings (paths under WELFARE_HOME), dbt and the
warm checks."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from pipelines.defs.dagster_adapter import DbtCliResource, DbtProject, LeanDbtCliResource
from pipelines.defs.jobs import process_tags, recorded_process, this_process
from pipelines.defs.progress import PROGRESS
from pipelines.foundation.settings import DBT_PROJECT_DIR, Settings
from pipelines.intake.run_starts import run_turn
from pipelines.quality.suites import settle_warm_checks, start_warm_checks
from pipelines.warehouse import warm_dbt


class WelfareSettings(dg.ConfigurableResource):
    """Where the pipeline reads and writes: everything lives under ``home`` (WELFARE_HOME).

    A run of any of the home's jobs holds the home's turn to run while it executes
    (pipelines.intake.run_starts.run_turn), from the moment its resources are set up — in its
    one process, before any step claims a pool's slot (pipelines.defs.build) — until it ends:
    a run the daemon launched waits for a `welfare run` going, as that waits for it. Sensors
    and schedules, which only look, take no turn."""

    home: str

    def get(self) -> Settings:
        return Settings(Path(self.home)).ensure()

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["WelfareSettings"]:
        if context.dagster_run is None:  # a sensor's or a schedule's evaluation
            yield self
            return

        def say_waiting() -> None:
            if context.log is not None:
                context.log.info(
                    "another run is going in this home: waiting for it to end",
                    extra={PROGRESS: True},
                )

        run_id = context.dagster_run.run_id
        if (
            context.instance is not None
            and recorded_process(run_id, context.dagster_run.tags) != this_process()
        ):
            # This process executes the run (one the daemon or the UI launched): a run whose
            # process died is closed out by the next to look, waiting for the turn or not
            # (pipelines.defs.runner.release_abandoned_runs).
            context.instance.add_run_tags(run_id, process_tags(run_id))
        with run_turn(self.get(), on_wait=say_waiting):
            yield self


class WarmChecks(dg.ConfigurableResource):
    """great-expectations made ready for a run's checks (pipelines.quality.suites): loading on
    the other core from the moment the run's resources are set up (`welfare run` starts it
    sooner, before Dagster is imported), and waited for when they are torn down (a mart
    suite's Data Docs are written after its answer). Required by the steps that check."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        start_warm_checks()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        for failure in settle_warm_checks():
            context.log.warning(
                f"Data Docs not written ({failure}); the checks' results stand "
                "(audit.dq_results). / 検証結果のHTMLを書けませんでした（結果自体は有効）。",
                extra={PROGRESS: True},
            )


def dbt_project_for(settings: Settings) -> DbtProject:
    """The dbt project, with its manifest and run artefacts kept under WELFARE_HOME."""
    return DbtProject(
        project_dir=DBT_PROJECT_DIR,
        target_path=settings.dbt_target_dir,
        profiles_dir=DBT_PROJECT_DIR,
    )


class WarmDbtCliResource(LeanDbtCliResource):
    """dbt for a run, made ready while the run's first steps work (pipelines.warehouse.warm_dbt):
    set up with the run, it starts the warm dbt that its executable, `welfare-dbt`, hands the
    run's dbt command to."""

    welfare_home: str
    _warm: warm_dbt.WarmDbt | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        super().setup_for_execution(context)
        self._warm = warm_dbt.start_for(Settings(Path(self.welfare_home)))

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._warm is not None:
            self._warm.stop()
            self._warm = None


def dbt_resource_for(settings: Settings) -> DbtCliResource:
    # dagster-dbt starts dbt in the project's folder; `welfare-dbt` moves it to the home's
    # dbt directory (the profile's paths start there), then hands the command to the run's
    # warm dbt, or becomes dbt itself where there is none.
    client = Path(sys.executable).with_name("welfare-dbt")
    if not warm_dbt.available():
        return LeanDbtCliResource(
            project_dir=dbt_project_for(settings),
            profiles_dir=str(DBT_PROJECT_DIR),
            dbt_executable=str(client),
        )
    return WarmDbtCliResource(
        project_dir=dbt_project_for(settings),
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=str(client),
        welfare_home=str(settings.home),
    )
