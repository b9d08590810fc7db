"""The dbt models as Dagster assets (dbt tests surface as asset checks), and publishing."""

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from pipelines.defs.dagster_adapter import (
    DagsterDbtTranslator,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from pipelines.defs.progress import say_on_terminal, say_to
from pipelines.defs.resources import WelfareSettings
from pipelines.foundation.pause_points import pause_point
from pipelines.foundation.settings import Settings, environment
from pipelines.warehouse.build_plan import (
    PLAN_TAG,
    begin_build,
    built_inputs_fingerprint,
    record_build,
    whole_build_reason,
)
from pipelines.warehouse.dbt import dbt_run_dir
from pipelines.warehouse.engine import count_built_rows, publish
from pipelines.warehouse.layers import layer_of
from pipelines.warehouse.publication import PUBLISHED_SCHEMAS
from pipelines.warehouse.vintages import closed_year_changes, keep_amended_years
from pipelines.warehouse.warm_dbt import PARTIAL_PARSE, keep_parse

WAREHOUSE_POOL = "welfare_warehouse"  # one writer of the working database at a time
PUBLISHED_KEY = dg.AssetKey(["published_warehouse"])


def dbt_asset_key(node: Mapping[str, Any]) -> dg.AssetKey:
    """A model's or seed's asset: its layer and name (marts/place_counts)."""
    return dg.AssetKey([layer_of(node), node["name"]])


class WarehouseTranslator(DagsterDbtTranslator):
    """Models and seeds keyed by schema and name (marts/place_counts), grouped by layer."""

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] in ("model", "seed", "snapshot"):
            spec = spec.replace_attributes(key=dbt_asset_key(props), group_name=layer_of(props))
        return spec


class WarehouseBuildConfig(dg.Config):
    """How `dbt build` runs (the schedule and sensors use the defaults)."""

    full_refresh: bool = Field(
        default=False,
        description="Rebuild the incremental models whole (`welfare run --full-refresh`). "
        "Done by itself when the models, reference data, contracts or suites changed.",
    )


def build_dbt_assets(project: DbtProject) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=WarehouseTranslator(),
        pool=WAREHOUSE_POOL,
        name="warehouse_models",
    )
    def warehouse_models(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        welfare: WelfareSettings,
        config: WarehouseBuildConfig,
    ):
        """dbt build: staging → intermediate → marts, with every dbt test as an asset check."""
        settings = welfare.get()
        # dbt (and dagster-dbt's handle on its adapter, made in this process) reads its paths
        # from the environment: set for this step only, so a process that runs several
        # homes' jobs (the tests) never lends one home's paths to the next.
        with environment(settings.dbt_env()):
            say = say_to(context)
            # Unit tests check the models' logic on made-up rows: CI runs them (make test,
            # make test-spark); the nightly build checks the data.
            args = ["build", "--exclude-resource-type", "unit_test"]
            planned = context.run.tags.get(PLAN_TAG)  # how the run was started: whole or changes
            every_model = context.selected_asset_keys == set(context.assets_def.keys)
            reason = whole_build_reason(settings, config.full_refresh)
            if reason and planned == "changes" and not every_model:
                raise dg.Failure(
                    description=f"This run was started to build what changed, but the working "
                    f"database needs a whole build now ({reason}): the next run builds it whole.",
                    allow_retries=False,
                )
            begun = begin_build(settings)
            if reason:
                args.append("--full-refresh")
                say(f"warehouse: dbt build, incremental models rebuilt whole: {reason}")
            else:
                models = len(context.selected_asset_keys)
                say(f"warehouse: dbt build of what changed ({models} models and tests)")
            built, checked, keys = 0, 0, []
            run_target = dbt_run_dir(settings, context.run_id)
            kept_parse = kept_partial_parse(settings)
            for event in dbt.cli(args, context=context, target_path=run_target).stream():
                if isinstance(event, dg.Output):
                    pause_point("dbt.build")
                    built += 1
                    key = context.asset_key_for_output(event.output_name)
                    keys.append(key)
                    say_on_terminal(f"warehouse: built {key.to_user_string()}")
                elif isinstance(event, dg.AssetCheckResult):
                    checked += 1
                yield event
            say(f"warehouse: {built} models and seeds built, {checked} dbt tests run")
            if every_model or planned == "changes":
                # dbt raised above unless every model and test succeeded. A run planned to build
                # what changed built all it had to; a subset chosen by hand (a few models from the
                # UI) leaves others behind, so it records nothing (the next build is whole).
                record_build(settings, begun)
            keep_partial_parse(settings, run_target, kept_parse)
            # Row counts, read once dbt has let go of the working database.
            yield from row_count_observations(settings, keys)
            prune_dbt_runs(run_target.parent)

    return warehouse_models


def row_count_observations(settings: Settings, keys: list[dg.AssetKey]):
    """The rows of each published table built (what analysts query), shown in the UI; the
    private layers' are not counted (a staging view counted is the lake read again)."""
    keys = [key for key in keys if key.path[0] in PUBLISHED_SCHEMAS]
    counts = count_built_rows(settings, [".".join(key.path) for key in keys])
    for key in keys:
        rows = counts[".".join(key.path)]
        yield dg.AssetObservation(asset_key=key, metadata={"dagster/row_count": rows})


def kept_partial_parse(settings: Settings) -> bytes | None:
    """The parse kept in the dbt target folder, as a build starts."""
    try:
        return (settings.dbt_target_dir / PARTIAL_PARSE).read_bytes()
    except OSError:
        return None


def keep_partial_parse(settings: Settings, run_target: Path, before: bytes | None) -> None:
    """Each build starts from the parse kept in the dbt target folder (dagster-dbt copies it
    into the run's). dbt parses the whole project again when the profile changed (another
    target) or the project's variables did (a new day) and writes the new parse
    into the run's folder: keep that one, so the next builds skip parsing again (~4 s). A
    build given the warm dbt's parse leaves the copy as it was (``before``): the warm dbt
    keeps its own parse (pipelines.warehouse.warm_dbt), which that copy must not replace."""
    parsed = run_target / PARTIAL_PARSE
    if parsed.exists() and parsed.read_bytes() != before:
        keep_parse(parsed, settings.dbt_target_dir)


def prune_dbt_runs(runs_dir: Path, keep: int = 5) -> None:
    """Keep the artefacts (run_results.json, logs) of the last few dbt invocations only."""
    old = sorted((p for p in runs_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for path in old[:-keep]:
        shutil.rmtree(path, ignore_errors=True)


def published_keys(dbt_defs: dg.AssetsDefinition) -> list[dg.AssetKey]:
    return sorted(
        (key for key in dbt_defs.keys if key.path[0] in PUBLISHED_SCHEMAS),
        key=lambda k: k.to_user_string(),
    )


def build_publish_asset(dbt_defs: dg.AssetsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=PUBLISHED_KEY,
        deps=published_keys(dbt_defs),
        group_name="published",
        pool=WAREHOUSE_POOL,
        kinds={"duckdb", "spark", "parquet"},
        description="The warehouse analysts open, replaced only after every model and blocking "
        "check passed. DuckDB (default): $WELFARE_HOME/warehouse.duckdb, swapped in one atomic "
        "step, plus every mart as Parquet under published/. Spark (WELFARE_ENGINE=spark): "
        "marts.* and audit.* views repointed at a new version's tables, one step per table.",
    )
    def published_warehouse(
        context: dg.AssetExecutionContext, welfare: WelfareSettings
    ) -> dg.MaterializeResult:
        settings = welfare.get()
        if changes := closed_year_changes(settings):
            raise dg.Failure(
                description="確定済みの年度の数値が変わるため公開しませんでした（公開中の版は"
                "そのまま）。確定後の変更（モデルや参照データ、またはファイル・解除・確認の"
                "記録）を戻すか、年度を再開してください（welfare reopen-year）。 / Not published: "
                "a closed year's figures would change (the published warehouse stays as it "
                "was). Undo what changed them since the closing (models or reference data, or a "
                "file, release or review the closing rules let through: audit.submissions says "
                "what came when), or reopen the year.\n" + "\n".join(changes),
                metadata={"closed_year_changes": dg.MetadataValue.md("\n".join(changes))},
            )
        result = publish(settings, built_inputs_fingerprint(settings), run_id=context.run_id)
        for closing in keep_amended_years(settings):
            say_to(context)(
                f"FY{closing.fiscal_year}: closed again with the file accepted since "
                f"(vintage {closing.vintage})"
            )
        message = (
            f"unchanged: no new inputs since the published version {result.version}"
            if result.unchanged
            else f"published {result.location} ({len(result.tables)} tables)"
        )
        say_to(context)(message)
        return dg.MaterializeResult(
            metadata={
                "warehouse": result.location,
                "engine": settings.engine.kind,
                "version": result.version,
                "tables": dg.MetadataValue.md(
                    "\n".join(f"- `{t}`: {n:,} rows" for t, n in result.tables.items())
                ),
                "parquet_files_written": len(result.exported),
                "unchanged": result.unchanged,
            }
        )

    return published_warehouse
