"""Consultations are built incrementally: a new export recomputes only the consultations it
touches, the newest export still wins exactly, and a full rebuild gives the same tables."""

from __future__ import annotations

import os
import time

import duckdb
import pytest

from pipelines.runner import run_pipeline
from pipelines.settings import Settings
from pipelines.warehouse.incremental import begin_build, full_refresh_reason, record_build
from tests.conftest import write_csv

HEADER = "受付番号,受付日,受付方法,相談者区分,相談者氏名,電話番号,メールアドレス,相談内容,居住区,対応時間（分）"
CURRENT = "intermediate.int_consultations_current"
COMPILED = "run/welfare_warehouse/models/intermediate/int_consultations_current.sql"
TESTS = "compiled/welfare_warehouse/models/{folder}/_{folder}.yml/{test}.sql"
UNIQUE = ("intermediate", "unique_int_consultations_current_consultation_id")
ACCEPTED = ("staging", "accepted_values_stg_consultations_topic_*")  # dbt names it so


def consultations(settings: Settings) -> dict[str, dict]:
    """Each consultation as the working database holds it, by 受付番号."""
    with duckdb.connect(str(settings.working_db), read_only=True) as db:
        frame = db.execute(f"select * exclude (submission_id, source_row) from {CURRENT}").df()
    return {row["consultation_id"]: row for row in frame.to_dict("records")}


def published(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as db:
        return db.execute(sql).fetchall()


def built_by(settings: Settings, run_id: str) -> str:
    """What dbt ran for int_consultations_current in that run (insert: an increment)."""
    return (settings.dbt_target_dir / "runs" / run_id / COMPILED).read_text(encoding="utf-8")


def sql_of_test(settings: Settings, run_id: str, test: tuple[str, str]) -> str:
    """The SQL of a data test in that run."""
    folder, name = test
    [path] = (settings.dbt_target_dir / "runs" / run_id).glob(
        TESTS.format(folder=folder, test=name)
    )
    return path.read_text(encoding="utf-8")


def chosen_again(settings: Settings) -> set[tuple]:
    with duckdb.connect(str(settings.working_db), read_only=True) as db:
        return set(db.execute(f"select * from {CURRENT}__changed").fetchall())


VOLUMES = "select * from marts.consultation_volumes order by all"
BY_YEAR = (
    "select fiscal_year, sum(consultations) from marts.consultation_volumes group by 1 order by 1"
)


@pytest.mark.background  # two pipeline runs: beside the main suite in `make test`
def test_a_new_export_recomputes_only_what_it_touches_and_equals_a_full_rebuild(published_home):
    settings = published_home
    before = consultations(settings)
    assert published(settings, BY_YEAR) == [(2023, 702), (2024, 754)]
    # The volunteer centre exports April again, later than every file: V2024-0055 corrected
    # (another topic), V2024-0056 as it was, and one consultation of May 2025 (FY2025).
    export = write_csv(
        settings.landing_for("consultations") / "相談記録_2024-04_再出力.csv",
        [
            HEADER,
            "V2024-0055,2024-04-24,来所,企業,﨑山商店,06-6940-7062,a@example.jp,団体運営,福島区,20分",
            "V2024-0056,2024-04-25,電話,個人,山本 花子,06-6056-7710,b@example.jp,福祉教育・研修,"
            "鶴見区,20分",
            "V2025-9001,2025-05-07,メール,学校・教育機関,鈴木 一郎,06-0000-0000,c@example.jp,"
            "活動したい,北区,15",
        ],
        encoding="cp932",
    )
    later = time.time() + 60
    os.utime(export, (later, later))

    increment = run_pipeline(settings)
    assert increment.success and increment.published, increment.failed_steps
    # Built as an increment: the new export's consultations chosen again, appended.
    assert built_by(settings, increment.run_id).lstrip().startswith("insert into")
    after = consultations(settings)
    assert after["V2024-0055"]["topic"] == "団体運営"  # the newest export's version wins
    assert after["V2024-0056"] == before["V2024-0056"]
    assert after["V2025-9001"]["fiscal_year"] == 2025
    assert {k: v for k, v in after.items() if k not in ("V2024-0055", "V2025-9001")} == {
        k: v for k, v in before.items() if k != "V2024-0055"
    }
    assert published(settings, BY_YEAR) == [(2023, 702), (2024, 754), (2025, 1)]
    volumes = published(settings, VOLUMES)
    # Its tests read what it changed: the three consultations of the new export, and the
    # staging rows of the export the last build did not count.
    assert chosen_again(settings) == {
        ("V2024-0055", False),
        ("V2024-0056", False),
        ("V2025-9001", False),
    }
    assert "int_consultations_current__changed" in sql_of_test(settings, increment.run_id, UNIQUE)
    assert "int_consultations_current__exports" in sql_of_test(settings, increment.run_id, ACCEPTED)

    # `welfare run --full-refresh`: everything rebuilt whole, the same tables.
    full = run_pipeline(settings, full_refresh=True)
    assert full.success, full.failed_steps
    assert built_by(settings, full.run_id).lstrip().startswith("create")
    assert consultations(settings) == after
    assert published(settings, VOLUMES) == volumes
    # ... and tested whole.
    assert chosen_again(settings) == {(None, True)}
    for test in (UNIQUE, ACCEPTED):
        assert "__changed" not in sql_of_test(settings, full.run_id, test)
        assert "__exports" not in sql_of_test(settings, full.run_id, test)


def test_a_build_that_fails_or_stops_makes_the_next_one_whole(tmp_path):
    """Tests of an increment trust the rows kept to have passed the build that wrote them: a
    build that begins forgets what built the working database until it succeeds."""
    settings = Settings(tmp_path / "home")
    settings.work_dir.mkdir(parents=True)
    settings.working_db.write_bytes(b"")
    record_build(settings)
    assert full_refresh_reason(settings) is None
    assert begin_build(settings) is None  # this build may be an increment ...
    assert "last build failed" in full_refresh_reason(settings)  # ... the next one, if it fails
    record_build(settings)  # it succeeded
    assert full_refresh_reason(settings) is None
    assert begin_build(settings, requested=True) == "asked for (welfare run --full-refresh)"
