"""The lake derives from the archive: damage is found and rebuilt, in seconds, without a run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.ingest.contract import all_contracts, load_contract
from pipelines.ingest.lake import LEDGER_INDEX, Lake
from pipelines.ingest.lake_tables import LEDGER_SCHEMA
from pipelines.intake.ingest import ingest_source
from pipelines.intake.repair import SET_ASIDE, finish_interrupted_rebuild, lake_damage, repair_lake
from tests.conftest import copy_sample

IBASHO = load_contract("ibasho_survey")


def test_damaged_files_are_rebuilt_and_an_entry_without_receipt_is_taken_in_again(home):
    Lake(home.lake).initialize(all_contracts())
    copy_sample(home, "ibasho_survey", "令和6年度_北区_居場所.csv")
    copy_sample(home, "ibasho_survey", "R6_西成区_居場所活動調査_修正版.csv")  # rejected
    outcomes = ingest_source(home, IBASHO)
    loaded = next(o for o in outcomes if o.status == "loaded")
    rows_file = home.lake / "ibasho_survey" / f"{loaded.sha256}.parquet"
    rows = pq.read_table(rows_file)
    ledger = Lake(home.lake).ledger().sort_values("entry_id").reset_index(drop=True)

    rows_file.unlink()
    assert lake_damage(home) == [rows_file.relative_to(home.lake).as_posix()]
    [repair] = repair_lake(home, "ibasho_survey", say=lambda _: None)
    assert "missing" in str(repair) and f"archive/{loaded.sha256}.csv" in str(repair)
    assert pq.read_table(rows_file).equals(rows)

    # A lake written before receipts were kept: the damaged entry has none. It is set aside,
    # and its file, still in landing/, is taken in again as it was.
    rejected = next(o for o in outcomes if o.status == "rejected")
    entry_id = ledger.loc[ledger["sha256"] == rejected.sha256, "entry_id"].iloc[0]
    (home.archive / "receipts" / f"{entry_id}.json").unlink()
    (home.lake / "submissions" / f"{entry_id}.parquet").write_bytes(b"not parquet")
    [repair] = repair_lake(home, say=lambda _: None)
    assert "no receipt" in str(repair)
    assert list((home.lake / SET_ASIDE / "submissions").glob(f"{entry_id}-*.parquet"))
    [again] = ingest_source(home, IBASHO)
    assert again.status == "rejected" and again.reason == rejected.reason
    after = Lake(home.lake).ledger().sort_values("entry_id").reset_index(drop=True)
    same = ["entry_id", "sha256", "status", "rows_read", "rows_loaded", "reason"]
    assert after[same].equals(ledger[same])
    assert lake_damage(home) == []


def test_a_rebuild_stopped_between_its_renames_is_finished_or_undone(home):
    rebuilt, previous = home.home / "lake.rebuild", home.home / "lake.previous"
    # Stopped after the old lake was moved aside, the new one complete: finish the swap.
    shutil.rmtree(home.lake)
    rebuilt.mkdir()
    (rebuilt / ".complete").write_text("done")
    (rebuilt / "submissions").mkdir()
    assert "finished" in finish_interrupted_rebuild(home)
    assert (home.lake / "submissions").exists() and not rebuilt.exists()
    # Stopped before the new one was complete: the previous lake comes back.
    home.lake.replace(previous)
    assert "undid" in finish_interrupted_rebuild(home)
    assert home.lake.exists() and not previous.exists()
    assert finish_interrupted_rebuild(home) is None


def test_a_temporary_file_left_by_a_killed_write_is_removed(home):
    """A write killed half-way leaves its hidden temporary file (a large export's rows can be
    hundreds of MB): the next ingestion removes it; a live writer's is left alone."""
    import os

    dead = home.lake / "consultations" / f".abc.parquet.tmp-{2**22 + 7}"  # past any pid
    live = home.lake / "consultations" / f".def.parquet.tmp-{os.getpid()}"
    for path in (dead, live):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a file")
    said: list[str] = []
    repair_lake(home, "consultations", said.append)
    assert not dead.exists() and live.exists()
    assert any("left by a write that was killed" in line for line in said)


def test_a_lake_written_with_an_older_layout_is_derived_again_once(home):
    """A lake from before the layout was written down (layout 1: the file's identity was
    `submission_id` in its row files) is derived again from the archive before it is read,
    once; the ledger and the rows are what taking the files in again gives."""
    from pipelines.ingest.lake_tables import LAYOUT
    from pipelines.intake.repair import initialize_lake
    from pipelines.warehouse.freshness import reason_to_run

    Lake(home.lake).initialize(all_contracts())
    copy_sample(home, "ibasho_survey", "令和6年度_北区_居場所.csv")
    copy_sample(home, "ibasho_survey", "2023_Kita_ibasho.csv")
    ingest_source(home, IBASHO)
    same = ["entry_id", "sha256", "status", "rows_read", "rows_loaded", "reason"]
    ledger = Lake(home.lake).ledger().sort_values("entry_id")[same].reset_index(drop=True)
    rows = {p.name: pq.read_table(p) for p in (home.lake / "ibasho_survey").glob("*.parquet")}
    (home.lake / "LAYOUT").unlink()  # as an older version left it
    assert Lake(home.lake).outdated()
    assert "earlier version" in reason_to_run(home)
    said: list[str] = []
    initialize_lake(home, say=said.append)
    assert any("deriving it again from the archive" in line for line in said)
    lake = Lake(home.lake)
    assert lake.layout() == LAYOUT and not lake.outdated()
    assert lake.ledger().sort_values("entry_id")[same].reset_index(drop=True).equals(ledger)
    assert {
        p.name: pq.read_table(p) for p in (home.lake / "ibasho_survey").glob("*.parquet")
    } == rows
    said.clear()
    initialize_lake(home, say=said.append)
    assert said == []  # once


def test_the_ledger_index_gives_what_the_entries_hold_and_never_hides_a_damaged_one(home):
    """A new process reads the ledger from one index file instead of every entry file; what
    it gives is what the entry files hold, a changed or damaged entry is read again, and a
    damaged index is only a slower read."""
    Lake(home.lake).initialize(all_contracts())
    copy_sample(home, "ibasho_survey", "令和6年度_北区_居場所.csv")
    copy_sample(home, "ibasho_survey", "R6_西成区_居場所活動調査_修正版.csv")
    ingest_source(home, IBASHO)
    entries = Lake(home.lake).entry_files()

    def by_files():  # each entry file read as it is
        files = Lake(home.lake).entry_files()
        table = pa.concat_tables(pq.read_table(p, schema=LEDGER_SCHEMA) for p in files)
        return table.to_pandas().sort_values("entry_id").to_json(orient="records")

    index = home.lake / LEDGER_INDEX
    Lake(home.lake).ledger()  # a read of the ledger keeps what it read
    with duckdb.connect() as db:  # the index is not a lake table: models never read it
        assert db.execute(f"select count(*) from read_parquet('{index}')").fetchone()[0] == 2

    def fresh_ledger():  # as a new process reads it: from the index where it is current
        return subprocess.run(
            [sys.executable, "-c", LEDGER_AS_JSON, str(home.lake)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    assert fresh_ledger() == by_files()
    # Damaged in place, its size and modification time as they were: still found.
    before = entries[0].stat()
    entries[0].write_bytes(b"\0" * before.st_size)
    os.utime(entries[0], ns=(before.st_atime_ns, before.st_mtime_ns))
    assert lake_damage(home) == [entries[0].relative_to(home.lake).as_posix()]
    index.write_bytes(b"not parquet")
    assert Lake(home.lake).unreadable_entries() == [entries[0]]
    repair_lake(home, say=lambda _: None)  # the entry is written again from its receipt
    assert fresh_ledger() == by_files()


LEDGER_AS_JSON = (
    "import sys; from pathlib import Path; from pipelines.ingest.lake import Lake; "
    "print(Lake(Path(sys.argv[1])).ledger().sort_values('entry_id').to_json(orient='records'),"
    " end='')"
)
