"""The ledger: every file received is archived and accounted for; same bytes are a no-op."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.foundation.disk import (
    disk_line_in,
    disk_message,
    disk_trouble,
    is_disk_error,
    out_of_inodes,
)
from pipelines.foundation.hashing import sha256_of
from pipelines.foundation.settings import Settings
from pipelines.ingest.contract import all_contracts, load_contract
from pipelines.ingest.lake import Lake
from pipelines.intake.ingest import ingest_source
from tests.conftest import copy_sample, xlsx_bytes

IBASHO = load_contract("ibasho_survey")
KITA_2024 = "令和6年度_北区_居場所.csv"


def test_a_new_file_is_archived_read_and_entered_in_the_ledger(home):
    landed = copy_sample(home, "ibasho_survey", KITA_2024)
    Lake(home.lake).initialize(all_contracts())
    [outcome] = ingest_source(home, IBASHO)
    sha = sha256_of(landed)
    assert (home.archive / f"{sha}.csv").read_bytes() == landed.read_bytes()
    assert (
        pq.read_table(home.lake / "ibasho_survey" / f"{sha}.parquet").num_rows
        == outcome.rows_loaded
    )
    ledger = Lake(home.lake).ledger()
    assert ledger.loc[0, "status"] == "loaded" and ledger.loc[0, "submitter_name"] == "北区"
    assert (
        ledger.loc[0, "rows_read"]
        == outcome.rows_loaded + outcome.rows_quarantined + outcome.rows_skipped
    )


def test_a_file_named_in_cp932_by_a_windows_zip_is_taken_in_under_that_name(home):
    """A zip made on Japanese Windows, unpacked here, leaves names that are not UTF-8: every
    run stopped on them (hashing the name). The file is renamed to its CP932 name, once."""
    landed = copy_sample(home, "ibasho_survey", KITA_2024)
    raw = os.fsencode(landed.parent) + b"/" + KITA_2024.encode("cp932")
    os.rename(landed, raw)
    # ... and a folder named so, with a file in it
    folder = os.fsencode(landed.parent) + b"/" + "提出分".encode("cp932")
    os.mkdir(folder)
    other = copy_sample(home, "ibasho_survey", "令和5年度_中央区_居場所.csv")
    os.rename(other, folder + b"/" + other.name.encode("utf-8"))
    Lake(home.lake).initialize(all_contracts())
    outcomes = ingest_source(home, IBASHO)
    assert sorted(o.file_name for o in outcomes) == sorted([KITA_2024, other.name])
    assert all(o.status == "loaded" for o in outcomes)
    assert landed.exists() and not os.path.exists(raw)
    assert (landed.parent / "提出分" / other.name).exists()
    assert ingest_source(home, IBASHO) == []  # taken in once


def test_running_again_changes_nothing_and_same_bytes_under_a_new_name_are_a_duplicate(home):
    copy_sample(home, "ibasho_survey", KITA_2024)
    ingest_source(home, IBASHO)
    assert ingest_source(home, IBASHO) == []
    copy_sample(home, "ibasho_survey", KITA_2024, "北区_再送.csv")
    [again] = ingest_source(home, IBASHO)
    assert again.status == "duplicate"
    ledger = Lake(home.lake).ledger()
    assert sorted(ledger["status"]) == ["duplicate", "loaded"]
    assert len(list((home.lake / "ibasho_survey").glob("*.parquet"))) == 1


def test_a_crash_before_the_ledger_entry_leaves_the_file_to_be_read_again(home):
    """A crash mid-file leaves lake rows with no ledger entry; the next run reads the file again
    and the models only count rows whose submission has a ledger entry."""
    landed = copy_sample(home, "ibasho_survey", KITA_2024)
    sha = sha256_of(landed)
    orphan = home.lake / "ibasho_survey" / f"{sha}.parquet"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"half-written")  # what a kill -9 during the write could leave
    [outcome] = ingest_source(home, IBASHO)
    assert outcome.status == "loaded"
    assert pq.read_table(orphan).num_rows == outcome.rows_loaded
    assert len(Lake(home.lake).ledger()) == 1


def test_a_rejected_file_is_archived_and_entered_with_its_reason(home):
    copy_sample(home, "ibasho_survey", "R6_西成区_居場所活動調査_修正版.csv")
    [outcome] = ingest_source(home, IBASHO)
    assert outcome.status == "rejected" and "西成区" in outcome.reason
    ledger = Lake(home.lake).ledger()
    assert ledger.loc[0, "reason"] == outcome.reason
    assert ledger.loc[0, "rows_rejected"] == ledger.loc[0, "rows_read"]
    assert not (home.lake / "ibasho_survey" / f"{outcome.sha256}.parquet").exists()
    assert (home.archive / f"{outcome.sha256}.csv").exists()


def test_a_file_too_large_to_read_is_archived_unread_and_rejected_with_a_reason(home):
    """A workbook past the stated limit (a large CSV is read in slices: tests/test_large_csv)
    is never read into memory: it is archived as it came, entered in the ledger as rejected,
    and `welfare validate` says why before it is sent."""
    from pipelines.ingest.cells import MAX_FILE_BYTES
    from pipelines.intake.validation import validate_file

    huge = home.landing_for("ibasho_survey") / "R6_北区_居場所_全件.xlsx"
    with huge.open("wb") as handle:
        handle.write(xlsx_bytes({"データ": [["年度", "区名", "地域名", "活動ID", "活動名称"]]}))
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: the size without the disk
    [outcome] = ingest_source(home, IBASHO)
    assert outcome.status == "rejected" and "200MB" in outcome.reason and outcome.rows_read == 0
    archived = home.archive / f"{outcome.sha256}.xlsx"
    assert archived.stat().st_size == huge.stat().st_size
    assert Lake(home.lake).ledger().loc[0, "status"] == "rejected"
    report = validate_file(huge)
    assert report.result.status == "rejected" and report.contract.key == "ibasho_survey"


def test_reading_the_next_batch_while_one_is_checked_changes_nothing(home, tmp_path, monkeypatch):
    """Ingestion reads a batch (on the worker pool) while it checks and writes the one before:
    the outcomes, their order and the ledger are those of taking in one batch at a time."""
    from pipelines.intake import ingest as intake
    from pipelines.intake import parallel_read

    names = [
        "2022_Chuo_ibasho.csv",
        "2022_Nishi_ibasho.csv",  # quarantined rows
        "R6_西成区_居場所活動調査_修正版.csv",  # rejected: its rows say another ward
        "令和6年度_北区_居場所.csv",  # a warning of its suite
        "2023_Kita_ibasho.csv",
        "FY2022_Hirano-ku_places.xlsx",
    ]
    monkeypatch.setattr(intake, "BATCH_FILES", 2)  # three batches
    monkeypatch.setattr(parallel_read, "PARALLEL_BYTES", 0)  # each read by the pool

    def take_in(settings, read_ahead: int):
        monkeypatch.setattr(intake, "READ_AHEAD", read_ahead)
        for name in names:
            copy_sample(settings, "ibasho_survey", name)
        copy_sample(settings, "ibasho_survey", names[0], "2022_Chuo_再送.csv")  # a duplicate
        Lake(settings.lake).initialize(all_contracts())
        outcomes = ingest_source(settings, IBASHO)
        ledger = Lake(settings.lake).ledger()
        rows = {p.name: pq.read_table(p) for p in (settings.lake / "ibasho_survey").iterdir()}
        # when and where it was received, and its check results' files (they name the run)
        ledger = ledger.drop(columns=["received_at", "archive_path", "lake_files"])
        return outcomes, ledger.sort_values("entry_id").reset_index(drop=True), rows

    ahead, ahead_ledger, ahead_rows = take_in(home, read_ahead=1)
    one_by_one, ledger, rows = take_in(Settings(tmp_path / "one_by_one").ensure(), read_ahead=0)
    assert ahead == one_by_one
    assert [o.status for o in ahead].count("rejected") == 1
    assert [o.status for o in ahead].count("duplicate") == 1
    assert [o.file_name for o in ahead] == sorted([*names, "2022_Chuo_再送.csv"])
    assert ahead_ledger.equals(ledger)
    assert ahead_rows.keys() == rows.keys()
    assert all(ahead_rows[name].equals(table) for name, table in rows.items())


def test_a_disk_error_is_named_for_what_the_operator_must_do(home):
    """The one line names the trouble: a disk short of space is full whatever its error said
    (SQLite says "disk I/O error" on a full disk), an I/O error with room to spare is a failing
    disk (the read-only mount: tests/test_operations.py)."""
    io_error = "OSError: [Errno 5] Input/output error: 'lake/x.parquet'"
    assert disk_message(home, needed=2**70, detail="disk I/O error").startswith(
        f"DISK FULL: {home.home} has "
    )
    failing = disk_message(home, needed=1, detail=io_error)
    assert failing.startswith(f"DISK ERROR: writing under {home.home} failed ({io_error})")
    assert "ディスクを点検" in failing
    assert disk_message(home, needed=1, detail="").startswith("DISK FULL")
    # It says which command to run again: the one that met the disk's trouble.
    assert "run `welfare run` again" in disk_message(home, needed=2**70)
    assert "run `welfare prepare` again" in disk_message(home, 2**70, again="welfare prepare")
    # DuckDB's words for a failing disk; "no space left" with room to spare (inodes, a quota).
    duckdb_io = 'IO Error: Could not write file "x": Input/output error'
    assert disk_message(home, needed=1, detail=duckdb_io).startswith("DISK ERROR")
    assert is_disk_error(duckdb.IOException(duckdb_io))
    no_inodes = disk_message(home, needed=1, detail="OSError: [Errno 28] No space left on device")
    assert no_inodes.startswith(f"DISK FULL: {home.home} has ") and "df -i" in no_inodes
    # A step that failed with one of these lines: the run's summary gives the line as it is.
    assert disk_line_in(f"Failure: {failing}\nmore") == failing


@pytest.mark.skipif(os.geteuid() != 0, reason="a file system of its own needs root (tmpfs)")
def test_a_disk_out_of_inodes_is_the_disks_trouble_whatever_sqlite_calls_it(tmp_path):
    """Out of inodes, SQLite (Dagster's run history) says only 'unable to open database
    file', with bytes to spare: that is the disk's trouble, told as such (it was a traceback)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,nr_inodes=40", "tmpfs", str(disk)], check=True
    )
    try:
        home = Settings(disk / "welfare_home")
        home.home.mkdir()
        with pytest.raises(OSError):  # take every inode
            for n in range(100):
                (disk / f"f{n}").touch()
        assert out_of_inodes(home.home) and shutil.disk_usage(disk).free > 2**20
        unopened = sqlite3.OperationalError("unable to open database file")
        assert disk_trouble(unopened, home.home)
        assert "df -i" in disk_message(home, needed=1, detail=str(unopened))
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
