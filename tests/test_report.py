"""The annual overview (issue 8): built after each publish, self-contained, equal to the marts,
and rendered for real in headless Chromium (Debian's package, installed by `make test`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest

from pipelines.reporting.charts import CHARTS
from pipelines.reporting.overview import REPORT_NAME, report_version
from tests.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, SEED, welfare_cli

pytestmark = pytest.mark.slow


def _embedded_figures(page: str) -> dict:
    match = re.search(
        r'<script type="application/json" id="overview-figures">(.*?)</script>', page, re.S
    )
    assert match, "the report embeds its figures"
    return json.loads(match.group(1).replace("<\\/", "</"))


def _marts(settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_report_is_built_after_publish_and_named_in_the_summary(sample_run):
    settings, summary = sample_run
    assert summary.success
    assert summary.report == settings.reports / REPORT_NAME
    assert summary.report.exists()
    version = _marts(
        settings, "select version from audit.publishes order by published_at desc limit 1"
    )[0][0]
    assert report_version(summary.report) == version  # says which published version it shows


def test_report_is_self_contained(sample_run):
    settings, _ = sample_run
    page = (settings.reports / REPORT_NAME).read_text(encoding="utf-8")
    assert '<html lang="ja">' in page and '<meta charset="utf-8">' in page
    assert "<link" not in page and " src=" not in page  # nothing is fetched to view it
    assert not re.search(r"""(href|url)\(?=?["']?https?://""", page)
    for name in CHARTS:
        assert f'data-chart="{name}"' in page
    # chart text is drawn as outlines: no font is needed on the viewer's machine (no tofu)
    assert "<text" not in page
    assert "welfare-warehouse 公開版" in page  # says where it came from


def test_report_figures_equal_the_marts(sample_run):
    settings, _ = sample_run
    page = (settings.reports / REPORT_NAME).read_text(encoding="utf-8")
    figures = _embedded_figures(page)

    by_year = _marts(
        settings,
        "select fiscal_year, sum(places) from marts.place_counts group by 1 order by 1",
    )
    assert [(r["fiscal_year"], r["places"]) for r in figures["places_by_year"]] == by_year
    assert dict(by_year) == SEED.places  # the seed's published figures
    assert figures["latest_year"] == 2024
    assert 'data-figure="places_latest">2,182 か所' in page

    wards = _marts(
        settings,
        "select ward_name, places from marts.place_counts_by_ward where fiscal_year = 2024",
    )
    assert sorted((r["ward_name"], r["places"]) for r in figures["places_by_ward"]) == sorted(wards)
    assert len(wards) == 24

    mix = _marts(
        settings,
        "select fiscal_year, activity_type, sum(places) from marts.place_counts group by all",
    )
    assert sorted(
        (r["fiscal_year"], r["activity_type"], r["places"]) for r in figures["activity_mix"]
    ) == sorted(mix)

    activities = _marts(
        settings,
        "select field, category, facilities from marts.public_interest_activities "
        "where fiscal_year = 2024",
    )
    assert sorted(
        (r["field"], r["category"], r["facilities"])
        for r in figures["activities_by_field_category"]
    ) == sorted(activities)
    facilities = _marts(
        settings,
        "select sum(facilities_with_initiatives) from marts.public_interest_facilities "
        "where fiscal_year = 2024",
    )[0][0]
    assert facilities == SEED.facilities_with_initiatives_2024
    assert f'data-figure="facilities_latest">{facilities:,} 施設' in page

    volumes = _marts(
        settings,
        "select strftime(month, '%Y-%m-%d'), topic, sum(consultations) "
        "from marts.consultation_volumes group by all",
    )
    assert sorted(
        (r["month"], r["topic"], r["consultations"])
        for r in figures["consultations_by_month_topic"]
    ) == sorted(volumes)
    consultations_2024 = _marts(
        settings,
        "select sum(consultations) from marts.consultation_volumes where fiscal_year = 2024",
    )[0][0]
    assert consultations_2024 == SEED.consultations_2024
    assert f'data-figure="consultations_latest">{SEED.consultations_2024} 件' in page

    scorecard = _marts(
        settings, "select fiscal_year, indicator_code, status from marts.plan_scorecard"
    )
    assert sorted(
        (r["fiscal_year"], r["indicator_code"], r["status"]) for r in figures["scorecard"]
    ) == sorted(scorecard)
    mismatches = [row for row in scorecard if row[2] == "mismatch"]
    assert mismatches and page.count('<tr class="mismatch">') == len(mismatches)

    rejected = _marts(
        settings, "select file_name, reason from audit.submissions where status = 'rejected'"
    )
    assert rejected
    for file_name, reason in rejected:
        assert file_name in page and reason in page  # which file, and why


def test_a_chart_whose_rows_did_not_change_is_not_drawn_again(sample_run, tmp_path):
    """One more month of consultations redraws that chart alone; the others are the SVG
    drawn before, byte for byte what drawing them again gives."""
    from dataclasses import replace

    from pipelines.reporting.charts import render_charts
    from pipelines.reporting.figures import read_figures
    from pipelines.warehouse.engine import open_published, published_location

    settings, _ = sample_run
    with open_published(settings) as connection:
        figures = read_figures(connection, published_location(settings))
    cache = tmp_path / "charts"
    drawn = render_charts(figures, cache_dir=cache)
    assert set(drawn) == set(CHARTS) and len(list(cache.glob("*.svg"))) == len(CHARTS)
    first = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.svg")}
    assert render_charts(figures, cache_dir=cache) == drawn == render_charts(figures)
    assert {p.name: p.stat().st_mtime_ns for p in cache.glob("*.svg")} == first  # read, not drawn

    month = dict(figures.consultations_by_month_topic[-1], consultations=99)
    more = replace(
        figures, consultations_by_month_topic=[*figures.consultations_by_month_topic, month]
    )
    redrawn = render_charts(more, cache_dir=cache)
    assert redrawn["consultations_by_month_topic"] != drawn["consultations_by_month_topic"]
    assert {k: v for k, v in redrawn.items() if k != "consultations_by_month_topic"} == {
        k: v for k, v in drawn.items() if k != "consultations_by_month_topic"
    }
    now = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.svg")}
    assert len(now) == len(CHARTS) and len(set(now) - set(first)) == 1  # the old one left
    assert all(now[name] == first[name] for name in set(now) & set(first))


def test_welfare_report_rebuilds_on_demand(published_home):
    settings = published_home
    report = settings.reports / REPORT_NAME
    report.unlink()
    result = welfare_cli(settings.home, "report")
    assert result.returncode == 0, result.stderr
    assert str(report) in result.stdout
    assert report.exists()


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is missing: `make test` installs it"
)
def test_report_renders_in_headless_chromium(sample_run, tmp_path):
    from playwright.sync_api import sync_playwright

    settings, _ = sample_run
    report = settings.reports / REPORT_NAME
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on(
                "console",
                lambda message: (
                    problems.append(f"console {message.type}: {message.text}")
                    if message.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(report.as_uri(), wait_until="load")

            assert page.title().startswith("地域福祉活動 年次概要")
            for name in CHARTS:
                chart = page.locator(f'figure[data-chart="{name}"] svg')
                assert chart.count() == 1, f"chart {name} is missing"
                box = chart.bounding_box()
                assert box and box["width"] > 200 and box["height"] > 100, name
            assert page.locator("#scorecard tr.mismatch").count() >= 1
            assert "2,182 か所" in page.locator('[data-figure="places_latest"]').inner_text()

            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            screenshot = ARTIFACTS / "overview.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert all(url.startswith(("file:", "data:", "about:")) for url in requests), requests
    assert screenshot.stat().st_size > 50_000
    assert Path(screenshot).exists()


def test_names_from_files_are_escaped_never_markup(sample_run):
    """A file or ward name is text on the page, whatever characters its sender used."""
    import dataclasses

    from pipelines.reporting.figures import read_figures
    from pipelines.reporting.overview import render_html

    settings, _ = sample_run
    with duckdb.connect(str(settings.warehouse), read_only=True) as connection:
        figures = read_figures(connection, str(settings.warehouse))
    hostile = {
        "source": "ibasho_survey",
        "file_name": '<img src=x onerror="alert(1)">.csv',
        "submitter_name": "北区",
        "fiscal_year": 2024,
        "received_at": None,
        "hold_reason": "<script>alert(1)</script>",
    }
    page = render_html(dataclasses.replace(figures, held_files=[hostile]), charts={})
    assert "<img src=x" not in page and "<script>alert" not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;.csv" in page
