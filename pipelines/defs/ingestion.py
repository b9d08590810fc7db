"""Ingestion assets: one per source, each taking in the new files of landing/<source>/.

Thin on purpose: the work is pipelines.intake.ingest.ingest_source, which the CLI's
``welfare validate`` shares through the same reader and checks. Each file is checked with its
source's great-expectations suite as it is taken in; the result shows as the asset's
``gx_<suite>`` check, which never blocks: a file that fails an ``error`` expectation is held
back by itself (ledger status ``held``) and everything else goes on.
"""

import dagster as dg

from pipelines.defs.progress import say_to
from pipelines.defs.resources import WarmChecks, WelfareSettings
from pipelines.foundation.disk import DiskFull, is_disk_error
from pipelines.ingest.contract import Contract, all_contracts
from pipelines.ingest.lake import Lake
from pipelines.intake.ingest import ingest_source
from pipelines.intake.recording import ReceiptOutcome
from pipelines.intake.repair import initialize_lake, repair_lake, repair_records
from pipelines.intake.space import check_space, disk_full_message
from pipelines.quality.suites import submission_suite
from pipelines.warehouse.history import PublishedHistory

INGEST_POOL = "welfare_ingest"  # one run at a time appends to the lake's ledger
LEDGER_KEY = dg.AssetKey(["lake", "submissions"])
QUARANTINE_KEY = dg.AssetKey(["lake", "quarantined_rows"])


def source_asset_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["lake", source])


def check_name(suite_name: str) -> str:
    return f"gx_{suite_name}"


def submission_check_result(suite_name: str, outcomes: list[ReceiptOutcome]) -> dg.AssetCheckResult:
    """What the source's suite found in this run's files: held files and warnings, by file."""
    held = [o for o in outcomes if o.status == "held"]
    warned = [o for o in outcomes if o.check_warnings]
    lines = [f"HELD {o.file_name}: {o.reason}" for o in held]
    lines += [f"{o.file_name}: {w}" for o in warned for w in o.check_warnings]
    checked = [o for o in outcomes if o.status in ("loaded", "held")]
    return dg.AssetCheckResult(
        check_name=check_name(suite_name),
        passed=not lines,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(lines) or f"{len(checked)} new file(s) checked, nothing found",
        metadata={
            "files_checked": len(checked),
            "files_held": len(held),
            "files_with_warnings": len(warned),
            "findings": dg.MetadataValue.md("\n".join(f"- {line}" for line in lines) or "none"),
        },
    )


def repaired_metadata(repairs: list) -> dg.MetadataValue:
    """Lake files rebuilt from the archive by this step (the run summary lists them)."""
    return dg.MetadataValue.md("\n".join(f"- {r}" for r in repairs) or "none")


def build_ingestion_asset(contract: Contract) -> dg.AssetsDefinition:
    suite = submission_suite(contract.key)
    check_specs = (
        [
            dg.AssetCheckSpec(
                check_name(suite.name),
                asset=source_asset_key(contract.key),
                blocking=False,
                description=f"great-expectations suite expectations/{suite.name}.json on each "
                f"new file: {suite.description} An error holds that file back; a warning "
                "is shown. Never blocks anything else.",
            )
        ]
        if suite
        else []
    )

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
        check_specs=check_specs,
    )
    def ingest(
        context: dg.AssetExecutionContext,
        welfare: WelfareSettings,
        warm_checks: WarmChecks,  # its set-up makes great-expectations ready (unused here)
    ) -> dg.MaterializeResult:
        settings = welfare.get()
        try:
            check_space(settings)
            initialize_lake(settings, say=say_to(context))
            # Damaged or missing lake files are derived again from the archive first.
            repairs = repair_lake(settings, contract.key, say=say_to(context))
            outcomes = ingest_source(
                settings,
                contract,
                progress=say_to(context),
                run_id=context.run_id,
                previous=PublishedHistory(settings),
            )
        except (DiskFull, OSError) as error:
            if not is_disk_error(error):
                raise
            # Retrying cannot help; every file written so far is whole (atomic writes), and
            # a file without its ledger entry is read again by the next run.
            raise dg.Failure(
                description=str(error)
                if isinstance(error, DiskFull)
                else disk_full_message(settings, detail=str(error)),
                allow_retries=False,
            ) from error
        by_status = {
            s: [o for o in outcomes if o.status == s]
            for s in ("loaded", "held", "rejected", "duplicate")
        }
        return dg.MaterializeResult(
            check_results=[submission_check_result(suite.name, outcomes)] if suite else [],
            metadata={
                "new_files": len(outcomes),
                # Which ledger entries this run wrote (its summary lists their files; a file
                # received by a run that was killed is entered, and told, by the next one).
                "ledger_entries": dg.MetadataValue.json([o.entry_id for o in outcomes]),
                "lake_files_repaired": repaired_metadata(repairs),
                "files_loaded": len(by_status["loaded"]),
                "files_held": len(by_status["held"]),
                "files_rejected": len(by_status["rejected"]),
                "files_duplicate": len(by_status["duplicate"]),
                "rows_loaded": sum(o.rows_loaded for o in outcomes),
                "rows_quarantined": sum(o.rows_quarantined for o in outcomes),
                "rows_skipped": sum(o.rows_skipped for o in outcomes),
                "rejections": dg.MetadataValue.md(
                    "\n".join(f"- **{o.file_name}**: {o.reason}" for o in by_status["rejected"])
                    or "none"
                ),
            },
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
def submission_ledger(context: dg.AssetExecutionContext, welfare: WelfareSettings):
    settings = welfare.get()
    # Releases, failed runs, extracts and check results: as archived.
    repairs = repair_records(settings, say=say_to(context))
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
            "lake_files_repaired": repaired_metadata(repairs),
        },
    )
    quarantine = lake.quarantine()
    yield dg.MaterializeResult(
        asset_key=QUARANTINE_KEY,
        metadata={
            "cells": len(quarantine),
            "rows": int(quarantine[["sha256", "row_number"]].drop_duplicates().shape[0]),
            "by_rule": dg.MetadataValue.md(
                "\n".join(
                    f"- `{rule}`: {n}" for rule, n in quarantine["rule"].value_counts().items()
                )
                or "none"
            ),
        },
    )
