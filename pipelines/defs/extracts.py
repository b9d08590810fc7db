"""Researcher extracts as a Dagster job: the same as `welfare extract SPEC`, launched with
config from the UI (Launchpad) or the CLI, and kept in the run history."""

from pathlib import Path

import dagster as dg

from pipelines.defs.jobs import EXTRACT_JOB
from pipelines.defs.progress import say_to
from pipelines.defs.resources import WelfareSettings
from pipelines.extracts.package import build_extract, describe_extract
from pipelines.extracts.spec import extractable_marts, load_spec
from pipelines.foundation.settings import PROJECT_ROOT
from pipelines.warehouse.dbt import manifest_of


class ExtractConfig(dg.Config):
    spec: str  # the spec file; relative paths are from the project root
    requested_by: str | None = None


@dg.op(
    description="Build, verify and log one extract package from a spec (small counts hidden, "
    "no hidden cell recoverable, CSV/Parquet/dictionary/README/manifest/zip).",
)
def extract_package(
    context: dg.OpExecutionContext, config: ExtractConfig, welfare: WelfareSettings
) -> dg.Output[str]:

    settings = welfare.get()
    path = Path(config.spec)
    marts = extractable_marts(manifest_of(settings))
    spec = load_spec(path if path.is_absolute() else PROJECT_ROOT / path, marts)
    result = build_extract(settings, spec, requested_by=config.requested_by)
    say_to(context)(describe_extract(result))
    return dg.Output(
        str(result.zip_path),
        metadata={
            "package": dg.MetadataValue.path(str(result.folder)),
            "zip": dg.MetadataValue.path(str(result.zip_path)),
            "cells_hidden": result.cells_hidden,
            "warehouse_version": result.warehouse_version or "",
        },
    )


@dg.job(
    name=EXTRACT_JOB,
    description="研究者向け抽出データ: build a researcher's extract package from a spec.",
)
def extract_job() -> None:
    extract_package()
