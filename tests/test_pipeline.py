"""The shipped sample through the whole pipeline: real Dagster, real dbt, real DuckDB."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipelines.defs.runner import run_pipeline
from pipelines.foundation.settings import SAMPLE_DIR
from tests.conftest import SEED

pytestmark = pytest.mark.slow


def query(settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as db:
        return db.execute(sql).fetchall()


def test_the_run_succeeds_and_publishes(sample_run):
    settings, summary = sample_run
    assert summary.success, summary.failed_steps
    assert summary.published and settings.warehouse.exists()
    assert summary.checks_passed > 50 and not summary.checks_failed


def test_the_seed_figures_are_reproduced(sample_run):
    settings, _ = sample_run
    places = dict(
        query(settings, "select fiscal_year, sum(places) from marts.place_counts group by 1")
    )
    assert places == SEED.places
    assert query(
        settings,
        "select sum(facilities_with_initiatives) from "
        "marts.public_interest_facilities where fiscal_year = 2024",
    ) == [(SEED.facilities_with_initiatives_2024,)]
    assert query(
        settings,
        "select sum(consultations) from marts.consultation_volumes where fiscal_year = 2024",
    ) == [(SEED.consultations_2024,)]


def test_every_file_is_accounted_for(sample_run):
    settings, _ = sample_run
    landed = sum(1 for p in SAMPLE_DIR.glob("*/*") if p.is_file())
    statuses = dict(query(settings, "select status, count(*) from audit.submissions group by 1"))
    assert sum(statuses.values()) == landed
    # 阿倍野区's first FY2023 place survey, and five wards' FY2024 spring action plans (the
    # same file with results replaced them)
    assert statuses["rejected"] == 1 and statuses["superseded"] == 6
    unbalanced = query(
        settings,
        """
        select file_name from audit.submissions
        where rows_read <> rows_loaded + rows_quarantined + rows_skipped + rows_rejected""",
    )
    assert unbalanced == []
    originals = [p for p in settings.archive.iterdir() if p.is_file()]
    assert len(originals) == landed
    # Each received file has its receipt: the archive alone can give the lake again.
    assert len(list((settings.archive / "receipts").glob("*.json"))) == landed


def test_quarantined_cells_are_queryable_with_file_row_column_value_rule(sample_run):
    settings, _ = sample_run
    rows = query(
        settings,
        """
        select file_name, row_number, header, cell_value, rule from audit.quarantined_rows
        where source = 'consultations' order by row_number""",
    )
    assert ("consultations_2024-09.csv", 5, "受付日", "R6.9.31", "invalid_date") in rows
    assert any(r[4] == "not_in_code_list" and r[3] == "FAX" for r in rows)


def test_the_resubmission_supersedes_the_first_file(sample_run):
    settings, _ = sample_run
    rows = query(
        settings,
        """
        select file_name, status from audit.submissions
        where submitter_name = '阿倍野区' and fiscal_year = 2023 order by file_name""",
    )
    assert rows == [
        ("R5_阿倍野区_居場所活動調査.xlsx", "superseded"),
        ("R5_阿倍野区_居場所活動調査_再提出.xlsx", "loaded"),
    ]


def test_submission_status_shows_who_sent_what(sample_run):
    settings, _ = sample_run
    wards = query(
        settings,
        "select status, count(*) from marts.submission_status where "
        "source = 'ibasho_survey' and fiscal_year = 2024 group by 1",
    )
    assert wards == [("received", 24)]
    # Consultations from the first fiscal year the warehouse holds for them, month by month.
    assert query(
        settings,
        "select fiscal_year, status, count(*) from marts.submission_status where source = "
        "'consultations' group by all order by all",
    ) == [(2023, "received", 12), (2024, "received", 12), (2025, "missing", 12)]


def test_every_mart_is_also_published_as_parquet(sample_run):
    settings, _ = sample_run
    table = pq.read_table(settings.published / "marts" / "place_counts.parquet").to_pandas()
    assert table.groupby("fiscal_year")["places"].sum().to_dict() == SEED.places


def test_dbt_tests_are_recorded_as_asset_checks_in_the_dagster_instance(sample_run):
    import dagster as dg

    settings, summary = sample_run
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    run = instance.get_run_by_id(summary.run_id)
    assert run is not None and run.is_success
    records = instance.get_records_for_run(
        summary.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    checks = {
        r.event_log_entry.dagster_event.event_specific_data.asset_check_key.name for r in records
    }
    assert any(name.startswith("unique_combination") for name in checks)
    assert any("reconcile" in name for name in checks)


def _texts(value) -> Iterator[str]:
    """A value as the texts it holds: lists, structs and maps item by item (their printed
    form escapes a full-width space), bytes decoded as the raw files are."""
    if isinstance(value, bytes):
        yield value.decode("utf-8", "ignore")
        yield value.decode("cp932", "ignore")
    elif isinstance(value, dict):
        for item in value.items():
            yield from _texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)
    elif value is not None:
        yield str(value)


def _values(table) -> str:
    """Every value of an Arrow table as text, one a line (formatting a table for display
    instead cost seconds over the home's few hundred Parquet files)."""
    return "\n".join(
        text for column in table.columns for value in column.to_pylist() for text in _texts(value)
    )


def _strings_in(path) -> str:
    """Everything a file holds, decompressed: Parquet and DuckDB values (a view holds none: it
    reads the lake's Parquet files), other files' bytes."""
    if path.suffix == ".parquet":
        return _values(pq.read_table(path))
    if path.suffix == ".duckdb":
        out = []
        with duckdb.connect(str(path), read_only=True) as db:
            for schema, name in db.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_type = 'BASE TABLE'"
            ).fetchall():
                out.append(_values(db.sql(f'select * from "{schema}"."{name}"').to_arrow_table()))
        return "\n".join(out)
    data = path.read_bytes()
    return data.decode("utf-8", "ignore") + data.decode("cp932", "ignore")


def test_personal_data_exists_only_in_the_archived_originals(sample_run):
    settings, _ = sample_run
    secrets = set()
    for export in (SAMPLE_DIR / "consultations").iterdir():
        frame = (
            pd.read_excel(export, sheet_name="データ", header=2)
            if export.suffix == ".xlsx"
            else pd.read_csv(
                export,
                encoding="cp932"
                if "2023" in export.name or export.name.endswith(("05.csv", "09.csv", "01.csv"))
                else "utf-8",
                dtype=str,
            )
        )
        for column in ("相談者氏名", "電話番号", "メールアドレス"):
            secrets.update(v for v in frame[column].dropna().astype(str) if len(v) >= 5)
    assert len(secrets) > 500
    import ahocorasick_rs  # every secret in one pass over each file (500 `in` scans took minutes)

    finder = ahocorasick_rs.AhoCorasick(sorted(secrets))
    leaks = []
    for path in settings.home.rglob("*"):
        if (
            not path.is_file()
            or settings.archive in path.parents
            or settings.landing in path.parents
            or path.suffix in (".db", ".sqlite")
        ):
            continue
        leaks += [(path.name, s) for s in finder.find_matches_as_strings(_strings_in(path))]
    assert leaks == []


def test_a_second_run_without_new_files_changes_nothing_and_costs_nothing(published_home):
    import dagster as dg

    from pipelines.defs.build import build_definitions
    from pipelines.defs.summary import format_summary

    settings = published_home
    before = settings.warehouse.read_bytes()
    ledger_before = len(list((settings.lake / "submissions").iterdir()))
    # A file put one folder too high, and one in a folder of its own: nothing reads them, and
    # the summary says where they must go.
    (settings.landing / "R6_北区_居場所.csv").write_bytes(b"x")
    (settings.landing / "misc").mkdir()
    (settings.landing / "misc" / "plan.xlsx").write_bytes(b"x")
    summary = run_pipeline(settings)
    assert summary.success and summary.skipped and summary.files.empty
    told = format_summary(summary, settings)
    assert "NOTHING NEW" in told
    assert "Not read: 2 file(s)" in told and "R6_北区_居場所.csv, misc/plan.xlsx" in told
    assert "FY2024 2,182" in format_summary(summary, settings)
    assert settings.warehouse.read_bytes() == before
    assert len(list((settings.lake / "submissions").iterdir())) == ledger_before
    # The nightly schedule records why it skipped; --force runs the job, which publishes nothing.
    defs = build_definitions(settings)
    schedule = defs.resolve_schedule_def("nightly_warehouse")
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(
            instance=instance, resources={"welfare": defs.resources["welfare"]}
        ) as context,
    ):
        tick = schedule.evaluate_tick(context)
    assert tick.run_requests == [] and "nothing new" in tick.skip_message
    # Publishing the same inputs again (what a forced run would do) replaces nothing.
    from pipelines.warehouse.engine import publish
    from pipelines.warehouse.fingerprints import inputs_fingerprint

    assert publish(settings, inputs_fingerprint(settings)).unchanged
    assert settings.warehouse.read_bytes() == before
