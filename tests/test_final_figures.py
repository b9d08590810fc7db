"""Final figures (docs/submissions.md, "Closing a fiscal year", "Council review of a
submission"): closed years whose figures never move while files keep coming, reopened with a
record; a file returned with a comment stops counting; a correction shows what it changes; a
vintage gives the same extract however many versions are published after it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import duckdb
import pytest

from pipelines.defs.runner import run_pipeline
from pipelines.defs.summary import format_summary
from pipelines.extracts.package import build_extract
from pipelines.extracts.spec import extractable_marts, load_spec
from pipelines.foundation.settings import PROJECT_ROOT, Settings
from pipelines.ingest.closing import ClosingError, closed_years, locked_years, reopen_year
from pipelines.ingest.contract import load_contract
from pipelines.ingest.diff import diff_files, diff_with_replaced, format_diff
from pipelines.ingest.lake import Lake
from pipelines.ingest.release import ReleaseError, release_submission
from pipelines.ingest.review import APPROVED, RETURNED, ReviewError, review_submission
from pipelines.intake.ingest import ingest_source
from pipelines.warehouse import duckdb_publish
from pipelines.warehouse.dbt import manifest_of
from pipelines.warehouse.vintages import (
    close_year,
    closed_year_changes,
    create_vintage,
    list_vintages,
    load_vintage,
    rollback_keeping_closed_years,
)
from pipelines.web.accounts import AccountStore
from pipelines.web.app import create_app
from tests.conftest import ward_file, welfare_cli, write_csv
from tests.test_web import log_in, web_settings

# Pipeline runs: beside the main suite in `make test` (after the Spark suite, in its slot).
pytestmark = [pytest.mark.slow, pytest.mark.background]

SPEC = PROJECT_ROOT / "sources" / "extracts" / "places_and_facilities.yml"
FIGURES = (
    "select fiscal_year, ward_name, activity_type, places, sessions, participants "
    "from marts.place_counts order by all"
)
TOTALS = "select fiscal_year, sum(places) from marts.place_counts group by 1 order by 1"
CONSULTATIONS = (
    "select fiscal_year, sum(consultations) from marts.consultation_volumes group by 1 order by 1"
)
CONSULTATION_HEADER = (
    "受付番号,受付日,受付方法,相談者区分,相談者氏名,電話番号,メールアドレス,相談内容,居住区,"
    "対応時間（分）"
)
LATE = "R6_北区_居場所_再提出.csv"
LATE_2023 = "R5_北区_居場所_再提出.csv"
LATE_CONSULTATIONS = "相談記録_2025-03_追加.csv"  # its March counted for FY2024, closed
APRIL_CONSULTATIONS = "相談記録_2025-04.csv"
CENTRE_PASSWORD = "tenma-volunteer-desk-2025"
KITA_2025 = "R7_北区_居場所.csv"
KITA_2025_FIXED = "R7_北区_居場所_修正.csv"


def query(settings: Settings, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as db:
        return db.execute(sql, list(params)).fetchall()


def closed_rows(settings: Settings, years: tuple[int, ...]) -> list[tuple]:
    return [row for row in query(settings, FIGURES) if row[0] in years]


def closed_rows_of(rows: list[tuple], years: tuple[int, ...]) -> list[tuple]:
    return [row for row in rows if row[0] in years]


def extract_tables(settings: Settings, vintage: str) -> dict[str, bytes]:
    spec = load_spec(SPEC, extractable_marts(manifest_of(settings)))
    result = build_extract(settings, spec, requested_by="test", vintage=vintage)
    return {
        path.name: path.read_bytes() for path in result.files if path.suffix in (".csv", ".parquet")
    }


def test_closed_years_stand_while_files_come_until_reopened(published_home):
    settings = published_home
    before = query(settings, TOTALS)
    assert before == [(2022, 1791), (2023, 1920), (2024, 2182)]

    # Years close in order (a year's figures compare with the year before), on published
    # figures that are up to date.
    with pytest.raises(ClosingError, match="2022, 2023"):
        close_year(settings, 2024, "市社協 山田", "令和6年度 年次報告")
    for year in (2022, 2023, 2024):
        _, vintage = close_year(settings, year, "市社協 山田", f"{year}年度 年次報告")
    assert sorted(closed_years(Lake(settings.lake))) == [2022, 2023, 2024]
    assert vintage.manifest["fiscal_year"] == 2024
    assert {"marts.place_counts", "audit.submissions"} <= set(vintage.tables)
    with duckdb.connect() as db:  # the documented ATTACH
        db.execute(f"attach '{vintage.path / 'warehouse.duckdb'}' as fy2024 (read_only)")
        assert db.execute(
            "select sum(places) from fy2024.marts.place_counts where fiscal_year = 2024"
        ).fetchone() == (2182,)
    printed = extract_tables(settings, vintage.name)
    frozen = closed_rows(settings, (2022, 2023, 2024))

    # After the closing 北区 sends FY2024 again (taken in at once, e.g. by the page's run)
    # and its first FY2025 file.
    later = time.time() + 60
    ward_file(settings, LATE, ["R6,北区,曽根崎地域,K-1,新サロン,高齢者サロン,12,240"], later)
    ward_file(
        settings,
        KITA_2025,
        [f"R7,北区,曽根崎地域,K-{n},サロン{n},高齢者サロン,12,240" for n in range(5)],
        later,
    )
    ingest_source(settings, load_contract("ibasho_survey"))
    # What the late file would change, as the page and `welfare diff` show it.
    late_sha = Lake(settings.lake).ledger().set_index("file_name").at[LATE, "sha256"]
    change = diff_with_replaced(settings, late_sha)
    assert change.old_file == "令和6年度_北区_居場所.csv" and change.new_file == LATE
    assert change.added == ["活動ID=K-1"] and len(change.removed) > 50
    assert change.totals[0] == ("行数 rows", float(len(change.removed) + change.unchanged), 1.0)

    # The council returns the FY2025 file: it stops counting; the sender sees why. The same
    # return sent twice at the same moment (a double click, two tabs) is recorded once.
    with pytest.raises(ReviewError, match="コメント"):
        review_submission(settings, KITA_2025, RETURNED, "市社協 山田")
    comment = "参加者数が全て同じです。確認してください。"
    with ThreadPoolExecutor(2) as pool:
        both = list(
            pool.map(
                lambda _: review_submission(settings, KITA_2025, RETURNED, "市社協 山田", comment),
                range(2),
            )
        )
    assert both[0].review_id == both[1].review_id
    # A file behind a closed year's figures cannot be returned (its figures would move).
    with pytest.raises(ReviewError, match="reopen"):
        review_submission(settings, "令和6年度_北区_居場所.csv", RETURNED, "山田", "再確認")
    approved = review_submission(settings, "FY2024_Chuo-ku_places.xlsx", APPROVED, "市社協 山田")
    again = review_submission(settings, "FY2024_Chuo-ku_places.xlsx", APPROVED, "市社協 山田")
    assert again.review_id == approved.review_id and again.comment is None  # recorded once
    # The council accepts the late FY2024 file: it counts from the next run, which closes
    # FY2024 again on the new figures (the vintage of the first closing stays).
    released = release_submission(settings, LATE, "市社協 山田", "北区に電話で確認")
    assert "締切後" in released.findings

    # A change of models or reference data that would move a closed year stops publishing.
    with duckdb.connect(str(settings.working_db)) as db:
        db.execute(
            "update marts.place_counts set places = places + 1 where fiscal_year = 2022 "
            "and ward_name = '北区'"
        )
    [moved] = closed_year_changes(settings)
    assert moved.startswith("marts.place_counts: 2022年度の")

    # 北区 sends FY2023 again too: it comes after FY2023 was closed. The volunteer centre
    # exports late March (FY2024, closed) and early April: the March consultation is not
    # counted, the April one is, and the consultations' reconciliation agrees (it counted the
    # closed year's row too, and every run failed from then on).
    ward_file(settings, LATE_2023, ["R5,北区,曽根崎地域,K-1,新サロン,高齢者サロン,12,240"], later)
    consultations_before = query(settings, CONSULTATIONS)
    write_csv(
        settings.landing_for("consultations") / LATE_CONSULTATIONS,
        [
            CONSULTATION_HEADER,
            "V2024-9001,2025/3/28,電話,個人,大阪 一郎,06-6000-0000,a@example.jp,活動したい,北区,30分",
            "V2025-0001,2025/4/2,電話,個人,大阪 花子,06-6000-0001,b@example.jp,活動したい,北区,30分",
            "V2024-0056,2025/4/10,電話,個人,大阪 次郎,06-6000-0002,c@example.jp,活動したい,北区,30分",
            "V2023-0001,2025/3/30,電話,企業,髙橋ボランティア会,06-6936-1374,,活動したい,北区,10分",
        ],
    )
    # Their 受付日 corrected, consultations of FY2024 and FY2023 would leave those closed years
    # (an April export: its period touches neither): they stay where the closed figures count
    # them.
    write_csv(
        settings.landing_for("consultations") / APRIL_CONSULTATIONS,
        [
            CONSULTATION_HEADER,
            "V2024-0100,2025/4/3,電話,個人,大阪 三郎,06-6000-0003,d@example.jp,活動したい,北区,30分",
            "V2025-0002,2025/4/4,電話,個人,大阪 四郎,06-6000-0004,e@example.jp,活動したい,北区,30分",
            "V2023-0002,2025/4/20,来所,個人,林 恵子,06-6622-9635,,災害ボランティア,住吉区,45分",
        ],
    )
    first = run_pipeline(settings)  # builds what the decisions changed, place_counts again
    assert first.success and first.published, first.failed_steps
    assert query(settings, CONSULTATIONS) == [*consultations_before, (2025, 2)]
    assert query(
        settings,
        "select file_name, consultations_held, consultations_held_for_years from audit.submissions "
        "where consultations_held > 0 order by 1",
    ) == [(LATE_CONSULTATIONS, 3, "2024"), (APRIL_CONSULTATIONS, 2, "2023、2024")]
    assert query(
        settings,
        "select consultation_id, fiscal_year, held_for_year, held_because "
        "from audit.consultations_held order by 1",
    ) == [
        ("V2023-0001", 2024, 2024, "in_closed_year"),  # also leaves FY2023: held in FY2024
        ("V2023-0002", 2025, 2023, "moves_out"),
        ("V2024-0056", 2025, 2024, "moves_out"),
        ("V2024-0100", 2025, 2024, "moves_out"),
        ("V2024-9001", 2024, 2024, "in_closed_year"),
    ]
    summary = format_summary(first, settings)
    assert f"consultations/{LATE_CONSULTATIONS}: 3 consultation(s) held back" in summary
    assert "newest year first (FY2024, then FY2023)" in summary
    # The volunteer centre sees it on its page, beside the export.
    web = web_settings(settings)
    AccountStore(web.accounts_db).add("centre", CENTRE_PASSWORD, "volunteer_centre")
    centre = create_app(settings, web).test_client()
    assert log_in(centre, "centre", CENTRE_PASSWORD).status_code == 302
    listed = centre.get("/submissions").get_data(as_text=True)
    assert "2023、2024年度は確定済みのため、相談2件は確定した数値のまま" in listed
    late_sha = Lake(settings.lake).ledger().set_index("file_name").at[LATE_CONSULTATIONS, "sha256"]
    page = centre.get(f"/submissions/{late_sha}").get_data(as_text=True)
    assert "このファイルの相談のうち3件は、確定した数値のまま" in page
    assert closed_rows(settings, (2022, 2023)) == closed_rows_of(frozen, (2022, 2023))
    places_2024 = query(settings, TOTALS)[2][1]
    assert places_2024 == 2182 - (len(change.removed) + change.unchanged) + 1  # accepted
    amended = closed_years(Lake(settings.lake))[2024]
    assert amended.vintage.startswith("FY2024-amended-") and "北区に電話で確認" in amended.reason
    # The version before this run had FY2024 as first closed: rolling back to it would move
    # the amended year's figures, and is refused (the published warehouse stays).
    published_bytes = settings.warehouse.read_bytes()
    with pytest.raises(RuntimeError, match="Not rolled back"):
        rollback_keeping_closed_years(settings)
    assert settings.warehouse.read_bytes() == published_bytes
    assert closed_year_changes(settings) == []
    # Closed again on amended figures, FY2024 is closed since its first closing: the late
    # consultation export still came too late for it (the next run would move FY2024).
    ledger = Lake(settings.lake).ledger().set_index("file_name")
    assert locked_years(Lake(settings.lake), ledger.loc[LATE_CONSULTATIONS]) == [2024]
    assert query(
        settings, "select status, is_current, after_closing from audit.submissions "
        "where file_name = ?", LATE_2023
    ) == [("after_closing", False, True)]  # fmt: skip
    # Only files received after the closing: a file replaced before it stays superseded.
    assert query(
        settings, "select file_name from audit.submissions where after_closing order by 1"
    ) == [(LATE_2023,), (LATE_CONSULTATIONS,)]
    assert query(
        settings, "select status from audit.submissions where file_name = ?",
        "R5_阿倍野区_居場所活動調査.xlsx",
    ) == [("superseded",)]  # fmt: skip
    with pytest.raises(ClosingError, match="not one"):
        close_year(settings, 0, "市社協 山田", "typo")
    assert query(
        settings,
        "select status, year_closed, after_closing_file from marts.submission_status "
        "where fiscal_year = 2023 and submitter_name = '北区' and source = 'ibasho_survey'",
    ) == [("received", True, LATE_2023)]
    assert f"AFTER CLOSING ibasho_survey/{LATE_2023}: 締切後（FY2023 確定済み）" in format_summary(
        first, settings
    )
    # The FY2023 file cannot be accepted while FY2024 is closed (FY2024's change on FY2023
    # would move).
    with pytest.raises(ReleaseError, match="reopen FY2024"):
        release_submission(settings, LATE_2023, "市社協 山田", "北区に電話で確認")
    assert query(
        settings,
        "select fiscal_year, status, review_state, review_comment from marts.submission_status "
        "where submitter_name in ('北区', '中央区') and source = 'ibasho_survey' "
        "and fiscal_year in (2024, 2025) order by submitter_name, fiscal_year",
    ) == [
        (2024, "received", "approved", None),
        (2025, "missing", None, None),
        (2024, "received", "not_reviewed", None),
        (2025, "returned", "returned", comment),
    ]

    # Six more publishes: the five kept versions rotate, the vintage stays and gives the same
    # tables, byte for byte.
    for n in range(6):
        duckdb_publish.publish(settings, f"another version {n}")
    assert len(duckdb_publish.versions(settings)) == 5
    assert extract_tables(settings, vintage.name) == printed
    assert load_vintage(settings, vintage.name).manifest == vintage.manifest

    # 北区 corrects its FY2025 file (the return ends), and the council reopens FY2024 and FY2023
    # (newest first): the late FY2023 file counts from the next run. Reopening is recorded;
    # the closings' vintages stay.
    ward_file(
        settings,
        KITA_2025_FIXED,
        [f"R7,北区,曽根崎地域,K-{n},サロン{n},高齢者サロン,12,{200 + n}" for n in range(5)],
        later + 60,
    )
    with pytest.raises(ClosingError, match="2024"):
        reopen_year(settings, 2023, "市社協 山田", "訂正")
    reopen_year(settings, 2024, "市社協 山田", "北区の訂正を反映するため")
    reopen_year(settings, 2023, "市社協 山田", "北区の訂正を反映するため")
    # Closed again at once, it would freeze figures without the files the reopening lets
    # count (and every run would fail after): the published figures are behind a decision.
    with pytest.raises(ClosingError, match="run `welfare run` first"):
        close_year(settings, 2023, "市社協 山田", "もう一度")
    second = run_pipeline(settings)
    assert second.success and second.published, second.failed_steps
    # FY2024 and FY2023 open again: the late exports count whole (V2024-0056, V2024-0100 and
    # V2023-0002 move to FY2025, V2023-0001 to FY2024, V2024-9001 counts in FY2024), chosen
    # again by the increment.
    assert query(settings, CONSULTATIONS)[-3:] == [
        (2023, dict(consultations_before)[2023] - 2),
        (2024, dict(consultations_before)[2024] + 1 - 2 + 1),
        (2025, 5),
    ]
    assert query(
        settings, "select count(*) from audit.submissions where consultations_held > 0"
    ) == [(0,)]
    after = dict(query(settings, TOTALS))
    assert after[2024] == places_2024 == 2182 - (len(change.removed) + change.unchanged) + 1
    assert after[2023] < 1920 and (after[2022], after[2025]) == (1791, 5)
    assert query(
        settings,
        "select status, review_state from marts.submission_status where fiscal_year = 2025 "
        "and submitter_name = '北区' and source = 'ibasho_survey'",
    ) == [("received", "not_reviewed")]
    assert query(
        settings, "select fiscal_year, action from audit.year_closings order by acted_at"
    ) == [(2022, "closed"), (2023, "closed"), (2024, "closed"), (2024, "closed"),
          (2024, "reopened"), (2023, "reopened")]  # fmt: skip
    assert [v.manifest["fiscal_year"] for v in list_vintages(settings)] == [2022, 2023, 2024, 2024]
    assert query(settings, "select count(*) from audit.reviews") == [(2,)]
    # Every decision is in the archive's records: what `welfare rebuild-lake` derives from.
    records = settings.archive / "records"
    assert all(
        any((records / table).glob("*.parquet"))
        for table in ("reviews", "year_closings", "closed_files", "vintages")
    )
    # `welfare diff` and `welfare vintage` from the command line.
    shown = welfare_cli(settings.home, "diff", "令和6年度_北区_居場所.csv", LATE, "--limit", "2")
    assert shown.returncode == 0, shown.stderr
    diff = diff_files(settings, "令和6年度_北区_居場所.csv", LATE)
    assert format_diff(diff, limit=2) == shown.stdout.strip()
    assert "追加 added 1" in shown.stdout and "行数 rows:" in shown.stdout
    assert diff.totals[-1] == ("担い手数", 931.0, None)  # not in the new file: not zero
    assert diff.mismatch is None
    other = diff_files(settings, "令和6年度_北区_居場所.csv", "FY2024_Chuo-ku_places.xlsx")
    assert "同じ提出の版どうしではありません" in other.mismatch and "中央区" in other.mismatch
    create_vintage(settings, "report-2026", "山田", "理事会資料")
    with pytest.raises(ValueError, match="never replaced"):
        create_vintage(settings, "report-2026", "山田", "again")
    with pytest.raises(ValueError, match="name"):
        create_vintage(settings, "../escape", "山田", "x")
    listed = welfare_cli(settings.home, "vintage", "list")
    assert "report-2026" in listed.stdout and "ATTACH" in listed.stdout
