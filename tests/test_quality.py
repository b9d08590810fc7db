"""great-expectations suites on every load: errors block publishing, warnings are recorded."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.quality.suites import load_suites
from pipelines.runner import run_pipeline
from pipelines.settings import Settings
from pipelines.workspace import prepare
from tests.conftest import copy_sample, write_csv

pytestmark = pytest.mark.slow


def test_every_suite_is_a_reviewed_file_with_severities():
    suites = load_suites()
    assert {
        "ibasho_survey",
        "facility_initiatives",
        "consultations",
        "plan_indicators",
        "place_counts_by_ward",
        "consultation_months",
        "submission_completeness",
    } <= set(suites)
    severities = {e["meta"]["severity"] for s in suites.values() for e in s.expectations}
    assert severities == {"error", "warning"}


def test_the_sample_shows_a_warning_which_is_kept_in_audit_dq_results(sample_run):
    settings, summary = sample_run
    assert summary.success and summary.published
    [warning] = summary.checks_warned
    assert "gx_ibasho_survey" in warning and "令和6年度_北区_居場所.csv" in warning
    with duckdb.connect(str(settings.warehouse), read_only=True) as db:
        rows = db.execute(
            """
            select suite, column_name, severity, unexpected_count, files
            from audit.dq_results where not success and run_id = ?""",
            [summary.run_id],
        ).fetchall()
    assert rows == [
        ("ibasho_survey", "participants_per_session", "warning", 1, "令和6年度_北区_居場所.csv")
    ]
    docs = settings.reports / "data_docs" / "ibasho_survey"
    assert "ibasho_survey" in (docs / "index.html").read_text(encoding="utf-8")
    assert list((docs / "validations").rglob("*.html"))


def test_an_error_blocks_the_marts_and_leaves_the_published_warehouse_byte_for_byte(tmp_path):
    settings = prepare(Settings(tmp_path / "home"))
    copy_sample(settings, "ibasho_survey", "令和6年度_北区_居場所.csv")
    assert run_pipeline(settings).success
    published = settings.warehouse.read_bytes()
    header = "年度,区名,地域名,活動ID,活動名称,活動種別,年間開催回数,延べ参加者数"
    rows = [f"R6,中央区,森之宮地域,C-{n},サロン{n},高齢者サロン,12,240" for n in range(5)]
    rows.append("R6,中央区,森之宮地域,C-9,毎日サロン,高齢者サロン,500,9000")  # > 366 a year
    write_csv(settings.landing_for("ibasho_survey") / "R6_中央区_居場所.csv", [header, *rows])
    summary = run_pipeline(settings)
    assert not summary.success and not summary.published
    [failure] = summary.checks_failed
    assert "gx_ibasho_survey" in failure and "R6_中央区_居場所.csv" in failure
    assert "年間開催回数は366回以下" in failure
    assert settings.warehouse.read_bytes() == published
    with duckdb.connect(str(settings.warehouse), read_only=True) as db:
        wards = db.execute("select distinct ward_name from marts.place_counts").fetchall()
    assert wards == [("北区",)]
