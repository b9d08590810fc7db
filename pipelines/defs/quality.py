"""great-expectations suites as Dagster asset checks (GX is imported only when a check runs).

Source suites check the current rows of each source after ingestion and before dbt; mart
suites check the working database after dbt and before publishing. All are blocking: an
`error` expectation that fails stops everything downstream, so the published warehouse stays
as it was; a `warning` is recorded and reported.
"""

import dagster as dg

from pipelines.defs.ingestion import source_asset_key
from pipelines.defs.resources import WelfareSettings
from pipelines.quality.suites import Suite, data_docs_dir, record_results, suites_for, validate

MART_KEYS = {
    "marts.place_counts_by_ward": dg.AssetKey(["marts", "place_counts_by_ward"]),
    "marts.consultation_volumes": dg.AssetKey(["marts", "consultation_volumes"]),
    "marts.submission_status": dg.AssetKey(["marts", "submission_status"]),
}


def _asset_key(suite: Suite) -> dg.AssetKey:
    return source_asset_key(suite.table) if suite.kind == "lake" else MART_KEYS[suite.table]


def build_quality_check(suite: Suite) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=_asset_key(suite),
        name=f"gx_{suite.name}",
        blocking=True,
        description=f"great-expectations suite expectations/{suite.name}.json: {suite.description}",
    )
    def quality_check(
        context: dg.AssetCheckExecutionContext, welfare: WelfareSettings
    ) -> dg.AssetCheckResult:
        settings = welfare.get()
        results = validate(settings, suite, context.run.run_id)
        record_results(settings, results)
        failed = results[~results["success"]]
        errors = failed[failed["severity"] == "error"]
        summary = "; ".join(
            f"{r.severity}: {r.description} ({r.column_name}, {r.unexpected_count} unexpected"
            + (f", e.g. {r.examples}" if r.examples else "")
            + (f", in {r.files}" if r.files else "")
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


quality_checks = [build_quality_check(s) for s in suites_for("lake") + suites_for("mart")]
