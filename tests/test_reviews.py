"""The council's review of a file (approve / return) beside closed years: a decision that would
move a closed year's figures is refused with what to do instead."""

from __future__ import annotations

import pytest

from pipelines.foundation.settings import Settings
from pipelines.ingest.closing import record_closing
from pipelines.ingest.contract import load_contract
from pipelines.ingest.release import ReleaseError, release_submission
from pipelines.ingest.review import APPROVED, RETURNED, ReviewError, review_submission
from pipelines.intake.ingest import ingest_source
from tests.conftest import ward_file

ROW = "R6,福島区,鷺洲地域,F-1,ふれあい喫茶,高齢者サロン,12,240"


def test_a_file_returned_before_its_year_closed_cannot_be_approved_until_it_reopens(tmp_path):
    settings = Settings(tmp_path / "home").ensure()
    places = load_contract("ibasho_survey")
    ward_file(settings, "R6_福島区_居場所_v2.csv", [ROW])
    ingest_source(settings, places)
    review_submission(settings, "R6_福島区_居場所_v2.csv", RETURNED, "山田", "参加者数を確認")
    # FY2024 closes without it (a returned file does not count): approving it afterwards would
    # bring its rows into the closed figures.
    record_closing(settings, 2024, "山田", "年次報告", "FY2024-closed-test", files=[])
    with pytest.raises(ReviewError, match="reopen-year 2024"):
        review_submission(settings, "R6_福島区_居場所_v2.csv", APPROVED, "佐藤")

    # A file that came after the closing is held back by the closing itself: its approval
    # moves nothing, and is recorded.
    ward_file(settings, "R6_福島区_居場所_v3.csv", [ROW.replace("240", "250")])
    ingest_source(settings, places)
    review_submission(settings, "R6_福島区_居場所_v3.csv", RETURNED, "山田", "まだ違います")
    approved = review_submission(settings, "R6_福島区_居場所_v3.csv", APPROVED, "佐藤")
    assert approved.decision == APPROVED


def test_a_held_file_of_a_closed_year_is_not_released_while_a_later_year_is_closed(tmp_path):
    """A held file did not make its year's figures: releasing it changes them, and the later
    closed year's change on the year before would move: reopen that year first."""
    settings = Settings(tmp_path / "home").ensure()
    ward_file(
        settings, "R4_住之江区_居場所.csv", ["R4,住之江区,加賀屋地域,S-1,サロン,高齢者サロン,0,240"]
    )
    [outcome] = ingest_source(settings, load_contract("ibasho_survey"))
    assert outcome.status == "held"  # participants without sessions
    for year in (2022, 2023):
        record_closing(settings, year, "山田", "年次報告", f"FY{year}-closed-test", files=[])
    with pytest.raises(ReleaseError, match="reopen FY2023 first"):
        release_submission(settings, "R4_住之江区_居場所.csv", "山田", "電話で確認")
