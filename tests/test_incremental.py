"""Consultations are built incrementally: a new export recomputes only the consultations it
touches, the newest export still wins exactly, and a full rebuild gives the same tables. The
same run takes in the benchmark in small (`make benchmark`, tests/benchmarks/bench_job.py):
its generator's exports, whose published marts must equal its truth; then nothing is new."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from pipelines.defs.runner import run_pipeline
from pipelines.defs.summary import RunSummary
from pipelines.foundation.settings import EngineSettings, Settings
from pipelines.warehouse.build_plan import begin_build, record_build, whole_build_reason
from pipelines.warehouse.duckdb_publish import published_tables
from tests.benchmarks.bench_job import generate, published_counts
from tests.conftest import copy_home, write_csv

HEADER = "受付番号,受付日,受付方法,相談者区分,相談者氏名,電話番号,メールアドレス,相談内容,居住区,対応時間（分）"
CURRENT = "intermediate.int_consultations_current"
COMPILED = "run/welfare_warehouse/models/intermediate/int_consultations_current.sql"
VOLUMES_SQL = "run/welfare_warehouse/models/marts/consultation_volumes.sql"
TESTS = "compiled/welfare_warehouse/models/{folder}/_{folder}.yml/{test}.sql"
UNIQUE = ("intermediate", "unique_int_consultations_current_consultation_id")
ACCEPTED = ("staging", "accepted_values_stg_consultations_topic_*")  # dbt names it so
# The benchmark: 1,000,000 and 10,000,000 rows in 120 months from April 2015; here 12,000 in
# twelve (FY2015, a year the sample does not have), 1,000 a month.
BENCH_ROWS, BENCH_MONTHS = 12_000, 12
PER_MONTH = BENCH_ROWS // BENCH_MONTHS
BENCH_IDS = {
    f"B{n:09d}" for m in range(BENCH_MONTHS) for n in range(m * PER_MONTH, (m + 1) * PER_MONTH)
}


def consultations(settings: Settings) -> dict[str, dict]:
    """Each consultation as the working database holds it, by 受付番号."""
    with duckdb.connect(str(settings.working_db), read_only=True) as db:
        frame = db.execute(f"select * exclude (sha256, source_row) from {CURRENT}").df()
    return {row["consultation_id"]: row for row in frame.to_dict("records")}


def published(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as db:
        return db.execute(sql).fetchall()


def built_by(settings: Settings, run_id: str, model: str = COMPILED) -> str:
    """What dbt ran for a model (int_consultations_current) in that run (insert: an
    increment)."""
    return (settings.dbt_target_dir / "runs" / run_id / model).read_text(encoding="utf-8")


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


def published_contents(database: Path) -> dict[str, list[tuple]]:
    """Every published table's rows (marts and audit), in order, but the records of
    publishing and checking themselves (each run adds its own)."""
    own = {("audit", "publishes"), ("audit", "dq_results")}
    with duckdb.connect(str(database), read_only=True) as db:
        return {
            f"{schema}.{name}": sorted(
                db.execute(f'select * from "{schema}"."{name}"').fetchall(), key=repr
            )
            for schema, name in published_tables(db)
            if (schema, name) not in own
        }


VOLUMES = "select * from marts.consultation_volumes order by all"
BY_YEAR = (
    "select fiscal_year, sum(consultations) from marts.consultation_volumes group by 1 order by 1"
)


@dataclass(frozen=True)
class Increment:
    settings: Settings
    before: dict[str, dict]  # the sample's consultations
    truth: Counter  # the benchmark exports' consultations by month, channel, requester, topic
    bench_files: frozenset[str]
    summary: RunSummary


@pytest.fixture(scope="module")
def increment(sample_run, tmp_path_factory) -> Increment:
    """The published sample (a copy), then one run: the volunteer centre exports April again,
    later than every file (V2024-0055 corrected: another topic; V2024-0056 as it was;
    V2024-0057's 受付日 corrected into April 2025, another fiscal year; one consultation of May
    2025, FY2025), and the benchmark's twelve exports arrive."""
    settings = copy_home(sample_run[0].home, tmp_path_factory.mktemp("increment") / "home")
    before = consultations(settings)
    assert published(settings, BY_YEAR) == [(2023, 702), (2024, 754)]
    export = write_csv(
        settings.landing_for("consultations") / "相談記録_2024-04_再出力.csv",
        [
            HEADER,
            "V2024-0055,2024-04-24,来所,企業,﨑山商店,06-6940-7062,a@example.jp,団体運営,福島区,20分",
            "V2024-0056,2024-04-25,電話,個人,山本 花子,06-6056-7710,b@example.jp,福祉教育・研修,"
            "鶴見区,20分",
            "V2024-0057,2025-04-01,来所,個人,田中 次郎,06-0000-0001,d@example.jp,活動したい,北区,30分",
            "V2025-9001,2025-05-07,メール,学校・教育機関,鈴木 一郎,06-0000-0000,c@example.jp,"
            "活動したい,北区,15",
        ],
        encoding="cp932",
    )
    later = time.time() + 60
    os.utime(export, (later, later))
    # CP932 and UTF-8 with BOM, 和暦 and Western dates, personal data: as `make benchmark`.
    files, truth = generate(settings.home.parent / "bench", BENCH_ROWS, BENCH_MONTHS)
    for path in files:
        shutil.copy2(path, settings.landing_for("consultations") / path.name)
    names = frozenset(path.name for path in files)
    return Increment(settings, before, truth, names, run_pipeline(settings))


@pytest.mark.background  # two pipeline runs: beside the main suite in `make test`
def test_a_new_export_recomputes_only_what_it_touches_and_equals_a_full_rebuild(increment):
    settings, before, increment = increment.settings, increment.before, increment.summary
    assert increment.success and increment.published, increment.failed_steps
    # dbt's paths were this home's for the run's dbt step only: the next home's run in this
    # process starts from its own.
    assert "WELFARE_WORKING_DB" not in os.environ and "WELFARE_LAKE_URI" not in os.environ
    # A copied home: its views name the lake relative to where the build finds it (the
    # profile's file_search_path), never a place: they read the copy's own lake, which alone
    # holds the benchmark's exports.
    with duckdb.connect(str(settings.working_db), read_only=True) as db:
        views = db.execute("select view_name, sql from duckdb_views() where not internal")
        named = [
            (name, path)
            for name, sql in views.fetchall()
            for path in re.findall(r"read_parquet\('([^']*)'", sql)
        ]
        assert named and [(n, p) for n, p in named if Path(p).is_absolute()] == []
        db.execute(f"set file_search_path = '{settings.lake}'")
        staged = db.execute("select count(*) from staging.stg_consultations").fetchone()[0]
        assert staged >= BENCH_ROWS + len(before)
    # Built as an increment: the new export's consultations chosen again, appended; the
    # mart counts again only the months they fall in (April 2024 too: V2024-0057 left it).
    assert built_by(settings, increment.run_id).lstrip().startswith("insert into")
    assert built_by(settings, increment.run_id, VOLUMES_SQL).lstrip().startswith("insert into")
    after = consultations(settings)
    sample_after = {k: v for k, v in after.items() if k not in BENCH_IDS}
    assert after["V2024-0055"]["topic"] == "団体運営"  # the newest export's version wins
    assert after["V2024-0056"] == before["V2024-0056"]
    assert after["V2025-9001"]["fiscal_year"] == 2025
    # A consultation counts once, in the year of its newest version (its reconciliation used
    # to count it in both years, and every run failed from then on).
    assert after["V2024-0057"]["fiscal_year"] == 2025
    corrected = ("V2024-0055", "V2024-0057", "V2025-9001")
    assert {k: v for k, v in sample_after.items() if k not in corrected} == {
        k: v for k, v in before.items() if k not in corrected
    }
    assert published(settings, BY_YEAR) == [(2015, 12_000), (2023, 702), (2024, 753), (2025, 2)]
    volumes = published(settings, VOLUMES)
    # Its tests read what it changed: the consultations of the new exports, and the staging
    # rows of the exports the last build did not count.
    assert chosen_again(settings) == {
        (consultation, False)
        for consultation in ("V2024-0055", "V2024-0056", "V2024-0057", "V2025-9001", *BENCH_IDS)
    }
    assert "int_consultations_current__changed" in sql_of_test(settings, increment.run_id, UNIQUE)
    assert "int_consultations_current__exports" in sql_of_test(settings, increment.run_id, ACCEPTED)

    # `welfare run --full-refresh`: everything rebuilt whole, the same tables — every table
    # analysts get (the inputs are those of the published version, so the whole build is not
    # published again: its tables are compared where it built them, in the working database).
    built_by_changes = published_contents(settings.warehouse)
    assert built_by_changes["marts.consultation_volumes"] == sorted(volumes, key=repr)
    full = run_pipeline(settings, full_refresh=True)
    assert full.success, full.failed_steps
    assert built_by(settings, full.run_id).lstrip().startswith("create")
    assert built_by(settings, full.run_id, VOLUMES_SQL).lstrip().startswith("create")
    assert consultations(settings) == after
    assert published_contents(settings.working_db) == built_by_changes
    # ... and tested whole.
    assert chosen_again(settings) == {(None, True)}
    for test in (UNIQUE, ACCEPTED):
        assert "__changed" not in sql_of_test(settings, full.run_id, test)
        assert "__exports" not in sql_of_test(settings, full.run_id, test)


@pytest.mark.background
def test_the_benchmark_in_small_equals_its_truth_and_nothing_new_skips(increment):
    """What `make benchmark` measures rests on this: its exports through the whole job give
    marts equal to its truth (month × channel × requester × topic), and a run with nothing
    new skips (no dbt build, no suite) and changes nothing. The timings are the benchmark's."""
    settings = increment.settings
    files = increment.summary.files
    bench = files[files["file_name"].isin(increment.bench_files)]
    assert len(bench) == BENCH_MONTHS and set(bench["status"]) == {"loaded"}
    assert bench["rows_loaded"].sum() == sum(increment.truth.values()) == len(BENCH_IDS)
    fy2015 = {k: v for k, v in published_counts(settings.home).items() if k[0] < "2016-04"}
    assert fy2015 == increment.truth

    published_bytes = settings.warehouse.read_bytes()
    again = run_pipeline(settings)
    assert again.success and again.skipped
    assert settings.warehouse.read_bytes() == published_bytes


def test_a_build_that_fails_or_stops_makes_the_next_one_whole(tmp_path):
    """Tests of an increment trust the rows kept to have passed the build that wrote them: a
    build that begins forgets what built the working database until it succeeds."""
    settings = Settings(tmp_path / "home")
    settings.work_dir.mkdir(parents=True)
    settings.working_db.write_bytes(b"")
    record_build(settings, begin_build(settings))
    assert whole_build_reason(settings) is None  # the next build may be an increment ...
    begun = begin_build(settings)
    assert "last build failed" in whole_build_reason(settings)  # ... the next one, if it fails
    record_build(settings, begun)  # it succeeded
    assert whole_build_reason(settings) is None
    assert whole_build_reason(settings, requested=True) == "asked for (welfare run --full-refresh)"
    # The same home built on a cluster: its build schemas there were never built from it.
    spark = dataclasses.replace(settings, engine=EngineSettings(kind="spark"))
    assert "the engine changed" in whole_build_reason(spark)
