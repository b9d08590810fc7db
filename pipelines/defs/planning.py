"""Which assets a warehouse run materializes: what changed, and what it reaches.

The runner (`welfare run`), the landing sensor and the nightly schedule all start the job
with the selection worked out here (pipelines.warehouse.build_plan says which models): the
ingestion of the sources with files waiting (or lake files to repair), the ledger, the models
the changes reach with their tests and checks, publishing and the report. A whole build
selects everything.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import dagster as dg

from pipelines.defs.ingestion import LEDGER_KEY, QUARANTINE_KEY, source_asset_key
from pipelines.defs.reporting import OVERVIEW_KEY
from pipelines.defs.warehouse import PUBLISHED_KEY, dbt_asset_key
from pipelines.foundation.settings import Settings
from pipelines.ingest.contract import SOURCE_KEYS
from pipelines.intake.receiving import waiting_files
from pipelines.intake.repair import lake_damage
from pipelines.warehouse.build_plan import PLAN_TAG, BuildPlan, load_manifest, plan_build
from pipelines.warehouse.dbt import MANIFEST


@dataclass(frozen=True)
class RunPlan:
    build: BuildPlan
    sources: tuple[str, ...]  # sources with files to take in or lake files to repair
    selection: list[dg.AssetKey] | None  # None: every asset

    @property
    def tags(self) -> dict[str, str]:
        return {PLAN_TAG: "whole" if self.build.whole else "changes"}


def plan_run(
    settings: Settings,
    full_refresh: bool = False,
    waiting: Collection[str] | None = None,
) -> RunPlan:
    """``waiting``: the sources with files waiting in landing/, when the caller knows them."""
    if waiting is None:
        waiting = set(waiting_files(settings))
    damaged = {path.split("/", 1)[0] for path in lake_damage(settings)}
    sources = tuple(s for s in SOURCE_KEYS if s in {*waiting, *damaged})
    manifest = load_manifest(settings.dbt_target_dir / MANIFEST)
    build = plan_build(settings, manifest, waiting, full_refresh)
    if build.whole:
        return RunPlan(build, sources, None)
    nodes = manifest["nodes"]
    selection = [
        *(source_asset_key(source) for source in sources),
        LEDGER_KEY,
        QUARANTINE_KEY,
        *sorted((dbt_asset_key(nodes[uid]) for uid in build.models), key=str),
        PUBLISHED_KEY,
        OVERVIEW_KEY,
    ]
    return RunPlan(build, sources, selection)
