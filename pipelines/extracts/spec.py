"""Extract specifications: what a researcher asked for, read from a reviewed YAML file.

A spec names marts, not tables in general: only the marts whose dbt docs say so
(``meta.extract``) can leave the warehouse, and only as aggregates of the columns listed
there. Consultation records are about people, so they leave only as counts with small cells
hidden; a request for consultation rows is refused with the reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipelines.warehouse.layers import is_mart

FORMATS = ("csv", "parquet")
CONSULTATION_THRESHOLD = 10  # ONS: counts about people below 10 are hidden (0 is shown)
MAX_SUPPRESSED_DIMENSIONS = 4


@dataclass(frozen=True)
class Mart:
    dimensions: tuple[str, ...]
    measures: tuple[str, ...]
    about_people: bool  # counts of people's consultations: suppressed by default
    label_ja: str


def extractable_marts(manifest_path: Path) -> dict[str, Mart]:
    """The marts that may leave the warehouse, from their dbt docs (``meta.extract`` in
    models/marts/_marts.yml, read from the manifest): nothing else can be extracted."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    marts = {}
    for node in manifest["nodes"].values():
        extract = (node.get("config") or {}).get("meta", {}).get("extract")
        if is_mart(node) and extract:
            marts[node["name"]] = Mart(
                dimensions=tuple(extract["dimensions"]),
                measures=tuple(extract["measures"]),
                about_people=bool(extract["about_people"]),
                label_ja=extract["label_ja"],
            )
    return marts


# Names a requester might use for consultation records at row level.
ROW_LEVEL_CONSULTATIONS = {
    "consultations",
    "stg_consultations",
    "int_consultations_current",
    "consultation_records",
}


class SpecError(ValueError):
    """A spec that cannot be extracted; the message says what to change."""


@dataclass(frozen=True)
class TableSpec:
    name: str
    mart: str
    mart_label: str  # the mart's Japanese name, for the README and the citation
    dimensions: tuple[str, ...]
    measures: tuple[str, ...]
    filters: dict[str, tuple[Any, ...]]
    totals: bool
    threshold: int | None  # hide counts 1..threshold-1; None: shown as they are

    @property
    def suppressed(self) -> bool:
        return self.threshold is not None


@dataclass(frozen=True)
class ExtractSpec:
    name: str
    requester: str
    purpose: str
    tables: tuple[TableSpec, ...]
    formats: tuple[str, ...]
    contact: str = ""
    path: Path | None = None


def _refuse(spec_name: str, message: str) -> SpecError:
    return SpecError(f"抽出仕様 {spec_name}: {message}")


def _list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _shaped_table(
    spec_name: str, raw: Any, default_filters: dict, index: int, marts: dict[str, Mart]
) -> TableSpec:
    """``_table``, with a table written in another shape than the README's (a scalar where a
    list or a mapping goes, a word for a number) refused as such, naming the table."""
    if not isinstance(raw, dict):
        raise _refuse(
            spec_name, f"table {index} is a mapping (mart, dimensions, ...), not {raw!r}."
        )
    try:
        return _table(spec_name, raw, default_filters, index, marts)
    except (TypeError, ValueError, AttributeError) as error:
        if isinstance(error, SpecError):
            raise
        raise _refuse(
            spec_name,
            f"table {index} ({raw.get('name') or raw.get('mart')}): not in the form README "
            f"'Extracts for researchers' shows ({error}).",
        ) from error


def _filter_values(column: str, values: Any) -> tuple[str, ...]:
    """A filter's values as the mart's column is compared (as text; a month as its first day:
    the tables show 2024-04, the mart holds 2024-04-01), each once."""
    texts = [str(value).strip() for value in _list(values)]
    if column == "month":
        texts = [f"{t}-01" if re.fullmatch(r"\d{4}-\d{2}", t) else t for t in texts]
    return tuple(dict.fromkeys(texts))


def _table(
    spec_name: str, raw: dict[str, Any], default_filters: dict, index: int, marts: dict[str, Mart]
) -> TableSpec:
    mart_name = str(raw.get("mart", "")).strip()
    label = raw.get("name") or mart_name or f"table {index}"
    if raw.get("rows") or raw.get("row_level") or mart_name in ROW_LEVEL_CONSULTATIONS:
        raise _refuse(
            spec_name,
            f"「{label}」: 相談記録は個人に関する記録のため、行単位（1件ずつ）では提供できません。"
            "集計表 consultation_volumes を指定してください。 / Consultation records are about "
            "people and never leave row by row: ask for the aggregate mart "
            "consultation_volumes (counts below the threshold are hidden).",
        )
    mart = marts.get(mart_name)
    if mart is None:
        raise _refuse(
            spec_name,
            f"「{label}」: mart '{mart_name}' は抽出できません。 Only these marts can be "
            f"extracted: {', '.join(sorted(marts))}.",
        )
    dimensions = tuple(_list(raw.get("dimensions")))
    if any(not isinstance(d, str) for d in dimensions) or len(set(dimensions)) < len(dimensions):
        raise _refuse(spec_name, f"「{label}」: 'dimensions' is a list of column names, each once.")
    if not dimensions:
        raise _refuse(spec_name, f"「{label}」: list the 'dimensions' to count by.")
    measures = tuple(_list(raw.get("measures")) or mart.measures)
    unknown = [c for c in dimensions if c not in mart.dimensions] + [
        c for c in measures if c not in mart.measures
    ]
    if unknown:
        raise _refuse(
            spec_name,
            f"「{label}」: {mart_name} has no column {', '.join(unknown)}. Dimensions: "
            f"{', '.join(mart.dimensions)}; measures: {', '.join(mart.measures)}.",
        )
    own_filters = raw.get("filters") or {}
    if not isinstance(own_filters, dict):
        raise _refuse(spec_name, f"「{label}」: 'filters' is a mapping: column: [values, ...].")
    filters = {**default_filters, **own_filters}
    if empty := [c for c, values in filters.items() if not _list(values)]:
        raise _refuse(spec_name, f"「{label}」: the filter on {empty} lists no value.")
    bad_filters = [c for c in filters if c not in mart.dimensions]
    if bad_filters:
        raise _refuse(spec_name, f"「{label}」: cannot filter {mart_name} on {bad_filters}.")
    suppression = raw.get("suppression") or {}
    if not isinstance(suppression, dict):
        raise _refuse(spec_name, f"「{label}」: 'suppression' is a mapping: {{threshold: N}}.")
    threshold = suppression.get("threshold", CONSULTATION_THRESHOLD if mart.about_people else None)
    if mart.about_people and (threshold is None or int(threshold) < CONSULTATION_THRESHOLD):
        raise _refuse(
            spec_name,
            f"「{label}」: 相談件数は {CONSULTATION_THRESHOLD} 未満を秘匿します（引き下げ不可）。 "
            f"Counts of consultations are hidden below {CONSULTATION_THRESHOLD}; a spec may "
            "raise the threshold, never lower it.",
        )
    if threshold is not None:
        threshold = int(threshold)
        if len(measures) != 1:
            raise _refuse(
                spec_name, f"「{label}」: a suppressed table has exactly one count measure."
            )
        if not 1 <= len(dimensions) <= MAX_SUPPRESSED_DIMENSIONS:
            raise _refuse(
                spec_name,
                f"「{label}」: a suppressed table has 1 to {MAX_SUPPRESSED_DIMENSIONS} dimensions.",
            )
    name = str(raw.get("name") or mart_name)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise _refuse(spec_name, f"table name '{name}' must be lower_snake_case (a file name).")
    return TableSpec(
        name=name,
        mart=mart_name,
        mart_label=mart.label_ja,
        dimensions=dimensions,
        measures=measures,
        filters={column: _filter_values(column, values) for column, values in filters.items()},
        totals=bool(raw.get("totals", threshold is not None)),
        threshold=threshold,
    )


def parse_spec(
    raw: dict[str, Any], marts: dict[str, Mart], path: Path | None = None
) -> ExtractSpec:
    name = str(raw.get("name", "")).strip()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_\-]*", name):
        raise SpecError(
            f"抽出仕様 {path or ''}: 'name' must be lower-case letters, digits, - or _ "
            f"(it names the folder), got {name!r}."
        )
    missing = [key for key in ("requester", "purpose", "tables") if not raw.get(key)]
    if missing:
        raise _refuse(name, f"missing {', '.join(missing)} (who asks, why, and what).")
    default_filters = raw.get("filters") or {}
    if not isinstance(default_filters, dict):
        raise _refuse(name, "'filters' is a mapping: column: [values, ...].")
    tables = tuple(
        _shaped_table(name, table, default_filters, index, marts)
        for index, table in enumerate(_list(raw["tables"]), start=1)
    )
    if len({table.name for table in tables}) != len(tables):
        raise _refuse(name, "two tables have the same name; give each a 'name'.")
    formats = tuple(_list(raw.get("formats")) or FORMATS)
    if unknown := [f for f in formats if f not in FORMATS]:
        raise _refuse(name, f"unknown format {unknown}; choose from {list(FORMATS)}.")
    return ExtractSpec(
        name=name,
        requester=str(raw["requester"]),
        purpose=str(raw["purpose"]).strip(),
        contact=str(raw.get("contact", "")),
        tables=tables,
        formats=formats,
        path=path,
    )


def load_spec(path: Path, marts: dict[str, Mart]) -> ExtractSpec:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise SpecError(f"抽出仕様 {path}: cannot read it ({error}).") from error
    if not isinstance(raw, dict):
        raise SpecError(f"抽出仕様 {path}: expected a YAML mapping with name, requester, ...")
    return parse_spec(raw, marts, path)
