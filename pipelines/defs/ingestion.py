"""Ingestion assets: one per source, each taking in the new files of landing/<source>/.

Thin on purpose: the work is pipelines.ingest.intake.ingest_source, which the CLI's
``welfare validate`` shares through the same reader.
"""

import dagster as dg

from pipelines.defs.resources import WelfareSettings
from pipelines.ingest.contract import Contract, all_contracts
from pipelines.ingest.intake import ingest_source
from pipelines.ingest.lake import Lake
from pipelines.runner import progress_logger
from pipelines.workspace import initialize_lake

INGEST_POOL = "welfare_ingest"  # one run at a time appends to the lake's ledger
LEDGER_KEY = dg.AssetKey(["lake", "submissions"])
QUARANTINE_KEY = dg.AssetKey(["lake", "quarantined_rows"])


def source_asset_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["lake", source])


def build_ingestion_asset(contract: Contract) -> dg.AssetsDefinition:
    @dg.asset(
        key=source_asset_key(contract.key),
        group_name="ingestion",
        pool=INGEST_POOL,
        kinds={"parquet", "python"},
        description=(
            f"{contract.label_ja} ({contract.label_en}): clean rows of every file received in "
            f"landing/{contract.key}/, one Parquet file per submission in lake/{contract.key}/."
        ),
        retry_policy=dg.RetryPolicy(max_retries=2, delay=5),
    )
    def ingest(context: dg.AssetExecutionContext, welfare: WelfareSettings) -> dg.MaterializeResult:
        settings = welfare.get()
        initialize_lake(settings)

        def report(message: str) -> None:
            context.log.info(message)
            progress_logger().info(message)

        outcomes = ingest_source(settings, contract, progress=report)
        by_status = {
            s: [o for o in outcomes if o.status == s] for s in ("loaded", "rejected", "duplicate")
        }
        return dg.MaterializeResult(
            metadata={
                "new_files": len(outcomes),
                "files_loaded": len(by_status["loaded"]),
                "files_rejected": len(by_status["rejected"]),
                "files_duplicate": len(by_status["duplicate"]),
                "rows_loaded": sum(o.rows_loaded for o in outcomes),
                "rows_quarantined": sum(o.rows_quarantined for o in outcomes),
                "rows_skipped": sum(o.rows_skipped for o in outcomes),
                "rejections": dg.MetadataValue.md(
                    "\n".join(f"- **{o.file_name}**: {o.reason}" for o in by_status["rejected"])
                    or "none"
                ),
            }
        )

    return ingest


ingestion_assets = [build_ingestion_asset(c) for c in all_contracts()]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            LEDGER_KEY,
            deps=[source_asset_key(c.key) for c in all_contracts()],
            group_name="ingestion",
            kinds={"parquet"},
            description="The submission ledger (受付台帳): one entry per file received, with "
            "its status and row accounting (read = loaded + quarantined + skipped + rejected).",
        ),
        dg.AssetSpec(
            QUARANTINE_KEY,
            deps=[source_asset_key(c.key) for c in all_contracts()],
            group_name="ingestion",
            kinds={"parquet"},
            description="Quarantined cells (保留行): file, row, column, value and rule broken.",
        ),
    ],
)
def submission_ledger(welfare: WelfareSettings):
    settings = welfare.get()
    lake = Lake(settings.lake)
    ledger = lake.ledger()
    counts = ledger["status"].value_counts().to_dict()
    parts = ledger[["rows_loaded", "rows_quarantined", "rows_skipped", "rows_rejected"]]
    unaccounted = ledger[ledger["rows_read"].fillna(0) != parts.fillna(0).sum(axis=1)]
    yield dg.MaterializeResult(
        asset_key=LEDGER_KEY,
        metadata={
            "files_received": len(ledger),
            **{f"files_{status}": int(n) for status, n in counts.items()},
            "rows_read": int(ledger["rows_read"].fillna(0).sum()),
            "rows_loaded": int(ledger["rows_loaded"].fillna(0).sum()),
            "files_not_accounted": len(unaccounted),
        },
    )
    quarantine = lake.quarantine()
    yield dg.MaterializeResult(
        asset_key=QUARANTINE_KEY,
        metadata={
            "cells": len(quarantine),
            "rows": int(quarantine[["submission_id", "row_number"]].drop_duplicates().shape[0]),
            "by_rule": dg.MetadataValue.md(
                "\n".join(
                    f"- `{rule}`: {n}" for rule, n in quarantine["rule"].value_counts().items()
                )
                or "none"
            ),
        },
    )
