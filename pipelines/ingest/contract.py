"""Source contracts: the reviewed YAML files in ``sources/`` that drive the one generic reader."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import yaml

from pipelines.foundation.settings import REFERENCE_DIR
from pipelines.ingest.normalize import header_key
from pipelines.ingest.types import COLUMN_TYPES, WHOLE_RANGE, ColumnType

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "sources"


@dataclass(frozen=True)
class Column:
    name: str  # English snake_case alias, the column's name everywhere downstream
    header: str  # the Japanese header staff write
    type: str
    required: bool = False
    codes: tuple[str, ...] = ()
    # Other ways staff write a code (A for ◎, 済 for 達成): (written, canonical) pairs.
    code_aliases: tuple[tuple[str, str], ...] = ()
    extra_codes: tuple[str, ...] = ()  # accepted besides a ward (市外, 不明)
    minimum: float | None = None
    maximum: float | None = None
    aliases: tuple[str, ...] = ()
    key: bool = False  # free text with a normalized key beside it (<name>_key) for matching
    reference: Reference | None = None  # codes that must be in force in reference data

    @property
    def key_name(self) -> str:
        return f"{self.name}_key"

    @property
    def column_type(self) -> ColumnType:
        return COLUMN_TYPES[self.type]

    @property
    def bounds(self) -> tuple[float | None, float | None]:
        """The smallest and largest value a cell may hold (None: no bound): the contract's,
        and for whole numbers also what the warehouse holds (WHOLE_RANGE)."""
        low, high = self.minimum, self.maximum
        if self.column_type.kind == "whole":
            low = WHOLE_RANGE[0] if low is None else max(low, WHOLE_RANGE[0])
            high = WHOLE_RANGE[1] if high is None else min(high, WHOLE_RANGE[1])
        return low, high

    @property
    def label(self) -> str:
        return f"{self.header} ({self.name})"

    @cached_property
    def header_keys(self) -> frozenset[str]:
        return frozenset(
            {header_key(self.header), header_key(self.name), *map(header_key, self.aliases)}
        )


@dataclass(frozen=True)
class Reference:
    """A code column checked against a reference table in ``sources/reference/`` (the plan
    items of a plan period): the row's code must be one in force in the submission's fiscal
    year, and the columns named in ``agree`` must match the item's (a goal that disagrees
    with its item's goal). Checked by the reader once the fiscal year is known."""

    table: str  # sources/reference/<table>.csv
    code: str  # the reference table's column holding the code
    valid_from: str  # the reference columns of the first and last fiscal year in force
    valid_to: str
    agree: tuple[tuple[str, str], ...] = ()  # (contract column, reference column)


@dataclass(frozen=True)
class Measure:
    """A figure of a file compared with the same submitter's previous period (``history:`` in
    a contract): the rows counted (``sum`` empty) or a column summed, and the band beyond
    which a change is a warning (both the share and the amount must be exceeded)."""

    name: str
    label_ja: str
    unit_ja: str
    label_en: str
    sum: tuple[str, ...] = ()  # the columns summed (a yes/no column: its yes); none: rows
    band_pct: float = 30.0
    band_min: float = 5.0


@dataclass(frozen=True)
class History:
    """How a file is compared with its own history: per fiscal year (its ``measures`` against
    the previous year's file that counts), or per month (``monthly``: each month's rows
    against the same month a year before and the median of the twelve months before it)."""

    measures: tuple[Measure, ...] = ()
    monthly_date: str | None = None  # the date column whose months are counted
    monthly: Measure | None = None


@dataclass(frozen=True)
class Contract:
    key: str
    label_ja: str
    label_en: str
    submitter_kind: str  # "ward" or "fixed"
    submitter_code: str | None
    submitter_name: str | None
    submitter_column: str | None
    fiscal_year_column: str | None
    fiscal_year_from_filename: bool
    fiscal_year_from_date: str | None
    identity: tuple[str, ...]
    unique_keys: tuple[tuple[str, ...], ...]
    columns: tuple[Column, ...]
    personal_headers: frozenset[str] = field(default_factory=frozenset)
    personal_patterns: tuple[str, ...] = ()
    history: History = field(default_factory=History)
    short_label_ja: str = ""  # in tables and reports (label_ja when empty)
    # A stage of the survey calendar a file answers only with one of these columns filled in
    # some row (the results of an action plan: an actual value or a self-rating).
    stage_filled: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def in_force(self, column: Column, fiscal_year: int) -> dict[str, dict[str, str]]:
        """A reference column's codes in force in ``fiscal_year``, each with its row."""
        ref = column.reference
        assert ref is not None
        return {
            row[ref.code]: row
            for row in reference_rows(ref.table)
            if int(row[ref.valid_from]) <= fiscal_year <= int(row[ref.valid_to])
        }

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def required(self) -> list[Column]:
        return [c for c in self.columns if c.required]

    @cached_property
    def _columns_by_header_key(self) -> dict[str, Column]:
        """Every header a column answers to, mapped to the first column that does."""
        by_key: dict[str, Column] = {}
        for column in self.columns:
            for key in column.header_keys:
                by_key.setdefault(key, column)
        return by_key

    def match_header(self, cell: Any) -> Column | None:
        key = header_key(cell)
        return self._columns_by_header_key.get(key) if key else None

    def is_personal(self, cell: Any) -> bool:
        """A personal-data header (氏名, 電話番号, ...): such a column is never read."""
        key = header_key(cell)
        if not key:
            return False
        return key in self.personal_headers or any(p in key for p in self.personal_patterns)


def _codes(raw: list[Any]) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """A code list: each entry a code, or ``{code: ◎, aliases: [A, 達成]}``."""
    codes: list[str] = []
    aliases: list[tuple[str, str]] = []
    for entry in raw:
        if isinstance(entry, dict):
            codes.append(str(entry["code"]))
            aliases += [(str(alias), str(entry["code"])) for alias in entry.get("aliases", ())]
        else:
            codes.append(str(entry))
    return tuple(codes), tuple(aliases)


def _reference(raw: dict[str, Any] | None) -> Reference | None:
    if not raw:
        return None
    return Reference(
        table=raw["table"],
        code=raw["code"],
        valid_from=raw["valid_from"],
        valid_to=raw["valid_to"],
        agree=tuple((str(k), str(v)) for k, v in (raw.get("agree") or {}).items()),
    )


@cache
def reference_rows(table: str) -> tuple[dict[str, str], ...]:
    """The rows of ``sources/reference/<table>.csv`` (also a dbt seed), as text."""
    path = REFERENCE_DIR / f"{table}.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return tuple(csv.DictReader(handle))


def _column(raw: dict[str, Any]) -> Column:
    if raw["type"] not in COLUMN_TYPES:
        raise ValueError(f"column {raw['name']}: unknown type {raw['type']!r}")
    codes, code_aliases = _codes(raw.get("codes", ()))
    reference = _reference(raw.get("reference"))
    if reference and not codes:  # every code of every period: read as a code list
        codes = tuple(dict.fromkeys(r[reference.code] for r in reference_rows(reference.table)))
    return Column(
        name=raw["name"],
        header=raw["header"],
        type=raw["type"],
        required=bool(raw.get("required", False)),
        codes=codes,
        code_aliases=code_aliases,
        extra_codes=tuple(raw.get("extra_codes", ())),
        minimum=raw.get("min", 0 if raw["type"] in ("count", "number") else None),
        maximum=raw.get("max"),
        aliases=tuple(raw.get("aliases", ())),
        key=bool(raw.get("key", False)),
        reference=reference,
    )


def parse_contract(raw: dict[str, Any]) -> Contract:
    submitter = raw["submitter"]
    fiscal = raw.get("fiscal_year", {})
    personal = raw.get("personal_data", {})
    columns = tuple(_column(c) for c in raw["columns"])
    names = {c.name for c in columns}
    for key in raw.get("unique_keys", []):
        if missing := set(key) - names:
            raise ValueError(f"{raw['key']}: unique key names unknown columns {sorted(missing)}")
    for column in columns:
        if column.reference and (unknown := {c for c, _ in column.reference.agree} - names):
            raise ValueError(f"{raw['key']}.{column.name}: agree names {sorted(unknown)}")
    return Contract(
        key=raw["key"],
        label_ja=raw["label_ja"],
        label_en=raw["label_en"],
        submitter_kind=submitter["kind"],
        submitter_code=submitter.get("code"),
        submitter_name=submitter.get("name"),
        submitter_column=submitter.get("column"),
        fiscal_year_column=fiscal.get("column"),
        fiscal_year_from_filename=bool(fiscal.get("from_filename", False)),
        fiscal_year_from_date=fiscal.get("from_date"),
        identity=tuple(raw["identity"]),
        unique_keys=tuple(tuple(k) for k in raw.get("unique_keys", [])),
        columns=columns,
        personal_headers=frozenset(header_key(h) for h in personal.get("headers", [])),
        personal_patterns=tuple(header_key(p) for p in personal.get("header_patterns", [])),
        history=_history(raw.get("history") or {}, names),
        short_label_ja=raw.get("short_label_ja") or raw["label_ja"],
        stage_filled=_stages(raw.get("stages") or {}, names),
    )


def _stages(raw: dict[str, Any], names: set[str]) -> dict[str, tuple[str, ...]]:
    stages = {stage: tuple(spec.get("filled", ())) for stage, spec in raw.items()}
    for stage, filled in stages.items():
        if unknown := set(filled) - names:
            raise ValueError(f"stage {stage}: unknown columns {sorted(unknown)}")
    return stages


def _history(raw: dict[str, Any], names: set[str]) -> History:
    def measure(m: dict[str, Any]) -> Measure:
        summed = m.get("sum") or ()
        summed = (summed,) if isinstance(summed, str) else tuple(summed)
        if unknown := set(summed) - names:
            raise ValueError(f"history measure {m['name']}: unknown columns {sorted(unknown)}")
        return Measure(**{**m, "sum": summed})

    measures = tuple(measure(m) for m in raw.get("measures", []))
    monthly = raw.get("monthly")
    if monthly and monthly["date"] not in names:
        raise ValueError(f"history: unknown date column {monthly['date']}")
    return History(
        measures=measures,
        monthly_date=monthly["date"] if monthly else None,
        monthly=measure(monthly["measure"]) if monthly else None,
    )


@cache
def load_contract(source: str) -> Contract:
    path = CONTRACTS_DIR / f"{source}.yml"
    if not path.exists():
        raise KeyError(f"no contract for source {source!r} (expected {path})")
    return parse_contract(yaml.safe_load(path.read_text(encoding="utf-8")))


def _source_keys() -> tuple[str, ...]:
    """Every contract in ``sources/`` (a YAML file there with ``columns``), in the order its
    ``order`` gives: adding a source is adding its contract, not editing a list."""
    found: list[tuple[int, str]] = []
    for path in CONTRACTS_DIR.glob("*.yml"):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if isinstance(raw, dict) and "columns" in raw and raw.get("key") == path.stem:
            found.append((int(raw.get("order", 100)), path.stem))
    return tuple(key for _order, key in sorted(found))


SOURCE_KEYS = _source_keys()


def all_contracts() -> list[Contract]:
    return [load_contract(key) for key in SOURCE_KEYS]


def row_dated_sources() -> frozenset[str]:
    """The sources whose rows each carry their own fiscal year (from a date), in files that
    overlap (consultation exports): a file gives figures for several years, row by row."""
    return frozenset(c.key for c in all_contracts() if c.fiscal_year_from_date)
