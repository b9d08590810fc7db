"""Data-quality suites: the reviewed JSON files in ``expectations/``, and running them.

great-expectations is imported only inside :func:`validate` (it takes seconds to import and
pulls in scipy): loading suites and reading data cost nothing at definition time. GX validates
pandas DataFrames read from DuckDB with only the columns a suite needs, chunk by chunk.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from pipelines.settings import EXPECTATIONS_DIR, Settings

CHUNK_ROWS = 250_000
EXAMPLES = 5
DQ_RESULTS_TABLE = "dq_results"
DQ_RESULT_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("checked_at", pa.timestamp("us", tz="UTC")),
        ("suite", pa.string()),
        ("target", pa.string()),
        ("expectation", pa.string()),
        ("column_name", pa.string()),
        ("description", pa.string()),
        ("severity", pa.string()),
        ("success", pa.bool_()),
        ("element_count", pa.int64()),
        ("unexpected_count", pa.int64()),
        ("examples", pa.string()),
        ("files", pa.string()),
    ]
)


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    kind: str  # "lake" (a source's current rows) or "mart" (a table of the working database)
    table: str
    columns: tuple[str, ...]
    expectations: tuple[dict[str, Any], ...]
    derived: dict[str, str] = field(default_factory=dict)
    query: str | None = None


@cache
def load_suites() -> dict[str, Suite]:
    suites = {}
    for path in sorted(EXPECTATIONS_DIR.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        keys = [(e["type"], e["kwargs"].get("column")) for e in raw["expectations"]]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{path.name}: one expectation per type and column")
        for expectation in raw["expectations"]:
            if expectation.get("meta", {}).get("severity") not in ("error", "warning"):
                raise ValueError(f"{path.name}: every expectation needs severity error|warning")
        suites[raw["name"]] = Suite(
            name=raw["name"],
            description=raw["description"],
            kind=raw["target"]["kind"],
            table=raw["target"]["table"],
            columns=tuple(raw["columns"]),
            expectations=tuple(raw["expectations"]),
            derived=raw.get("derived", {}),
            query=raw.get("query"),
        )
    return suites


def suites_for(kind: str) -> list[Suite]:
    return [s for s in load_suites().values() if s.kind == kind]


def _lake_sql(settings: Settings, suite: Suite) -> str:
    """The current (not superseded) loaded rows of a source, with the file each came from."""
    lake = settings.lake
    derived = "".join(f", {sql} as {name}" for name, sql in suite.derived.items())
    columns = ", ".join(f"rows.{c}" for c in suite.columns)
    return f"""
        with ledger as (
            select *, row_number() over (
                partition by source, fiscal_year, submitter_code
                order by received_at desc, file_name desc) as recency
            from read_parquet('{lake}/submissions/*.parquet', union_by_name = true)
            where status = 'loaded'
        )
        select {columns}{derived}, ledger.file_name, rows.source_row
        from read_parquet('{lake}/{suite.table}/*.parquet', union_by_name = true) as rows
        inner join ledger on ledger.sha256 = rows.submission_id
        where ledger.source = 'consultations' or ledger.recency = 1
    """


def read_chunks(settings: Settings, suite: Suite) -> Iterator[pd.DataFrame]:
    if suite.kind == "lake":
        connection, sql = duckdb.connect(), _lake_sql(settings, suite)
    else:
        connection = duckdb.connect(str(settings.working_db), read_only=True)
        sql = suite.query or f"select {', '.join(suite.columns)} from {suite.table}"
    with connection:
        reader = connection.sql(sql).to_arrow_reader(CHUNK_ROWS)
        for batch in reader:
            yield batch.to_pandas()


def validate(settings: Settings, suite: Suite, run_id: str) -> pd.DataFrame:
    """Run a suite over its data; one row per expectation (the audit.dq_results shape)."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"  # nothing phones home
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    context = gx.get_context(mode="ephemeral")
    context.enable_analytics(False)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(
        site_name="welfare",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(data_docs_dir(settings, suite.name)),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    batch_definition = (
        context.data_sources.add_pandas("welfare")
        .add_dataframe_asset(suite.name)
        .add_batch_definition_whole_dataframe("chunk")
    )
    gx_suite = context.suites.add(
        gx.ExpectationSuite(
            name=suite.name,
            expectations=[
                ExpectationConfiguration(
                    type=e["type"], kwargs=e["kwargs"], meta=e["meta"]
                ).to_domain_obj()
                for e in suite.expectations
            ],
        )
    )
    result_format: dict[str, Any] = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": EXAMPLES,
    }
    if suite.kind == "lake":  # name the files behind unexpected values
        result_format.update(
            result_format="COMPLETE", unexpected_index_column_names=["file_name", "source_row"]
        )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=gx_suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=suite.name,
            validation_definitions=[definition],
            result_format=result_format,
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["welfare"])],
        )
    )
    totals = [
        {"element_count": 0, "unexpected_count": 0, "success": True, "examples": [], "files": set()}
        for _ in suite.expectations
    ]
    for chunk in read_chunks(settings, suite):
        run = checkpoint.run(batch_parameters={"dataframe": chunk})
        [outcome] = run.run_results.values()
        by_key = {
            (r.expectation_config.type, r.expectation_config.kwargs.get("column")): r
            for r in outcome.results
        }
        for total, expectation in zip(totals, suite.expectations, strict=True):
            result = by_key[(expectation["type"], expectation["kwargs"].get("column"))]
            total["success"] &= bool(result.success)
            total["element_count"] += int(result.result.get("element_count") or len(chunk))
            total["unexpected_count"] += int(result.result.get("unexpected_count") or 0)
            total["examples"] += list(result.result.get("partial_unexpected_list") or [])
            for index in result.result.get("unexpected_index_list") or []:
                if isinstance(index, dict) and index.get("file_name"):
                    total["files"].add(index["file_name"])
    now = dt.datetime.now(dt.UTC)
    return pd.DataFrame(
        [
            {
                "run_id": run_id,
                "checked_at": now,
                "suite": suite.name,
                "target": suite.table,
                "expectation": e["type"],
                "column_name": e["kwargs"].get("column")
                or ",".join(e["kwargs"].get("column_list", [])),
                "description": e["meta"].get("description"),
                "severity": e["meta"]["severity"],
                "success": t["success"],
                "element_count": t["element_count"],
                "unexpected_count": t["unexpected_count"],
                "examples": ", ".join(map(str, t["examples"][:EXAMPLES])) or None,
                "files": ", ".join(sorted(t["files"])) or None,
            }
            for e, t in zip(suite.expectations, totals, strict=True)
        ]
    )


def data_docs_dir(settings: Settings, suite: str) -> Path:
    """Where a suite's GX Data Docs are written: reports/data_docs/<suite>/index.html."""
    return settings.reports / "data_docs" / suite


def record_results(settings: Settings, results: pd.DataFrame) -> Path:
    """Keep the results as history (lake/dq_results → audit.dq_results at the next publish)."""
    from pipelines.ingest.lake import write_parquet

    run_id, suite = results["run_id"].iloc[0], results["suite"].iloc[0]
    path = settings.lake / DQ_RESULTS_TABLE / f"{run_id}__{suite}.parquet"
    write_parquet(
        pa.Table.from_pandas(results, schema=DQ_RESULT_SCHEMA, preserve_index=False), path
    )
    return path
