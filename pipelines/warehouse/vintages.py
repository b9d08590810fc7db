"""Vintages: named copies of the published warehouse, kept for good, and closing a fiscal year.

A vintage is ``archive/vintages/<name>/``: every published table as Parquet
(``marts/<table>.parquet``, ``audit/<table>.parquet``, rows in a fixed order), the same tables
in a DuckDB file analysts can ``ATTACH`` (``warehouse.duckdb``, readable by DuckDB 1.0 and
later), and ``manifest.json`` — who kept it, when, why, the published version it copies, each
table's rows and SHA-256, and the files that counted. It lives in the archive, so it is backed
up with the originals, never rotated away and untouched by ``welfare rebuild-lake``; a record
(``vintages``) lists it in ``audit.vintages``.

Closing a fiscal year (:func:`close_year`) keeps a vintage of the figures as published and
records the files that made them (pipelines.ingest.closing). From then on, before anything is
published, each closed year's rows in the figure marts (``meta.closed_year_figures``) must
equal those of its closing vintage (:func:`closed_year_changes`): a change of models or
reference data that would move them stops publishing instead.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from pipelines.foundation.atomic import write_text
from pipelines.foundation.clock import utc_now
from pipelines.foundation.hashing import sha256_of
from pipelines.foundation.settings import Settings
from pipelines.ingest.archive import keep_record
from pipelines.ingest.closing import (
    REOPENED,
    Closing,
    ClosingError,
    check_fiscal_year,
    closed_years,
    closing_events,
    decision_lock,
    fiscal_year_bounds,
    locked_years,
    record_closing,
    years_of,
)
from pipelines.ingest.lake import Lake
from pipelines.ingest.lake_tables import VINTAGE_SCHEMA, VINTAGES
from pipelines.ingest.release import releases
from pipelines.ingest.review import RETURNED, reviews
from pipelines.intake.receiving import waiting_files
from pipelines.warehouse.build_plan import whole_build_reason
from pipelines.warehouse.dbt import manifest_of
from pipelines.warehouse.duckdb_publish import STORAGE_VERSION
from pipelines.warehouse.engine import open_built, open_previous, open_published, rollback
from pipelines.warehouse.publication import PUBLISHED_SCHEMAS

MANIFEST = "manifest.json"
DATABASE = "warehouse.duckdb"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
FIGURES_META = "closed_year_figures"
COUNTED_COLUMNS = ("sha256", "source", "file_name", "submitter_code", "fiscal_year")


class VintageError(ValueError):
    """A vintage cannot be made or read (the message says why and what to do)."""


@dataclass(frozen=True)
class Vintage:
    name: str
    path: Path
    manifest: dict

    @property
    def tables(self) -> list[str]:
        return [table["table"] for table in self.manifest["tables"]]

    def parquet(self, table: str) -> Path:
        schema, name = table.split(".")
        return self.path / schema / f"{name}.parquet"


def vintages_dir(settings: Settings) -> Path:
    return settings.archive / "vintages"


def _check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise VintageError(
            "版の名前は英数字と . _ - で64文字まで（例: FY2024-annual-report）。 / A vintage's "
            "name is letters, digits, '.', '_' and '-', at most 64 (e.g. FY2024-annual-report)."
        )


def create_vintage(
    settings: Settings, name: str, by: str, note: str, fiscal_year: int | None = None
) -> Vintage:
    """Keep the published warehouse as vintage ``name`` (refused if the name is taken)."""
    _check_name(name)
    if not by.strip():
        raise VintageError("誰が作るかを書いてください。 / Say who keeps it (--by).")
    target = vintages_dir(settings) / name
    if target.exists():
        raise VintageError(
            f"「{name}」という版はすでにあります。別の名前にしてください。 / A vintage named "
            f"'{name}' exists: vintages are never replaced, choose another name."
        )
    partial = target.with_name(f".{name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    created = utc_now()
    try:
        with open_published(settings) as connection:
            tables = _published_tables(connection)
            entries = [_write_table(connection, table, partial) for table in tables]
            publishes = connection.execute(
                "select version, published_at from audit.publishes "
                "order by published_at desc limit 1"
            ).fetchone()
            counted = connection.execute(
                "select sha256, source, file_name, submitter_code, fiscal_year "
                "from audit.submissions where status = 'loaded' order by source, file_name, sha256"
            ).fetchall()
        _write_database(partial, tables)
        manifest = {
            "vintage": name,
            "created_at": created.isoformat(timespec="seconds"),
            "created_by": by.strip(),
            "note": note.strip(),
            "fiscal_year": fiscal_year,
            "warehouse_version": publishes[0] if publishes else None,
            "published_at": publishes[1].isoformat(timespec="seconds") if publishes else None,
            "engine": settings.engine.kind,
            "tables": entries,
            "files_counted": [dict(zip(COUNTED_COLUMNS, row, strict=True)) for row in counted],
        }
        write_text(partial / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    row = {
        "name": name,
        "created_at": created,
        "created_by": by.strip(),
        "note": note.strip(),
        "fiscal_year": fiscal_year,
        "warehouse_version": manifest["warehouse_version"],
        "manifest_sha256": sha256_of(target / MANIFEST),
    }
    keep_record(
        settings.archive,
        settings.lake,
        VINTAGES,
        name,
        pa.table({k: [v] for k, v in row.items()}, schema=VINTAGE_SCHEMA),
    )
    return Vintage(name, target, manifest)


def _published_tables(connection: duckdb.DuckDBPyConnection) -> list[str]:
    rows = connection.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ? and table_type = 'BASE TABLE' order by 1, 2",
        [list(PUBLISHED_SCHEMAS)],
    ).fetchall()
    return [f"{schema}.{name}" for schema, name in rows]


def _write_table(connection: duckdb.DuckDBPyConnection, table: str, folder: Path) -> dict:
    schema, name = table.split(".")
    path = folder / schema / f"{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    quoted = f'"{schema}"."{name}"'
    connection.execute(f"copy (select * from {quoted} order by all) to '{path}' (format parquet)")
    rows = connection.execute(f"select count(*) from {quoted}").fetchone()[0]
    return {
        "table": table,
        "path": f"{schema}/{name}.parquet",
        "rows": rows,
        "sha256": sha256_of(path),
    }


def _write_database(folder: Path, tables: list[str]) -> None:
    """The vintage's tables as one DuckDB file, for `ATTACH ... (READ_ONLY)`."""
    with duckdb.connect() as out:
        out.execute(f"attach '{folder / DATABASE}' as v (storage_version '{STORAGE_VERSION}')")
        for table in tables:
            schema, name = table.split(".")
            out.execute(f'create schema if not exists v."{schema}"')
            out.execute(
                f'create table v."{schema}"."{name}" as select * from '
                f"read_parquet('{folder / schema / name}.parquet')"
            )
        out.execute("checkpoint v")
        out.execute("detach v")


def load_vintage(settings: Settings, name: str, verify: bool = True) -> Vintage:
    """A kept vintage; with ``verify``, every table's checksum is compared with the manifest."""
    _check_name(name)
    path = vintages_dir(settings) / name
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        known = ", ".join(v.name for v in list_vintages(settings)) or "none"
        raise VintageError(
            f"「{name}」という版はありません（あるもの: {known}）。 / No vintage named '{name}' "
            f"(kept: {known})."
        ) from error
    vintage = Vintage(name, path, manifest)
    if verify:
        for table in manifest["tables"]:
            if sha256_of(path / table["path"]) != table["sha256"]:
                raise VintageError(
                    f"版「{name}」の {table['table']} がマニフェストと一致しません"
                    "（バックアップから戻してください）。 / "
                    f"Vintage '{name}': {table['table']} does not match its manifest's "
                    "checksum: restore archive/vintages/ from the backup."
                )
    return vintage


def list_vintages(settings: Settings) -> list[Vintage]:
    """Every vintage kept, oldest first."""
    found = []
    for folder in sorted(vintages_dir(settings).glob("*/" + MANIFEST)):
        manifest = json.loads(folder.read_text(encoding="utf-8"))
        found.append(Vintage(folder.parent.name, folder.parent, manifest))
    return sorted(found, key=lambda v: (v.manifest["created_at"], v.name))


@contextmanager
def open_vintage(settings: Settings, name: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A vintage's tables under their published names (marts.*, audit.*) in an in-memory
    DuckDB database: what readers of the published warehouse read, as it was."""
    vintage = load_vintage(settings, name)
    with duckdb.connect() as connection:
        for table in vintage.tables:
            schema, _ = table.split(".")
            connection.execute(f'create schema if not exists "{schema}"')
            connection.execute(
                f"create view {table} as select * from read_parquet('{vintage.parquet(table)}')"
            )
        yield connection


# -- closing a fiscal year --------------------------------------------------------------------
def close_year(
    settings: Settings, fiscal_year: int, by: str, reason: str
) -> tuple[Closing, Vintage]:
    """Close ``fiscal_year``: its figures as published now become final. Refused while the
    published warehouse is behind what was received (run first), while an earlier year with
    figures is open (years close in order: a year's figures compare with the year before), or
    when the year has no figures."""
    with decision_lock(settings):
        return _close_year(settings, fiscal_year, by, reason)


def _close_year(
    settings: Settings, fiscal_year: int, by: str, reason: str
) -> tuple[Closing, Vintage]:
    check_fiscal_year(fiscal_year)
    if not by.strip() or not reason.strip():
        raise ClosingError(
            "誰が、なぜ確定するかを記録します。名前と理由を書いてください。 / Closing records who "
            "and why: give both."
        )
    lake = Lake(settings.lake)
    closed = closed_years(lake)
    if fiscal_year in closed:
        raise ClosingError(
            f"{fiscal_year}年度はすでに確定済みです（{closed[fiscal_year].acted_by}）。 / "
            f"FY{fiscal_year} is already closed."
        )
    _require_up_to_date(settings)
    with open_published(settings, ["audit.submissions"]) as connection:
        counted = connection.execute(
            "select sha256, source, fiscal_year, period_start, period_end "
            "from audit.submissions where status = 'loaded'"
        ).fetchall()
    files, earlier_years = _counted_for(counted, fiscal_year)
    if not files:
        raise ClosingError(
            f"{fiscal_year}年度の数値はまだ公開されていません。 / FY{fiscal_year} has no "
            "published figures to close."
        )
    still_open = sorted(year for year in earlier_years if year not in closed)
    if still_open:
        raise ClosingError(
            f"先に{', '.join(map(str, still_open))}年度を確定してください（年度は古い順に確定しま"
            f"す。前年度比が変わらないように）。 / Close FY{', FY'.join(map(str, still_open))} "
            "first: years close in order, so that a closed year's change on the year before "
            "never moves."
        )
    name = _free_name(settings, f"FY{fiscal_year}-closed-{utc_now():%Y%m%d}")
    vintage = create_vintage(
        settings, name, by, f"{fiscal_year}年度の確定: {reason.strip()}", fiscal_year
    )
    return record_closing(settings, fiscal_year, by, reason, name, files), vintage


def _counted_for(counted: list[tuple], fiscal_year: int) -> tuple[set[str], set[int]]:
    """Of the published files that count (sha256, source, fiscal year, period): those giving
    figures for ``fiscal_year``, and the earlier years the others give figures for."""
    start, end = fiscal_year_bounds(fiscal_year)
    files, earlier_years = set(), set()
    for sha256, source, year, period_start, period_end in counted:
        if source == "consultations" and period_start and period_end:
            if period_start <= end and period_end >= start:
                files.add(sha256)
            if period_start < start:
                earlier_years.add(period_start.year - (period_start.month < 4))
        elif year is not None:
            if year == fiscal_year:
                files.add(sha256)
            elif year < fiscal_year:
                earlier_years.add(year)
    return files, earlier_years


def _free_name(settings: Settings, name: str) -> str:
    candidate, n = name, 1
    while (vintages_dir(settings) / candidate).exists():
        n += 1
        candidate = f"{name}-{n}"
    return candidate


def _require_up_to_date(settings: Settings) -> None:
    """What is published is everything received and decided: nothing waits in landing/, every
    file, release, review and reopening in the lake is in the published warehouse, and the
    models are those it was built with. (A closing or a vintage kept since does not matter:
    neither changes a figure; a reopening does: the files that came after the closing count
    again.)"""
    lake = Lake(settings.lake)
    waiting = sum(len(files) for files in waiting_files(settings, lake).values())
    behind = waiting > 0 or whole_build_reason(settings) is not None
    if not behind:
        tables = ["audit.submissions", "audit.reviews", "audit.year_closings"]
        with open_published(settings, tables) as connection:
            published_entries = {
                r[0]
                for r in connection.execute("select entry_id from audit.submissions").fetchall()
            }
            published_releases = _released_in(connection)
            published_reviews = {
                r[0] for r in connection.execute("select review_id from audit.reviews").fetchall()
            }
            published_events = {
                r[0]
                for r in connection.execute("select closing_id from audit.year_closings").fetchall()
            }
        behind = (
            not set(lake.ledger()["entry_id"]) <= published_entries
            or not set(releases(lake)["sha256"]) <= published_releases
            or not set(reviews(lake)["review_id"]) <= published_reviews
            or not _reopenings(lake) <= published_events
        )
    if behind:
        raise ClosingError(
            "公開中の数値が最新ではありません（未処理のファイルや記録があります）。先に welfare "
            "run を実行してください。 / The published warehouse is behind what was received or "
            "decided: run `welfare run` first, then close the year."
        )


def _released_in(connection: duckdb.DuckDBPyConnection, counting: bool = False) -> set[str]:
    """The files the published warehouse has a release of (``counting``: those that count)."""
    sql = "select sha256 from audit.submissions where released_at is not null"
    counts = " and status = 'loaded'" if counting else ""
    return {row[0] for row in connection.execute(sql + counts).fetchall()}


def _reopenings(lake: Lake) -> set[str]:
    events = closing_events(lake)
    return set(events.loc[events["action"] == REOPENED, "closing_id"])


def amended_years(settings: Settings) -> dict[int, list[dict]]:
    """Closed years for which the council released (accepted) a file since the closing in
    force: the releases, by year. Their figures change with the next publish, which keeps them
    as the year's closed figures (:func:`keep_amended_years`)."""
    lake = Lake(settings.lake)
    closed = closed_years(lake)
    if not closed:
        return {}
    ledger = lake.ledger().drop_duplicates("sha256", keep="last").set_index("sha256")
    latest = reviews(lake).drop_duplicates("sha256", keep="last")
    returned = set(latest.loc[latest["decision"] == RETURNED, "sha256"])
    found: dict[int, list[dict]] = {}
    for release in releases(lake).to_dict("records"):
        # a released file returned since counts for nothing: its year stays guarded as closed
        if release["sha256"] not in ledger.index or release["sha256"] in returned:
            continue
        entry = ledger.loc[release["sha256"]].to_dict() | {"sha256": release["sha256"]}
        for year in years_of(entry):
            if year in closed and release["released_at"] > closed[year].acted_at:
                found.setdefault(year, []).append(release)
    return found


def keep_amended_years(settings: Settings) -> list[Closing]:
    """After a publish: each closed year amended by a release is closed again on the figures
    just published (a new vintage; the files counting now), recorded as done by whoever
    released the file. The vintage of the first closing stays: the figures as printed."""
    with decision_lock(settings):
        return _keep_amended_years(settings)


def _keep_amended_years(settings: Settings) -> list[Closing]:
    amended = amended_years(settings)
    if not amended:
        return []
    with open_published(settings, ["audit.submissions"]) as connection:
        counted = connection.execute(
            "select sha256, source, fiscal_year, period_start, period_end "
            "from audit.submissions where status = 'loaded'"
        ).fetchall()
        published_releases = _released_in(connection, counting=True)
    done = []
    for year, releasing in sorted(amended.items()):
        # Only releases the published figures include: one recorded while the run was
        # building is for the next run (closing the year on figures without it would
        # freeze them wrong), and a released file since returned counts for nothing.
        released = [r for r in releasing if r["sha256"] in published_releases]
        if not released:
            continue
        files = _counted_for(counted, year)[0] - _still_late(settings, year, published_releases)
        names = ", ".join(r["file_name"] for r in released)
        by = released[-1]["released_by"]
        reason = f"確定後に受け入れたファイル {names}（{released[-1]['reason']}）"
        name = _free_name(settings, f"FY{year}-amended-{utc_now():%Y%m%d}")
        create_vintage(settings, name, by, f"{year}年度の数値の修正: {reason}", year)
        done.append(record_closing(settings, year, by, reason, name, files))
    return done


def _still_late(settings: Settings, year: int, released: set[str]) -> set[str]:
    """The files that came too late for closed ``year`` and were not released (a consultation
    export counting for other months, its rows of the year held back): closing the year again
    must not freeze them into its figures."""
    lake = Lake(settings.lake)
    ledger = lake.ledger().drop_duplicates("sha256", keep="last")
    since = pd.Timestamp(closed_years(lake)[year].late_after)
    after = ledger[pd.to_datetime(ledger["received_at"], utc=True) > since]  # the few to ask
    return {
        entry["sha256"]
        for entry in after.to_dict("records")
        if entry["sha256"] not in released and year in locked_years(lake, entry)
    }


def figure_marts(settings: Settings) -> list[str]:
    """The marts whose closed years' rows must never move (``meta.closed_year_figures``)."""
    manifest = json.loads(manifest_of(settings).read_text(encoding="utf-8"))
    return sorted(
        f"marts.{node['name']}"
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and (node.get("config") or {}).get("meta", {}).get(FIGURES_META)
    )


def closed_year_changes(settings: Settings) -> list[str]:
    """What this run built that differs from a closed year's closing vintage, one line per
    mart and year (empty: every closed year's figures stand as closed)."""
    return _changes_from_closings(settings, open_built, skip_amended=True)


def rollback_keeping_closed_years(settings: Settings) -> str:
    """Put the previous published version back (engine.rollback), unless its figures of a
    closed year differ from that year's closing (it was published before the figures the
    year closed on): refused, saying which. Returns the stamp of the version restored."""
    if changes := _changes_from_closings(settings, open_previous, skip_amended=False):
        raise RuntimeError(
            "前の版は確定済みの年度の数値が確定時と異なるため、戻しませんでした（公開中の版は"
            "そのまま）。 / Not rolled back: the previous version's figures of a closed year "
            "differ from its closing (the published warehouse stays as it was).\n"
            + "\n".join(changes)
        )
    return rollback(settings)


def _changes_from_closings(settings: Settings, opener, skip_amended: bool) -> list[str]:
    """One line per mart and closed year where the database ``opener`` gives differs from
    the year's closing vintage. ``skip_amended``: leave out years a file was accepted for
    since their closing (the run's figures become theirs)."""
    closed = closed_years(Lake(settings.lake))
    if not closed:
        return []
    marts = figure_marts(settings)
    amended = amended_years(settings) if skip_amended else set()
    changes = []
    with opener(settings, marts) as connection:
        for year, closing in sorted(closed.items()):
            if year in amended:
                continue
            vintage = load_vintage(settings, closing.vintage)
            for mart in marts:
                if mart not in vintage.tables:
                    continue
                differing = _differing_rows(connection, mart, vintage.parquet(mart), year)
                if differing:
                    changes.append(
                        f"{mart}: {year}年度の{differing}行が確定時（版 {vintage.name}）と"
                        f"異なります / {differing} row(s) of FY{year} differ from its closing "
                        "vintage"
                    )
    return changes


def _differing_rows(
    connection: duckdb.DuckDBPyConnection, mart: str, frozen: Path, year: int
) -> int:
    built_columns = [c[0] for c in connection.execute(f"describe {mart}").fetchall()]
    frozen_columns = [
        c[0]
        for c in connection.execute(f"describe select * from read_parquet('{frozen}')").fetchall()
    ]
    columns = ", ".join(f'"{c}"' for c in built_columns if c in frozen_columns)
    return connection.execute(
        f"""
        select count(*) from (
            (select {columns} from {mart} where fiscal_year = $year
             except all
             select {columns} from read_parquet('{frozen}') where fiscal_year = $year)
            union all
            (select {columns} from read_parquet('{frozen}') where fiscal_year = $year
             except all
             select {columns} from {mart} where fiscal_year = $year)
        )
        """,
        {"year": year},
    ).fetchone()[0]
