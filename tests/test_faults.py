"""Faults an operator meets: a damaged or lost lake, and a full disk (kills: test_operations)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest.lake import Lake
from pipelines.operations.pause_points import PAUSE_AT, PAUSE_DIR
from pipelines.runner import run_pipeline
from pipelines.settings import Settings
from pipelines.workspace import reason_to_run, write_dagster_yaml
from tests.conftest import SEED, ward_file, welfare_cli

pytestmark = pytest.mark.slow

NEXT_YEAR = "R7_北区_居場所.csv"


def lake_rows(settings: Settings) -> dict[str, list[tuple]]:
    """Every row of every source table of the lake, and the ledger without its run-specific
    columns: what the marts are built from."""
    tables = {}
    with duckdb.connect() as db:
        for table in ("ibasho_survey", "facility_initiatives", "consultations", "plan_indicators"):
            tables[table] = db.execute(
                f"select * from read_parquet('{settings.lake}/{table}/*.parquet', "
                "union_by_name = true) order by all"
            ).fetchall()
        tables["submissions"] = db.execute(
            "select * exclude (lake_files) from "
            f"read_parquet('{settings.lake}/submissions/*.parquet', union_by_name = true) "
            "order by all"
        ).fetchall()
        tables["quarantined_rows"] = db.execute(
            f"select * from read_parquet('{settings.lake}/quarantined_rows/*.parquet') order by all"
        ).fetchall()
    return tables


@pytest.fixture
def small_disk(published_home, tmp_path):
    """The published sample's WELFARE_HOME on a file system of its own, 200 MB bigger than
    it (a tmpfs: mounting one needs root)."""
    if os.geteuid() != 0:
        pytest.skip("a small file system for the full-disk test needs root (mount -t tmpfs)")
    used = sum(p.stat().st_size for p in published_home.home.rglob("*") if p.is_file())
    mount = tmp_path / "small_disk"
    mount.mkdir()
    size = used // 2**20 + 200
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}m", "tmpfs", str(mount)], check=True)
    try:
        home = Settings(mount / "welfare_home")
        shutil.copytree(published_home.home, home.home, symlinks=True)
        write_dagster_yaml(home)
        yield home
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(settings: Settings, leave: int = 0) -> Path:
    """Take the disk's free space, but ``leave`` bytes."""
    filler = settings.home.parent / "filler"
    free = shutil.disk_usage(settings.home).free
    subprocess.run(["fallocate", "-l", str(max(free - leave, 4096)), str(filler)], check=True)
    return filler


def damage(home: Settings) -> list[Path]:
    """Three kinds of damage a failing disk leaves: a truncated rows file, an unreadable ledger
    entry, a lost record."""
    ledger = Lake(home.lake).ledger()
    loaded = ledger[ledger["status"] == "loaded"]
    ibasho = loaded[loaded["source"] == "ibasho_survey"]["sha256"].iloc[0]
    rows_file = home.lake / "ibasho_survey" / f"{ibasho}.parquet"
    rows_file.write_bytes(rows_file.read_bytes()[:100])
    consultations = loaded[loaded["source"] == "consultations"]["entry_id"].iloc[0]
    entry_file = home.lake / "submissions" / f"{consultations}.parquet"
    entry_file.write_bytes(b"PAR1 not a ledger entry")
    record = next((home.lake / "dq_results").glob("*__*.parquet"))
    record.unlink()
    return [rows_file, entry_file, record]


def test_a_full_disk_is_one_line_and_the_lake_is_rebuilt_from_the_archive(small_disk, tmp_path):
    """A full disk before and during a run; the damage it left in the lake is repaired by the
    next run, which publishes what an undisturbed run publishes; then the whole lake is lost
    and `welfare rebuild-lake` derives it again from the archive."""
    home = small_disk
    published = home.warehouse.read_bytes()
    sample_lake = lake_rows(home)
    ward_file(home, NEXT_YEAR, ["R7,北区,曽根崎地域,K7-1,サロン1,高齢者サロン,12,240"])

    # Before writing: the run sees it would not fit, and says so in one line.
    filler = fill(home, leave=2 * 2**20)
    refused = welfare_cli(home.home, "run")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr
    [line] = [x for x in refused.stderr.splitlines() if x.strip()]
    assert line.startswith(f"DISK FULL: {home.home} has 2 MB free and a run needs about")
    filler.unlink()

    # While writing: the disk fills up once the run has started reading the new file.
    pauses = tmp_path / "pauses"
    env = {**os.environ, "WELFARE_HOME": str(home.home), PAUSE_AT: "ingest.reading"}
    env[PAUSE_DIR] = str(pauses)
    run = subprocess.Popen(
        [str(Path(sys.executable).with_name("welfare")), "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (pauses / "ingest.reading").exists():
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.2)
    filler = fill(home)
    (pauses / "ingest.reading").unlink()  # go on, onto a full disk
    out, err = run.communicate(timeout=180)
    assert run.returncode == 3, out + err
    assert "Traceback" not in out + err
    assert "DISK FULL" in out + err and "has 0 MB free" in out + err
    assert home.warehouse.read_bytes() == published

    # Space freed, but lake files were damaged meanwhile. The next run rebuilds them from the
    # archive, says so, takes the new file in once and publishes what an undisturbed run does.
    filler.unlink()
    damaged = damage(home)
    assert "lake file(s) to rebuild" in (reason_to_run(home) or "")
    summary = run_pipeline(home)
    assert summary.success and summary.published, summary.failed_steps
    repaired = "\n".join(summary.repairs)
    for path in damaged:
        assert path.relative_to(home.lake).as_posix() in repaired
    with duckdb.connect(str(home.warehouse), read_only=True) as db:
        by_year = dict(
            db.execute(
                "select fiscal_year, sum(places) from marts.place_counts group by 1"
            ).fetchall()
        )
    assert by_year == {**SEED.places, 2025: 1}
    repaired_lake = lake_rows(home)
    for table, rows in sample_lake.items():
        assert set(rows) <= set(repaired_lake[table]), table
    assert len(repaired_lake["submissions"]) == len(sample_lake["submissions"]) + 1

    # The whole lake lost: `welfare rebuild-lake` derives it again from the archive alone, and
    # it is the lake the published warehouse was built from.
    shutil.rmtree(home.lake)
    rebuilt = welfare_cli(home.home, "rebuild-lake")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "94 received file(s) derived again (93 loaded, 1 rejected)" in rebuilt.stdout
    assert lake_rows(home) == repaired_lake
    assert reason_to_run(home) is None
