"""Building an extract package for a researcher from the published warehouse.

extracts/<name>/<timestamp>/ holds one CSV (UTF-8 with BOM, CRLF: Japanese Excel opens it
as it is) and one Parquet file per table, a data dictionary from the dbt docs, a README
(source, as-of date, filters, suppression rule, how to cite) and manifest.json with the
SHA-256 of every file; extracts/<name>/<timestamp>.zip is the same, as one file to hand over.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.extracts.audit_log import record_extract
from pipelines.extracts.disclosure import (
    HIDDEN,
    PRIMARY,
    SECONDARY,
    TOTAL,
    ExtractTable,
    protect_tables,
)
from pipelines.extracts.safe_cells import neutralize
from pipelines.extracts.spec import ExtractSpec
from pipelines.foundation.hashing import sha256_of
from pipelines.foundation.settings import Settings
from pipelines.foundation.templating import render
from pipelines.warehouse.dbt import manifest_of
from pipelines.warehouse.engine import open_published
from pipelines.warehouse.layers import is_mart
from pipelines.warehouse.vintages import open_vintage

PUBLISHER = "大阪市社会福祉協議会（welfare-warehouse）"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ExtractResult:
    extract_id: str
    folder: Path
    zip_path: Path
    files: list[Path]
    tables: list[ExtractTable]
    warehouse_version: str | None
    vintage: str | None = None

    @property
    def cells_hidden(self) -> int:
        return sum(table.hidden for table in self.tables)


def _csv_frame(table: ExtractTable) -> pd.DataFrame:
    cells = table.cells
    columns = {}
    for dimension in table.spec.dimensions:
        columns[dimension] = [neutralize(v) for v in cells[dimension].astype(str)]
    hidden = cells["status"].isin([PRIMARY, SECONDARY])
    for measure in table.spec.measures:
        columns[measure] = [
            HIDDEN if h else int(v) for v, h in zip(cells[measure], hidden, strict=True)
        ]
    return pd.DataFrame(columns)


def write_csv(table: ExtractTable, path: Path) -> None:
    """UTF-8 with BOM and CRLF: what Japanese Excel opens correctly with a double-click."""
    _csv_frame(table).to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n")


def write_parquet(table: ExtractTable, path: Path) -> None:
    cells = table.cells
    hidden = cells["status"].isin([PRIMARY, SECONDARY]).to_numpy()
    columns: dict[str, pa.Array] = {
        d: pa.array(cells[d].astype(str).tolist(), pa.string()) for d in table.spec.dimensions
    }
    for measure in table.spec.measures:
        values = [None if h else int(v) for v, h in zip(cells[measure], hidden, strict=True)]
        columns[measure] = pa.array(values, pa.int64())
    if table.spec.suppressed:
        columns[f"{table.spec.measures[0]}_hidden"] = pa.array(hidden.tolist(), pa.bool_())
    pq.write_table(pa.table(columns), path, compression="zstd")


def _split_description(description: str) -> tuple[str, str]:
    """dbt descriptions read "日本語ラベル。 English description."; split them."""
    label, _, english = description.partition("。")
    return label.strip(), english.strip()


def data_dictionary(manifest_path: Path, tables: list[ExtractTable]) -> pd.DataFrame:
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    models = {node["name"]: node for node in manifest["nodes"].values() if is_mart(node)}
    rows = []
    for table in tables:
        spec = table.spec
        node = models[spec.mart]
        table_ja, _ = _split_description(node["description"])
        for column in (*spec.dimensions, *spec.measures):
            label, english = _split_description(node["columns"][column]["description"])
            is_measure = column in spec.measures
            note = ""
            if spec.totals and not is_measure:
                note = f"「{TOTAL}」は合計。 '{TOTAL}' marks a total."
            if is_measure and spec.suppressed:
                note = (
                    f"「{HIDDEN}」は秘匿（{spec.threshold}未満、または逆算防止）。 "
                    f"'{HIDDEN}': hidden (below {spec.threshold}, or hidden so that no small "
                    "count can be worked out from the totals)."
                )
            rows.append(
                {
                    "table": spec.name,
                    "source_mart": f"marts.{spec.mart}（{table_ja}）",
                    "column": column,
                    "label_ja": label,
                    "description_en": english,
                    "type": "integer" if is_measure else "text",
                    "note": note,
                }
            )
        if spec.suppressed:
            measure = spec.measures[0]
            rows.append(
                {
                    "table": spec.name,
                    "source_mart": f"marts.{spec.mart}（{table_ja}）",
                    "column": f"{measure}_hidden",
                    "label_ja": "秘匿フラグ（Parquetのみ）",
                    "description_en": "Parquet only: true where the count is hidden (null).",
                    "type": "boolean",
                    "note": "",
                }
            )
    return pd.DataFrame(rows)


def _readme(spec: ExtractSpec, tables: list[ExtractTable], provenance: dict) -> str:
    thresholds = sorted({t.spec.threshold for t in tables if t.spec.suppressed})
    return render(
        "extract_README.md.j2",
        spec=spec,
        tables=tables,
        provenance=provenance,
        publisher=PUBLISHER,
        manifest=MANIFEST,
        hidden=HIDDEN,
        total=TOTAL,
        threshold=thresholds[0] if thresholds else None,
    )


def _provenance(connection: duckdb.DuckDBPyConnection) -> dict:
    latest = connection.execute(
        "select version, published_at from audit.publishes order by published_at desc limit 1"
    ).fetchone()
    as_of = connection.execute("select max(received_at) from audit.submissions").fetchone()[0]
    return {
        "warehouse_version": latest[0] if latest else None,
        "published_at": latest[1].isoformat(timespec="seconds") if latest else None,
        "as_of": f"submissions received up to {as_of:%Y-%m-%d}" if as_of else "no submissions",
    }


def build_extract(
    settings: Settings,
    spec: ExtractSpec,
    requested_by: str | None = None,
    vintage: str | None = None,
) -> ExtractResult:
    """Build, verify and log one extract package; nothing is written if a check fails. From
    the published warehouse, or from a vintage kept for good (the same spec on the same vintage
    gives the same tables, byte for byte, however much later it runs)."""

    created = dt.datetime.now(dt.UTC)
    stamp = created.strftime("%Y%m%dT%H%M%SZ")
    source = open_vintage(settings, vintage) if vintage else open_published(settings)
    with source as connection:
        provenance = _provenance(connection) | {"vintage": vintage}
        tables = protect_tables(connection, spec.tables)
    provenance |= {
        "created_at": created.isoformat(timespec="seconds"),
        "requested_by": requested_by or os.environ.get("WELFARE_USER") or getpass.getuser(),
    }

    folder = settings.extracts / spec.name / stamp
    folder.mkdir(parents=True, exist_ok=False)
    files: list[Path] = []
    for table in tables:
        if "csv" in spec.formats:
            write_csv(table, folder / f"{table.spec.name}.csv")
            files.append(folder / f"{table.spec.name}.csv")
        if "parquet" in spec.formats:
            write_parquet(table, folder / f"{table.spec.name}.parquet")
            files.append(folder / f"{table.spec.name}.parquet")
    dictionary = data_dictionary(manifest_of(settings), tables)
    dictionary.to_csv(
        folder / "data_dictionary.csv", index=False, encoding="utf-8-sig", lineterminator="\r\n"
    )
    (folder / "README.md").write_text(_readme(spec, tables, provenance), encoding="utf-8")
    files += [folder / "data_dictionary.csv", folder / "README.md"]

    manifest = {
        "extract": spec.name,
        "requester": spec.requester,
        "purpose": spec.purpose,
        **provenance,
        "spec_sha256": sha256_of(spec.path) if spec.path else None,
        "files": [
            {"path": path.name, "bytes": path.stat().st_size, "sha256": sha256_of(path)}
            for path in files
        ],
    }
    (folder / MANIFEST).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    files.append(folder / MANIFEST)
    zip_path = folder.with_suffix(".zip")
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, arcname=f"{spec.name}_{stamp}/{path.name}")

    extract_id = f"{spec.name}-{stamp}"
    result = ExtractResult(
        extract_id, folder, zip_path, files, tables, provenance["warehouse_version"], vintage
    )
    record_extract(
        settings,
        {
            "extract_id": extract_id,
            "name": spec.name,
            "requester": spec.requester,
            "purpose": spec.purpose,
            "requested_by": provenance["requested_by"],
            "created_at": created,
            "spec_path": str(spec.path) if spec.path else None,
            "spec_sha256": manifest["spec_sha256"],
            "tables": ", ".join(f"{t.spec.name} (marts.{t.spec.mart})" for t in tables),
            "warehouse_version": provenance["warehouse_version"],
            "cells_hidden": result.cells_hidden,
            "package_path": str(folder),
            "zip_sha256": sha256_of(zip_path),
            "manifest_sha256": sha256_of(folder / MANIFEST),
        },
    )
    return result


def describe_extract(result: ExtractResult) -> str:
    """What a person needs after an extract: where it is, what is hidden, how to verify it."""
    lines = []
    for table in result.tables:
        lines.append(
            f"  {table.spec.name}: {len(table.cells):,} cells, {table.hidden:,} hidden ({HIDDEN})"
        )
    lines += [
        f"Package: {result.folder}",
        f"Zip: {result.zip_path}",
        f"From published version {result.warehouse_version}"
        + (f" (vintage {result.vintage})" if result.vintage else "")
        + f"; logged as {result.extract_id} "
        "(audit.extracts after the next run).",
    ]
    return "\n".join(lines)
