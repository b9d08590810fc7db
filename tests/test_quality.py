"""great-expectations suites: each file is checked once as it is taken in, and a failed
`error` holds back that file alone; mart suites still guard publishing."""

from __future__ import annotations

import time

import dagster as dg
import duckdb
import pytest

from pipelines.defs.build import build_definitions
from pipelines.defs.runner import run_pipeline
from pipelines.defs.warehouse import PUBLISHED_KEY
from pipelines.foundation.settings import Settings
from pipelines.ingest.release import ReleaseError, release_submission
from pipelines.quality.suites import load_suites
from tests.conftest import check_then_publish, copy_sample, ward_file, welfare_cli, write_csv

pytestmark = pytest.mark.slow

KITA_PLAN = "令和6年度_北区_実行計画_実績.csv"
KITA = "令和6年度_北区_居場所.csv"
HEADER = "年度,区名,地域名,活動ID,活動名称,活動種別,年間開催回数,延べ参加者数"


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
    kinds = {s.name: s.kind for s in suites.values()}
    assert kinds["ibasho_survey"] == "submission" and kinds["place_counts_by_ward"] == "mart"


def test_plausibility_limits_beyond_the_spec_are_warnings():
    """docs/submissions.md calls any count ≥ 0 valid: more than 366 sessions is worth a look, no more."""
    ibasho = load_suites()["ibasho_survey"]
    severity = {e["kwargs"]["column"]: e["meta"]["severity"] for e in ibasho.expectations}
    assert severity["sessions_per_year"] == "warning"
    assert severity["start_year"] == "warning"


def test_the_sample_shows_its_two_warnings_with_the_files_they_came_from(sample_run):
    settings, summary = sample_run
    assert summary.success and summary.published
    [places, plans] = summary.checks_warned
    assert "gx_ibasho_survey" in places and KITA in places and "250" in places
    assert "gx_ward_action_plans" in plans and KITA_PLAN in plans and "目標値の5倍" in plans
    with duckdb.connect(str(settings.warehouse), read_only=True) as db:
        rows = db.execute(
            """
            select suite, file_name, column_name, severity, unexpected_count, rows
            from audit.dq_results where not success and run_id = ?""",
            [summary.run_id],
        ).fetchall()
        checked = db.execute(
            "select count(distinct sha256) from audit.dq_results where run_id = ?",
            [summary.run_id],
        ).fetchone()[0]
    assert sorted(rows) == [
        ("ibasho_survey", KITA, "participants_per_session", "warning", 1, "2"),
        ("ward_action_plans", KITA_PLAN, "actual_to_target", "warning", 1, "2"),
    ]
    assert checked == 128  # every file read (all but the rejected one), once
    docs = settings.reports / "data_docs" / "place_counts_by_ward"
    assert "place_counts_by_ward" in (docs / "index.html").read_text(encoding="utf-8")
    assert list((docs / "validations").rglob("*.html"))


def test_files_checked_together_get_what_each_checked_alone_gets():
    """A source's new files are validated in one great-expectations run and the findings
    split by file: each file gets exactly the counts, examples and rows it would alone."""
    import pandas as pd

    from pipelines.quality.suites import submission_suite, validator

    suite = submission_suite("ibasho_survey")

    def places(rows: list[tuple]) -> pd.DataFrame:
        frame = pd.DataFrame(
            rows, columns=["sessions_per_year", "participants", "volunteers", "start_year"]
        ).astype("Int64")
        frame["fiscal_year"] = pd.array([2024] * len(frame), dtype="Int64")
        frame["source_row"] = range(3, 3 + len(frame))
        return frame

    frames = [
        places([(12, 240, 3, 2010), (0, 35, 1, 2015)]),  # row 4: participants, no sessions
        places([(400, 9000, 2, 2001), (10, 50, 400, 1900), (5, 20, 1, None)]),  # warnings
        places([(24, 480, 5, 2020)]),  # nothing found
    ]
    together = validator().validate_each(suite, frames, "test", ("source_row",))
    alone = [validator().validate(suite, [f], "test", ("source_row",)) for f in frames]
    compared = ["expectation", "column_name", "success", "element_count", "unexpected_count"]
    for (results, failing), (expected, expected_failing) in zip(together, alone, strict=True):
        pd.testing.assert_frame_equal(
            results[[*compared, "examples"]], expected[[*compared, "examples"]]
        )
        assert failing == expected_failing
    assert [r["unexpected_count"].sum() for r, _ in together] == [1, 3, 0]


def test_warm_checks_give_what_this_process_gives_and_their_end_changes_nothing(
    tmp_path, monkeypatch
):
    """A run hands its checks to a helper that imported great-expectations meanwhile: the
    findings are the same as here, a mart suite's Data Docs are written once the run settles
    them, and a helper that died is replaced by the work done here. The helper imports
    nothing from the folder the run was started in (a shared /tmp, say)."""
    import pandas as pd

    from pipelines.foundation import warm_process
    from pipelines.quality.suites import (
        WARM_CHECKS,
        Validator,
        settle_warm_checks,
        stop_warm_checks,
        submission_suite,
        suites_for,
    )

    suite = submission_suite("ibasho_survey")
    frame = pd.DataFrame(
        {
            "sessions_per_year": [12, 0, 400],
            "participants": [240, 35, 9000],
            "volunteers": [3, 1, 2],
            "start_year": [2010, 2015, 1900],
            "fiscal_year": [2024, 2024, 2024],
            "source_row": [3, 4, 5],
        }
    ).astype("Int64")
    here = Validator().validate(suite, [frame], "test", ("source_row",))
    # Started as a run starts it (here regardless of great-expectations being imported),
    # from a folder where someone left a package of great-expectations' name.
    trap = tmp_path / "started_in"
    (trap / "great_expectations").mkdir(parents=True)
    (trap / "great_expectations" / "__init__.py").write_text(
        f"open({str(tmp_path / 'imported')!r}, 'w')\n"
    )
    monkeypatch.chdir(trap)
    stop_warm_checks()  # one a run of this process left (the sample's): started anew here
    warm_process.start(WARM_CHECKS, ["pipelines.quality.suites:_ready"])
    try:
        warm = warm_process.running(WARM_CHECKS)
        assert warm is not None
        there = Validator().validate(suite, [frame], "test", ("source_row",))
        compared = ["expectation", "column_name", "success", "unexpected_count", "examples"]
        pd.testing.assert_frame_equal(there[0][compared], here[0][compared])
        assert there[1] == here[1] and any(there[1])
        assert not (tmp_path / "imported").exists()
        # A mart suite: the answer first, its Data Docs right after.
        [mart] = [s for s in suites_for("mart") if s.name == "consultation_months"]
        rows = pd.DataFrame({"fiscal_year": [2024], "month": [4], "consultations": [61]})
        checked = Validator(data_docs=tmp_path / "docs").validate(mart, [rows], "test")
        assert settle_warm_checks() == []
        assert (tmp_path / "docs" / mart.name / "index.html").exists()
        assert warm_process.running(WARM_CHECKS) is warm  # it did all of that, and still serves
        # Data Docs that cannot be written (a file where their folder goes) leave the findings
        # as they are; the run is told which when it settles.
        (tmp_path / "blocked").mkdir()
        (tmp_path / "blocked" / mart.name).write_text("not a folder")
        blocked = Validator(data_docs=tmp_path / "blocked").validate(mart, [rows], "test")
        pd.testing.assert_frame_equal(blocked[0][compared], checked[0][compared])
        [failure] = settle_warm_checks()
        assert failure.startswith(f"{mart.name}: NotADirectoryError")
        # The helper dies: the same findings, worked out here, and so are Data Docs' failures.
        warm.process.kill()
        warm.process.wait()
        again = Validator().validate(suite, [frame], "test", ("source_row",))
        pd.testing.assert_frame_equal(again[0][compared], here[0][compared])
        Validator(data_docs=tmp_path / "blocked").validate(mart, [rows], "test")
        [failure] = settle_warm_checks()
        assert failure.startswith(f"{mart.name}: NotADirectoryError")
    finally:
        stop_warm_checks()
    assert warm_process.running(WARM_CHECKS) is None


def _query(settings: Settings, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as db:
        return db.execute(sql, list(params)).fetchall()


KITA_2024 = (
    "select places from marts.place_counts_by_ward where ward_name = '北区' and fiscal_year = 2024"
)


@pytest.mark.background  # pipeline runs: with the operator's tests in `make test` (Makefile)
def test_an_error_holds_back_that_file_alone_until_it_is_released(published_home):
    settings = published_home
    kita_places = _query(settings, KITA_2024)
    scorecard = _query(settings, "select count(*) from marts.plan_scorecard")
    later = time.time()
    # 北区 sends a newer FY2024 file in which one place reports participants but no sessions
    # (an error the council marks), and 中央区 its first FY2025 file with the same kind of
    # mistake. Each value passes the reader; a place with 1,234 sessions only warrants a
    # warning. The same bytes as a sample file, under another name, come in the same batch.
    ward_file(
        settings,
        "R6_北区_居場所_修正.csv",
        [
            "R6,北区,曽根崎地域,K-1,新サロン,高齢者サロン,12,240",
            "R6,北区,曽根崎地域,K-2,休止中のサロン,高齢者サロン,0,35",
        ],
        later,
    )
    ward_file(
        settings,
        "R7_中央区_居場所.csv",
        [f"R7,中央区,森之宮地域,C-{n},サロン{n},高齢者サロン,12,240" for n in range(4)]
        + [
            "R7,中央区,森之宮地域,C-8,毎日サロン,高齢者サロン,1234,9000",
            "R7,中央区,森之宮地域,C-9,休止サロン,高齢者サロン,0,50",
        ],
        later,
    )
    copy_sample(settings, "plan_indicators", "R6_推進計画_実績指標.xlsx", "R6_実績指標_再送.xlsx")
    summary = run_pipeline(settings)
    # The run succeeds and publishes; the held files are named with the reason and rows.
    assert summary.success and summary.published, summary.failed_steps
    assert sorted(summary.files["status"]) == ["duplicate", "held", "held"]
    held = dict(zip(summary.files["file_name"], summary.files["reason"], strict=True))
    # In the sender's words: the columns as the file heads them, the rows as Excel numbers
    # them (row 7 of the file: C-9), the values as written.
    assert "「延べ参加者数」、「年間開催回数」" in held["R7_中央区_居場所.csv"]
    assert "participants_without_sessions" not in held["R7_中央区_居場所.csv"]
    assert "行 rows: 7行目（延べ参加者数 50、年間開催回数 0" in held["R7_中央区_居場所.csv"]
    assert "行 rows: 3行目（延べ参加者数 35、年間開催回数 0" in held["R6_北区_居場所_修正.csv"]
    [warning] = [w for w in summary.checks_warned if "gx_ibasho_survey" in w]
    assert "1234" in warning and "R7_中央区_居場所.csv" in warning
    # The marts show 北区's earlier file and no 中央区 FY2025; other data untouched, and the
    # same bytes under a new name changed nothing.
    assert _query(settings, KITA_2024) == kita_places
    assert _query(settings, "select count(*) from marts.plan_scorecard") == scorecard
    assert _query(
        settings, "select count(*) from marts.place_counts_by_ward where fiscal_year = 2025"
    ) == [(0,)]
    statuses = dict(
        _query(
            settings,
            "select submitter_name || fiscal_year, status from marts.submission_status "
            "where source = 'ibasho_survey' and submitter_name in ('北区', '中央区') "
            "and fiscal_year >= 2024",
        )
    )
    assert statuses == {
        "北区2024": "held",
        "中央区2024": "received",
        "北区2025": "missing",
        "中央区2025": "held",
    }
    ledger = _query(
        settings,
        "select file_name, status, is_current, hold_reason is not null from audit.submissions "
        "where file_name in ('R7_中央区_居場所.csv', 'R6_北区_居場所_修正.csv', ?) "
        "order by file_name",
        KITA,
    )
    assert ledger == [
        ("R6_北区_居場所_修正.csv", "held", False, True),
        ("R7_中央区_居場所.csv", "held", False, True),
        (KITA, "loaded", True, False),
    ]
    findings = _query(
        settings,
        "select file_name, column_name, severity, rows from audit.dq_results "
        "where not success and run_id = ? and sha256 is not null and suite <> 'history' "
        "order by file_name, column_name",
        summary.run_id,
    )
    # Against last year's file that counts: 北区's correction has 2 places, not 106 (warnings).
    assert _query(
        settings,
        "select column_name, severity from audit.dq_results where suite = 'history' "
        "and run_id = ? and file_name = 'R6_北区_居場所_修正.csv' order by 1",
        summary.run_id,
    ) == [("participants", "warning"), ("places", "warning"), ("sessions", "warning")]
    assert findings == [
        ("R6_北区_居場所_修正.csv", "participants_without_sessions", "error", "3"),
        ("R7_中央区_居場所.csv", "participants_without_sessions", "error", "7"),
        ("R7_中央区_居場所.csv", "sessions_per_year", "warning", "6"),
    ]
    report = (settings.reports / "overview.html").read_text(encoding="utf-8")
    assert "確認待ちのファイル" in report and "R7_中央区_居場所.csv" in report

    # Staff confirm 中央区's values with the ward and release it; 北区 stays held.
    refused = welfare_cli(settings.home, "release", "R7_中央区_居場所.csv", "--by", "山田")
    assert refused.returncode == 2  # --reason is required
    released = welfare_cli(
        settings.home,
        "release",
        "R7_中央区_居場所.csv",
        "--by",
        "市社協 山田",
        "--reason",
        "C-9は休止中で参加者は見学者と区に確認",
    )
    assert released.returncode == 0, released.stderr
    with pytest.raises(ReleaseError, match="already released"):
        release_submission(settings, "R7_中央区_居場所.csv", "山田", "x")
    after = run_pipeline(settings)
    assert after.success and after.published and after.files.empty
    assert _query(
        settings,
        "select places from marts.place_counts_by_ward where ward_name = '中央区' "
        "and fiscal_year = 2025",
    ) == [(6,)]
    assert _query(settings, KITA_2024) == kita_places
    assert _query(
        settings,
        "select status, is_current, released_by, release_reason from audit.submissions "
        "where file_name = 'R7_中央区_居場所.csv'",
    ) == [("loaded", True, "市社協 山田", "C-9は休止中で参加者は見学者と区に確認")]
    assert _query(
        settings,
        "select status from marts.submission_status where submitter_name = '中央区' "
        "and source = 'ibasho_survey' and fiscal_year = 2025",
    ) == [("received",)]


def test_validate_says_a_file_would_be_held(tmp_path):
    path = write_csv(
        tmp_path / "R6_中央区_居場所.csv",
        [
            HEADER,
            *[f"R6,中央区,森之宮,C-{n},サロン{n},高齢者サロン,12,240" for n in range(3)],
            "R6,中央区,森之宮,C-9,休止サロン,高齢者サロン,0,50",
        ],
    )
    result = welfare_cli(tmp_path / "home", "validate", str(path))
    assert result.returncode == 1
    assert "would be HELD" in result.stdout and "行 rows: 5" in result.stdout
    assert not (tmp_path / "home").exists()


def test_a_failed_mart_suite_leaves_the_published_warehouse_byte_for_byte(published_home):
    """A broken build (a ward with no places in the working database) stops publishing."""
    copy = published_home
    published = copy.warehouse.read_bytes()
    with duckdb.connect(str(copy.working_db)) as db:
        db.execute("update marts.place_counts_by_ward set places = 0 where ward_name = '北区'")
    result = check_then_publish(copy, ["marts", "place_counts_by_ward"], "gx_place_counts_by_ward")
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed and "提出した区は1か所以上" in evaluation.description
    assert "令和6年度_北区_居場所.csv" in evaluation.description  # the file behind it
    assert not any(e.asset_key == PUBLISHED_KEY for e in result.get_asset_materialization_events())
    assert copy.warehouse.read_bytes() == published


def test_release_job_in_dagster_records_the_release(published_home):
    """The same release from the Dagster UI's launchpad: a job with config."""
    from pipelines.ingest.lake import Lake
    from pipelines.ingest.release import releases

    settings = published_home
    ward_file(
        settings, "R7_北区_居場所.csv", ["R7,北区,曽根崎地域,K-2,休止サロン,高齢者サロン,0,35"]
    )
    from pipelines.ingest.contract import load_contract
    from pipelines.intake.ingest import ingest_source

    [outcome] = ingest_source(settings, load_contract("ibasho_survey"))
    assert outcome.status == "held"
    defs = build_definitions(settings)
    config = {
        "submission": "R7_北区_居場所.csv",
        "released_by": "市社協 田中",
        "reason": "確認済み",
    }
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("release_job").execute_in_process(
            instance=instance,
            run_config={"ops": {"release_submission": {"config": config}}},
        )
    assert result.success
    [release] = releases(Lake(settings.lake)).to_dict("records")
    assert release["sha256"] == outcome.sha256 and release["released_by"] == "市社協 田中"
    assert "「延べ参加者数」" in release["findings"]
