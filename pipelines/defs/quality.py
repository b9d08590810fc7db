"""Mart-level great-expectations suites as blocking Dagster asset checks.

They check the private working database after ``dbt build`` and before publishing: a failed
``error`` expectation stops the publish step, so the published warehouse stays as it was; a
``warning`` is recorded and reported. (Each source's suite runs on each file as it is taken
in, and holds back only that file: see pipelines.defs.ingestion.)

great-expectations is imported only when a check runs.
"""

import dagster as dg

from pipelines.defs.resources import WarmChecks, WelfareSettings
from pipelines.foundation.pause_points import pause_point
from pipelines.quality.suites import Suite, data_docs_dir, record_results, suites_for, validator
from pipelines.warehouse.mart_checks import files_behind, read_mart_chunks


def build_quality_check(suite: Suite) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(suite.table.split(".")),
        name=f"gx_{suite.name}",
        blocking=True,
        description=f"great-expectations suite expectations/{suite.name}.json: {suite.description}",
    )
    def quality_check(
        context: dg.AssetCheckExecutionContext,
        welfare: WelfareSettings,
        warm_checks: WarmChecks,  # its set-up makes great-expectations ready (unused here)
    ) -> dg.AssetCheckResult:
        settings = welfare.get()
        pause_point("checks.marts")
        index = (
            (suite.submission["fiscal_year"], suite.submission["submitter_code"])
            if suite.submission
            else ()
        )
        results, failing = validator(data_docs_dir(settings)).validate(
            suite, read_mart_chunks(settings, suite), context.run.run_id, index_columns=index
        )
        results["files"] = [
            ", ".join(files_behind(settings, suite, rows)) or None for rows in failing
        ]
        record_results(settings, results)
        failed = results[~results["success"]]
        errors = failed[failed["severity"] == "error"]
        summary = "; ".join(
            f"{r.severity}: {r.description} ({r.column_name}, {r.unexpected_count} unexpected"
            + (f", e.g. {r.examples}" if r.examples else "")
            + (f", from {r.files}" if r.files else "")
            + ")"
            for r in failed.itertuples()
        )
        table = "\n".join(
            f"| {'✓' if r.success else '✗'} | {r.severity} | {r.expectation} | {r.column_name} "
            f"| {r.unexpected_count} | {r.examples or ''} | {r.files or ''} |"
            for r in results.itertuples()
        )
        return dg.AssetCheckResult(
            passed=failed.empty,
            severity=dg.AssetCheckSeverity.ERROR if len(errors) else dg.AssetCheckSeverity.WARN,
            description=summary or "all expectations met",
            metadata={
                "expectations": dg.MetadataValue.md(
                    "| ok | severity | expectation | column | unexpected | examples | files |\n"
                    "|---|---|---|---|---|---|---|\n" + table
                ),
                "rows_checked": int(results["element_count"].max()),
                "failed_errors": len(errors),
                "failed_warnings": len(failed) - len(errors),
                "data_docs": dg.MetadataValue.path(
                    str(data_docs_dir(settings, suite.name) / "index.html")
                ),
            },
        )

    return quality_check


quality_checks = [build_quality_check(s) for s in suites_for("mart")]
