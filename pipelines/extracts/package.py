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
    SHOWN,
    TOTAL,
    recoverable_cells,
    suppress,
    with_totals,
)
from pipelines.extracts.safe_cells import neutralize
from pipelines.extracts.spec import EXTRACTABLE, ExtractSpec, SpecError, TableSpec
from pipelines.ingest.lake import sha256_of
from pipelines.settings import Settings

PUBLISHER = "大阪市社会福祉協議会（welfare-warehouse）"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ExtractTable:
    spec: TableSpec
    cells: pd.DataFrame  # dimensions (text), measures, status
    hidden: int


@dataclass(frozen=True)
class ExtractResult:
    extract_id: str
    folder: Path
    zip_path: Path
    files: list[Path]
    tables: list[ExtractTable]
    warehouse_version: str | None

    @property
    def cells_hidden(self) -> int:
        return sum(table.hidden for table in self.tables)


def query_mart(connection: duckdb.DuckDBPyConnection, table: TableSpec) -> pd.DataFrame:
    """The mart aggregated to the requested dimensions, filtered; dimensions as text."""
    dimension_sql = [
        f"strftime({d}, '%Y-%m') as {d}" if d == "month" else f"cast({d} as varchar) as {d}"
        for d in table.dimensions
    ]
    measures = [f"cast(sum({m}) as bigint) as {m}" for m in table.measures]
    where, params = [], []
    for column, values in table.filters.items():
        where.append(f"cast({column} as varchar) in ({', '.join('?' for _ in values)})")
        params.extend(str(value) for value in values)
    sql = (
        f"select {', '.join(dimension_sql + measures)} from marts.{table.mart}"
        + (f" where {' and '.join(where)}" if where else "")
        + " group by all order by all"
    )
    return connection.execute(sql, params).df()


def protect_table(frame: pd.DataFrame, table: TableSpec) -> ExtractTable:
    dimensions, measures = list(table.dimensions), list(table.measures)
    if table.suppressed:
        cells = suppress(frame, dimensions, measures[0], table.threshold)
        exposed = recoverable_cells(cells, dimensions, measures[0])
        if exposed:  # never hand over a table whose hidden cells can be worked out
            raise RuntimeError(
                f"{table.name}: {len(exposed)} hidden cell(s) could be recovered from the "
                f"totals, e.g. {exposed[0].cell}; the extract was not written."
            )
    elif table.totals:
        cells = with_totals(frame, dimensions, measures)
        cells["status"] = SHOWN
    else:
        cells = frame.copy()
        for dimension in dimensions:
            cells[dimension] = cells[dimension].astype("string").fillna("不明")
        cells["status"] = SHOWN
    hidden = int(cells["status"].isin([PRIMARY, SECONDARY]).sum())
    return ExtractTable(table, cells.reset_index(drop=True), hidden)


def _nested_in(table: TableSpec, larger: TableSpec) -> bool:
    return (
        table.mart == larger.mart
        and table.filters == larger.filters
        and table.threshold == larger.threshold
        and set(table.dimensions) <= set(larger.dimensions)
    )


def _margin_of(table: TableSpec, larger: ExtractTable) -> ExtractTable:
    """A smaller table read off a larger one's margins: the same cells, the same x's."""
    cells = larger.cells
    others = [d for d in larger.spec.dimensions if d not in table.dimensions]
    rows = cells[(cells[others] == TOTAL).all(axis=1)] if others else cells
    rows = rows[[*table.dimensions, *table.measures, "status"]].reset_index(drop=True)
    hidden = int(rows["status"].isin([PRIMARY, SECONDARY]).sum())
    return ExtractTable(table, rows, hidden)


def protect_tables(
    connection: duckdb.DuckDBPyConnection, specs: tuple[TableSpec, ...]
) -> list[ExtractTable]:
    """Every table of a spec, protected together: a suppressed table that is a margin of a
    larger one in the same extract is read off that one, so the two can never be combined
    to recover a hidden cell; tables that overlap otherwise are refused."""
    done: dict[str, ExtractTable] = {}
    for spec in sorted(specs, key=lambda t: -len(t.dimensions)):
        larger = next(
            (t for t in done.values() if t.spec.suppressed and _nested_in(spec, t.spec)), None
        )
        if spec.suppressed and larger is not None:
            done[spec.name] = _margin_of(spec, larger)
            continue
        for other in done.values():
            shared = set(spec.dimensions) & set(other.spec.dimensions)
            hidden_somewhere = spec.suppressed or other.spec.suppressed
            if other.spec.mart == spec.mart and shared and hidden_somewhere:
                raise SpecError(
                    f"「{spec.name}」と「{other.spec.name}」は同じ記録を重なる分類で数えるため、"
                    "組み合わせると秘匿セルが求められるおそれがあります。1つの表にまとめてください"
                    f"（合計行に両方が含まれます）。 Tables {spec.name} and {other.spec.name} "
                    "count the same records by overlapping dimensions; ask for one table with "
                    "all their dimensions instead (its totals contain both)."
                )
        done[spec.name] = protect_table(query_mart(connection, spec), spec)
    return [done[spec.name] for spec in specs]


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
    models = {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == "marts"
    }
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


def _readme(spec: ExtractSpec, result_tables: list[ExtractTable], provenance: dict) -> str:
    lines = [
        f"# {spec.name}",
        "",
        f"- 依頼者 Requester: {spec.requester}",
        f"- 利用目的 Purpose: {spec.purpose}",
        f"- 作成 Created: {provenance['created_at']} (UTC) by {provenance['requested_by']}",
        f"- 出典 Source: {PUBLISHER}, published warehouse version "
        f"{provenance['warehouse_version']} (published {provenance['published_at']} UTC)",
        f"- データの時点 As of: {provenance['as_of']}",
        "",
        "## 表 Tables",
        "",
    ]
    for table in result_tables:
        spec_table = table.spec
        filters = "; ".join(f"{c} in {list(v)}" for c, v in spec_table.filters.items()) or "none"
        lines += [
            f"### {spec_table.name}.csv / {spec_table.name}.parquet",
            "",
            f"- 元の表 Mart: marts.{spec_table.mart}（{EXTRACTABLE[spec_table.mart].label_ja}）",
            f"- 分類 Dimensions: {', '.join(spec_table.dimensions)}",
            f"- 数値 Measures: {', '.join(spec_table.measures)} (sums)",
            f"- 絞り込み Filters: {filters}",
            f"- 合計行 Totals: {'yes, labelled ' + TOTAL if spec_table.totals else 'no'}",
            f"- 秘匿セル Hidden cells: {table.hidden} of {len(table.cells)}",
            "",
        ]
    suppressed = [t.spec for t in result_tables if t.spec.suppressed]
    lines += ["## 秘匿のルール Disclosure control", ""]
    if suppressed:
        thresholds = sorted({t.threshold for t in suppressed})
        lines += [
            f"相談件数など人に関する件数は、1以上{thresholds[0]}未満のセルを「{HIDDEN}」で秘匿して"
            "います（0はそのまま表示）。合計から差し引いて秘匿セルが求められないよう、必要な"
            f"セルも「{HIDDEN}」にしています（二次秘匿、τ-Argus モジュラー法）。"
            "秘匿セルのどれも、同じ提供データの数値と合計から一意に求められないことを線形計画法で"
            "確認しています。",
            "",
            f"Counts about people (consultations) between 1 and {thresholds[0] - 1} are hidden "
            f"and shown as '{HIDDEN}', the marker of Japanese statistical tables; zeros are "
            "shown. Further cells are hidden (secondary suppression, τ-Argus modular method) so "
            "that no hidden cell can be worked out by subtracting from the totals in this "
            "package; this was verified by solving the tables' sum constraints (linear "
            "programming) before the package was written. In the Parquet files a hidden count "
            "is null and its `_hidden` column is true.",
            "",
        ]
    else:
        lines += [
            "この提供データは公開されている一覧の件数（居場所・施設）のみで、秘匿はありません。",
            "Only counts of places and facilities (public lists, not about individuals): "
            "nothing is hidden.",
            "",
        ]
    lines += [
        "## ファイル Files",
        "",
        "- *.csv: UTF-8 (BOM), CRLF; Excel opens them directly. Text that a spreadsheet would "
        "run as a formula (starting with = + - @) is prefixed with an apostrophe.",
        "- *.parquet: the same tables with typed counts.",
        "- data_dictionary.csv: every column, its Japanese label and English description.",
        f"- {MANIFEST}: the SHA-256 of every file; check with `sha256sum`.",
        "",
        "## 引用 How to cite",
        "",
        f"{PUBLISHER}「{EXTRACTABLE[result_tables[0].spec.mart].label_ja}ほか」"
        f"（抽出 {spec.name}, 公開版 {provenance['warehouse_version']}, "
        f"{provenance['created_at'][:10]} 作成）.",
        "",
        f"Osaka City Council of Social Welfare, welfare-warehouse extract '{spec.name}', "
        f"published version {provenance['warehouse_version']}, created "
        f"{provenance['created_at'][:10]}.",
        "",
    ]
    return "\n".join(lines)


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
    settings: Settings, spec: ExtractSpec, requested_by: str | None = None
) -> ExtractResult:
    """Build, verify and log one extract package; nothing is written if a check fails."""
    from pipelines.workspace import prepare_manifest

    if not settings.warehouse.exists():
        raise FileNotFoundError(
            f"No published warehouse at {settings.warehouse}: run `welfare run` first."
        )
    created = dt.datetime.now(dt.UTC)
    stamp = created.strftime("%Y%m%dT%H%M%SZ")
    with duckdb.connect(str(settings.warehouse), read_only=True) as connection:
        provenance = _provenance(connection)
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
    dictionary = data_dictionary(prepare_manifest(settings), tables)
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
        extract_id, folder, zip_path, files, tables, provenance["warehouse_version"]
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
        f"From published version {result.warehouse_version}; logged as {result.extract_id} "
        "(audit.extracts after the next run).",
    ]
    return "\n".join(lines)
