"""The fifth source, the wards' action plans (issue 31): read from real CP932 and .xlsx files by
the generic reader, the marts the committee reads, the two due dates, the overview's section,
and free text that never leaves in an extract."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest
import yaml

from pipelines.extracts.spec import SpecError, extractable_marts, parse_spec
from pipelines.foundation.settings import PROJECT_ROOT
from pipelines.ingest.contract import SOURCE_KEYS, load_contract
from pipelines.ingest.lake import Lake
from pipelines.ingest.reader import read_submission
from pipelines.web.reminders import _received_since
from tests.conftest import xlsx_bytes

CONTRACT = load_contract("ward_action_plans")
HEADER = "年度,区名,基本目標,推進項目,取組テーマ,目標,指標,目標値,実績値,自己評価,取組の経過,課題・次年度に向けて,共通項目"


def csv_bytes(lines: list[str], encoding: str = "cp932") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def quarantined(result) -> dict[tuple[int, str], str]:
    return {(r.row_number, r.column): r.rule for r in result.quarantine.itertuples()}


def test_a_cp932_file_with_a_title_full_width_codes_letters_for_ratings_and_a_blank_line():
    data = csv_bytes(
        [
            "北区 実行計画 令和6年度",
            HEADER,
            "R6,北区,地域づくり,１－１,サロンの立ち上げ支援,新たな居場所,立ち上げ数,3か所,4,A,民生委員の山田さんと,継続,",
            "",
            "R6,北区,参加支援,３－１,相談からの参加支援,,参加支援につながった件数,10件,6,ｃ,,,○",
            "R6,北区,相談支援,2‐1,出張相談会,,,,,E,,,",
            "R6,北区,相談支援,2-2,成年後見の周知,,,,,,,,",
        ]
    )
    result = read_submission(data, "2024_Kita_action_plan_results.csv", CONTRACT)
    assert (result.status, result.encoding) == ("loaded", "cp932")
    assert (result.fiscal_year, result.submitter_code) == (2024, "271276")
    rows = result.rows
    assert rows["plan_item"].tolist() == ["1-1", "3-1", "2-1", "2-2"]
    assert rows["self_rating"].tolist() == ["◎", "△", "−", None]  # blank: not rated
    assert rows["target_value"].tolist()[:2] == [3.0, 10.0]  # the unit read off
    assert rows["common_item"].tolist() == [False, True, False, False]
    assert rows["process_note"].iloc[0] == "民生委員の山田さんと"  # free text kept as sent
    assert result.rows_read == result.rows_loaded + result.rows_quarantined + result.rows_skipped
    assert result.rows_skipped == 1


def test_an_xlsx_with_a_title_block_reads_as_the_csv_does():
    sheet = [
        ["令和7年度 天王寺区社会福祉協議会 実行計画（計画）"],
        ["第3期大阪市地域福祉活動推進計画", None, None, "作成日", None],
        [],
        HEADER.split(","),
        ["令和7年度", "天王寺区", "地域づくり", "1-2", "見守り", None, "訪問件数", 120, None, None],
        ["令和7年度", "天王寺区", "参加支援", "3-1", "参加支援", None, None, None, None, None],
    ]
    result = read_submission(xlsx_bytes({"データ": sheet}), "R7_天王寺区_実行計画.xlsx", CONTRACT)
    assert (result.status, result.fiscal_year, result.rows_loaded) == ("loaded", 2025, 2)
    assert result.rows["actual_value"].isna().all()  # a spring plan: no results yet


def test_an_item_outside_the_plan_in_force_and_a_goal_not_its_items_are_quarantined():
    """FY2023 is before the third plan (令和6〜8年度): its items are not in force then; a goal
    that is not the item's goal is a wrong row; the rest of the file loads."""
    before = read_submission(
        csv_bytes(
            [HEADER, "R5,北区,地域づくり,1-1,サロン,,,,,,,,", "R5,北区,参加支援,3-1,参加,,,,,,,,"]
        ),
        "R5_北区_実行計画.csv",
        CONTRACT,
    )
    assert before.status == "rejected"  # every row wrong: more than half, so the file is refused
    assert set(quarantined(before).values()) == {"not_in_force"}

    data = csv_bytes(
        [
            HEADER,
            "R6,北区,地域づくり,1-1,サロン,,,,,◎,,,",
            "R6,北区,地域づくり,3-1,参加,,,,,○,,,",  # 3-1 is 参加支援
            "R6,北区,相談支援,4-1,防災,,,,,△,,,",  # no such item in any plan
            "R6,北区,相談支援,2-1,出張相談,,,,,Z,,,",  # not a rating
            "R6,北区,地域づくり,1-2,見守り,,,,,◎,,,",
            "R6,北区,相談支援,2-3,連携,,,,,○,,,",
            "R6,北区,相談支援,2-2,後見,,,,,○,,,",
            "R6,北区,地域づくり,1-3,担い手,,,,,○,,,",
        ]
    )
    result = read_submission(data, "R6_北区_実行計画_実績.csv", CONTRACT)
    assert result.status == "loaded"
    assert quarantined(result) == {
        (3, "goal"): "disagrees_with_reference",
        (4, "plan_item"): "not_in_code_list",
        (5, "self_rating"): "not_in_code_list",
    }
    message = result.quarantine.set_index("row_number").loc[3, "message"]
    assert "基本目標" in message and "地域づくり" in message
    assert result.rows_loaded == 5 and result.rows_quarantined == 3


def test_the_source_is_only_a_contract_reference_data_a_suite_and_models():
    """Adding it needed no branch of its own in the reader or the intake."""
    assert "ward_action_plans" in SOURCE_KEYS
    for module in ("ingest/reader.py", "ingest/cells.py", "intake/ingest.py", "intake/reading.py"):
        assert "ward_action_plans" not in (PROJECT_ROOT / "pipelines" / module).read_text()
    assert (PROJECT_ROOT / "expectations" / "ward_action_plans.json").exists()
    assert (PROJECT_ROOT / "sources" / "reference" / "plan_items.csv").exists()


# -- the sample, through the whole pipeline ----------------------------------------------------


@pytest.fixture(scope="module")
def warehouse(sample_run):
    settings, _ = sample_run
    connection = duckdb.connect(str(settings.warehouse), read_only=True)
    yield connection
    connection.close()


def test_plan_progress_counts_every_action_of_the_current_files_once(warehouse):
    actions, rated = warehouse.execute(
        "select sum(actions), sum(rated_achieved + rated_mostly + rated_partly + rated_not "
        "+ not_rated) from marts.plan_progress where fiscal_year = 2024"
    ).fetchall()[0]
    current = warehouse.execute(
        "select sum(rows_loaded) from audit.submissions "
        "where source = 'ward_action_plans' and fiscal_year = 2024 and is_current"
    ).fetchall()[0][0]
    assert actions == rated == current
    # one current file per ward and year: the spring plans were replaced by the results
    per_ward = warehouse.execute(
        "select ward_code, count(distinct file_name) from marts.plan_actions "
        "group by fiscal_year, ward_code having count(distinct file_name) > 1"
    ).fetchall()
    assert per_ward == []
    replaced = warehouse.execute(
        "select count(*) from audit.submissions where source = 'ward_action_plans' "
        "and status = 'superseded'"
    ).fetchall()[0][0]
    assert replaced == 5


def test_the_committee_sees_every_ward_side_by_side_and_each_item_across_the_city(warehouse):
    common = warehouse.execute(
        "select plan_item, count(*), count(*) filter (where reported) "
        "from marts.plan_common_items where fiscal_year = 2024 group by plan_item order by 1"
    ).fetchall()
    assert common == [("1-2", 24, 23), ("3-1", 24, 23)]  # 港区 has not sent its results
    minato = warehouse.execute(
        "select reported, actions from marts.plan_common_items "
        "where fiscal_year = 2024 and ward_name = '港区'"
    ).fetchall()
    assert minato == [(False, 0), (False, 0)]
    items = warehouse.execute(
        "select plan_item, wards_taking_up from marts.plan_items_citywide "
        "where fiscal_year = 2024 order by sort_order"
    ).fetchall()
    assert [i for i, _ in items] == ["1-1", "1-2", "1-3", "2-1", "2-2", "2-3", "3-1", "3-2"]
    assert dict(items)["3-1"] == 23
    ratings = warehouse.execute(
        "select distinct self_rating from marts.plan_actions order by 1"
    ).fetchall()
    assert {r for (r,) in ratings} <= {"◎", "○", "△", "×", "−", None}


def test_the_plan_and_the_results_have_their_own_due_dates(warehouse):
    rows = warehouse.execute(
        "select fiscal_year, stage, due_on, status, timeliness from marts.submission_status "
        "where source = 'ward_action_plans' and submitter_name = '港区' order by 1, 2"
    ).fetchall()
    assert [(y, s, str(d), st) for y, s, d, st, _ in rows] == [
        (2024, "plan", "2025-05-31", "missing"),  # FY2024's plan moved: it came with results
        (2024, "results", "2025-05-31", "missing"),
        (2025, "plan", "2025-04-30", "missing"),
        (2025, "results", "2026-05-31", "missing"),
    ]
    kita = warehouse.execute(
        "select stage, timeliness from marts.submission_status where source = "
        "'ward_action_plans' and submitter_name = '北区' and fiscal_year = 2024 order by 1"
    ).fetchall()
    assert kita == [("plan", "on_time"), ("results", "on_time")]


def test_the_overview_shows_the_progress_of_the_action_plans(sample_run):
    _settings, summary = sample_run
    html = summary.report.read_text(encoding="utf-8")
    section = html[html.index('id="action-plans"') :]
    assert "実行計画の進捗（2024年度）" in section
    assert 'data-chart="plan_ratings_by_ward"' in section and "<svg" in section
    not_reported = section[section.index('id="plan-not-reported"') :]
    assert "港区" in not_reported[: not_reported.index("</table>")]
    # the scorecard links the headline indicator to its plan item
    assert 'href="#plan-item-1-1"' in html and 'id="plan-item-1-1"' in html


def test_the_free_text_of_the_plans_can_never_be_extracted(sample_run):
    settings, _ = sample_run
    marts = extractable_marts(settings.dbt_target_dir / "manifest.json")
    assert "plan_actions" not in marts
    spec = yaml.safe_load(
        (PROJECT_ROOT / "sources" / "extracts" / "plan_ratings_by_goal_ward.yml").read_text()
    )
    assert parse_spec(spec, marts).tables[0].mart == "plan_progress"
    for mart, column in (("plan_actions", "theme"), ("plan_progress", "process_note")):
        table = {**spec["tables"][0], "mart": mart, "dimensions": ["fiscal_year", column]}
        with pytest.raises(SpecError):
            parse_spec({**spec, "tables": [table]}, marts)


def test_a_plan_sent_again_after_the_year_is_no_answer_to_the_results_reminders(sample_run):
    """The reminders' own look at files received since the last publish: the results stage
    is answered only by a file whose rows carry results (an actual value or a rating)."""
    settings, _ = sample_run
    lake = Lake(settings.lake)
    ledger = lake.ledger()
    miyakojima = ledger[(ledger["submitter_code"] == "271021") & (ledger["fiscal_year"] == 2024)]
    plan = miyakojima[miyakojima["file_name"] == "R6_都島区_実行計画.csv"].copy()
    after_the_year = pd.Timestamp("2025-05-20 01:00", tz="UTC")
    plan["file_modified_at"] = plan["received_at"] = after_the_year  # sent again in May
    results = miyakojima[miyakojima["file_name"] == "R6_都島区_実行計画_実績.xlsx"]
    start, end = dt.date(2024, 4, 1), dt.date(2025, 3, 31)
    args = ("ward_action_plans", "results", "271021", start, end)
    assert not _received_since(lake, plan, *args)
    assert _received_since(lake, results, *args)
    assert _received_since(lake, plan, "ward_action_plans", "plan", "271021", start, end)
