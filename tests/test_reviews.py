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
from pipelines.warehouse.vintages import amended_years
from tests.conftest import ward_file, write_csv

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

    # Released, it counts for FY2024 (the year is closed again on it); returned, then approved
    # again, it would come back into figures closed without it: reopen first.
    release_submission(settings, "R6_福島区_居場所_v3.csv", "山田", "電話で確認")
    assert list(amended_years(settings)) == [2024]  # its figures change with the next run
    review_submission(settings, "R6_福島区_居場所_v3.csv", RETURNED, "山田", "やはり違います")
    # Returned, it counts for nothing: FY2024 is not amended, its figures stay guarded.
    assert amended_years(settings) == {}
    with pytest.raises(ReviewError, match="reopen-year 2024"):
        review_submission(settings, "R6_福島区_居場所_v3.csv", APPROVED, "佐藤")


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


CONSULTATIONS_HEADER = "受付番号,受付日,受付方法,相談者区分,相談内容,居住区,対応時間（分）"


def export(settings: Settings, name: str, *rows: tuple[str, str]) -> None:
    write_csv(
        settings.landing_for("consultations") / name,
        [CONSULTATIONS_HEADER, *(f"{n},{day},電話,個人,活動したい,北区,30" for n, day in rows)],
    )


def test_a_consultation_export_that_bears_on_a_closed_year_is_neither_returned_nor_approved(
    tmp_path,
):
    """Exports received before FY2023 closed, their months in FY2024, one of their
    consultations (V-1) given in FY2023 by another export: returning the one that counts would
    bring the older version back into FY2023; approving the returned correction would take
    V-1 out of it again. Both would move the closed figures: reopen the year first. An export
    whose consultations all lie in open years is reviewed as any file."""
    settings = Settings(tmp_path / "home").ensure()
    export(settings, "相談記録_2024-03.csv", ("V-1", "2024/3/28"))
    export(settings, "相談記録_2024-04.csv", ("V-1", "2024/4/2"), ("V-2", "2024/4/3"))
    export(settings, "相談記録_2024-04_訂正.csv", ("V-1", "2024/4/5"))
    export(settings, "相談記録_2024-05.csv", ("V-3", "2024/5/7"))
    ingest_source(settings, load_contract("consultations"))
    for name in ("相談記録_2024-04_訂正.csv", "相談記録_2024-05.csv"):
        review_submission(settings, name, RETURNED, "山田", "日付を確認")
    record_closing(settings, 2023, "山田", "年次報告", "FY2023-closed-test", files=[])
    for name, decision in (
        ("相談記録_2024-04.csv", RETURNED),
        ("相談記録_2024-04_訂正.csv", APPROVED),
    ):
        with pytest.raises(ReviewError, match="reopen-year 2023"):
            review_submission(settings, name, decision, "佐藤", "確認")
    # A late export's FY2023 row of V-3 is held back by the closing: it does not make the May
    # export bear on FY2023.
    export(settings, "相談記録_2024-03_追加.csv", ("V-3", "2024/3/20"))
    ingest_source(settings, load_contract("consultations"))
    approved = review_submission(settings, "相談記録_2024-05.csv", APPROVED, "佐藤")
    assert approved.decision == APPROVED
