"""Keeping the lake whole: every lake file derives from the archive, so a damaged one is rebuilt.

Each run's ingestion first checks the lake against what the ledger and the archive say it
should hold (:func:`repair_lake`): a ledger entry that cannot be read, a derived file whose
SHA-256 is not the one its ledger entry recorded, or a record whose copy differs from the
archived one is derived again from the archived original and its receipt, logged, and the
run goes on. ``welfare rebuild-lake`` (:func:`rebuild_lake`) derives the whole lake again
into a new folder and swaps it in, after a contract change or to recover a lost lake.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.foundation.atomic import copy_file, orphaned_temporaries
from pipelines.foundation.clock import utc_now
from pipelines.foundation.hashing import sha256_of, sha256_of_bytes
from pipelines.foundation.settings import Settings
from pipelines.ingest.archive import (
    Receipt,
    all_receipts,
    archived_records,
    keep_receipt,
    read_receipt,
    record_path,
)
from pipelines.ingest.contract import all_contracts, load_contract
from pipelines.ingest.lake import EMPTY_FILE, Lake
from pipelines.ingest.lake_tables import RECORD_SCHEMAS
from pipelines.ingest.reader import never_read_whole
from pipelines.intake.ingest import batch_full, begin_entries, derive_entry
from pipelines.intake.receiving import FirstCopies

log = logging.getLogger("welfare.repair")
SET_ASIDE = ".damaged"  # lake/.damaged/: files that could not be rebuilt (hidden from readers)


class LakeBeyondRepair(RuntimeError):
    """A lake file is damaged and its archived original is missing or damaged too."""


@dataclass(frozen=True)
class Repair:
    path: str  # under lake/
    problem: str
    action: str

    def __str__(self) -> str:
        return f"lake/{self.path}: {self.problem}; {self.action}"


# -- checking -------------------------------------------------------------------------------
def _readable(path: Path, schema: pa.Schema | None = None) -> bool:
    try:
        pq.read_table(path, schema=schema)
    except (OSError, pa.ArrowException):
        return False
    return True


def _damaged_files(lake: Lake, entry: dict) -> list[tuple[str, str]]:
    """(path under the lake, problem) of each derived file of ``entry`` that is not as recorded."""
    if entry["lake_files"]:
        expected = json.loads(entry["lake_files"])
    elif entry["status"] in ("loaded", "held"):  # recorded before checksums were kept
        expected = {f"{entry['source']}/{entry['sha256']}.parquet": None}
    else:
        expected = {}
    damaged = []
    for relative, checksum in expected.items():
        path = lake.root / relative
        if not path.exists():
            damaged.append((relative, "missing"))
        elif checksum is None and not _readable(path):
            damaged.append((relative, "unreadable"))
        elif checksum is not None and sha256_of(path) != checksum:
            damaged.append((relative, "damaged (its SHA-256 is not the one recorded)"))
    return damaged


# -- deriving again -------------------------------------------------------------------------
def _archived_original(settings: Settings, receipt: Receipt) -> bytes | Path:
    """The archived bytes of a receipt; its path when it is read from disk (a large CSV, in
    slices) or rejected unread (too large), as when it was received."""
    path = settings.home / receipt.archive_path
    if not path.exists():
        raise LakeBeyondRepair(
            f"The archived original {receipt.archive_path} of {receipt.file_name} is missing, "
            "so its lake files cannot be rebuilt: restore archive/ from backup, then run again."
        )
    from_disk = never_read_whole(path, receipt.file_name)
    data = None if from_disk else path.read_bytes()
    sha = sha256_of(path) if data is None else sha256_of_bytes(data)
    if sha != receipt.sha256:
        raise LakeBeyondRepair(
            f"The archived original {receipt.archive_path} of {receipt.file_name} is damaged "
            "(its SHA-256 changed), so its lake files cannot be rebuilt: restore archive/ from "
            "backup, then run again."
        )
    return path if data is None else data


def derive_again(settings: Settings, lake: Lake, receipt: Receipt, first: FirstCopies) -> None:
    """Write the lake files and ledger entry of one receipt again, from its archived bytes
    (``first``: the first copy of each file's bytes, which says whether it is a duplicate)."""
    contract = load_contract(receipt.source)
    original = _archived_original(settings, receipt)
    run_id = f"repair-{utc_now():%Y%m%dT%H%M%SZ}"
    derive_entry(lake, contract, receipt.with_original(original), first, run_id)


def _batches(settings: Settings, receipts: list[Receipt]) -> Iterator[list[Receipt]]:
    """The receipts with their archived originals, in order, in batches of one source no
    larger than intake's."""
    batch: list[Receipt] = []
    for receipt in receipts:
        if batch and (batch[0].source != receipt.source or batch_full(batch)):
            yield batch
            batch = []
        batch.append(receipt.with_original(_archived_original(settings, receipt)))
    if batch:
        yield batch


def _set_aside(lake: Lake, path: Path) -> None:
    target = lake.root / SET_ASIDE / path.relative_to(lake.root)
    target.parent.mkdir(parents=True, exist_ok=True)
    path.replace(target.with_name(f"{target.stem}-{utc_now():%Y%m%dT%H%M%S%fZ}{target.suffix}"))


def receipt_of(entry: dict) -> Receipt:
    return Receipt(
        entry_id=entry["entry_id"],
        source=entry["source"],
        file_name=entry["file_name"],
        landing_path=entry["landing_path"],
        archive_path=entry["archive_path"],
        sha256=entry["sha256"],
        received_at=entry["received_at"],
        file_modified_at=entry["file_modified_at"] or entry["received_at"],
        sent_by=entry.get("sent_by"),
        sent_at=entry.get("sent_at"),
    )


def keep_missing_archive_copies(settings: Settings) -> None:
    """Receipts and record copies for what a lake written before they were kept holds, so
    such a lake can be repaired and rebuilt too. Only whole, readable files are copied."""
    lake = Lake(settings.lake)
    entries = lake.readable_entries()
    for entry in entries:
        if read_receipt(settings.archive, entry["entry_id"]) is None:
            keep_receipt(settings.archive, receipt_of(entry))
    for table in RECORD_SCHEMAS:
        for path in sorted(lake.table_dir(table).glob("*.parquet")):
            if path.name == EMPTY_FILE or _is_derived(table, path):
                continue
            kept = record_path(settings.archive, table, path.stem)
            if not kept.exists() and _readable(path):
                copy_file(path, kept)


def _is_derived(table: str, path: Path) -> bool:
    """A submission's check results (named by its SHA-256) derive from it; a mart suite's
    results (``<run_id>__<suite>``) are a record."""
    return table == "dq_results" and re.fullmatch(r"[0-9a-f]{64}", path.stem) is not None


def repair_lake(
    settings: Settings, source: str | None = None, say: Callable[[str], None] | None = None
) -> list[Repair]:
    """Find lake files that are not what the ledger and the archive say, and rebuild them.

    Unreadable ledger entries are rebuilt whatever their source (other sources' ingestion
    cannot read the ledger otherwise); derived files are checked for ``source`` only (each
    ingestion asset checks its own), or for every source when ``source`` is None.
    """
    say = say or log.warning
    lake = Lake(settings.lake)
    repairs: list[Repair] = []

    def done(repair: Repair) -> None:
        repairs.append(repair)
        say(f"repaired {repair}")

    keep_missing_archive_copies(settings)
    for orphan in orphaned_temporaries(settings.lake) + orphaned_temporaries(settings.archive):
        orphan.unlink(missing_ok=True)
        say(f"removed {orphan.relative_to(settings.home)}: left by a write that was killed")
    unreadable = lake.unreadable_entries()
    for path in unreadable:
        relative = path.relative_to(lake.root).as_posix()
        receipt = read_receipt(settings.archive, path.stem)
        if receipt is None:
            _set_aside(lake, path)
            done(Repair(relative, "unreadable ledger entry with no receipt", _SET_ASIDE_NOTE))
            continue
        derive_again(settings, lake, receipt, FirstCopies.of_entries(lake.readable_entries()))
        done(Repair(relative, "unreadable ledger entry", f"rebuilt from {receipt.archive_path}"))
    entries = lake.readable_entries()
    first = FirstCopies.of_entries(entries)
    for entry in entries:
        if source is not None and entry["source"] != source:
            continue
        damaged = _damaged_files(lake, entry)
        if not damaged:
            continue
        receipt = read_receipt(settings.archive, entry["entry_id"]) or receipt_of(entry)
        derive_again(settings, lake, receipt, first)
        for relative, problem in damaged:
            done(Repair(relative, problem, f"rebuilt from {receipt.archive_path}"))
    if source is None:
        repairs += repair_records(settings, say)
    return repairs


_SET_ASIDE_NOTE = (
    f"set aside in lake/{SET_ASIDE}/; if its file is still in landing/ it is taken in again now"
)


def lake_damage(settings: Settings) -> list[str]:
    """The lake files that are not as recorded (nothing is changed): what a run would repair."""
    lake = Lake(settings.lake)
    found = [p.relative_to(lake.root).as_posix() for p in lake.unreadable_entries()]
    for entry in lake.readable_entries():
        found += [relative for relative, _ in _damaged_files(lake, entry)]
    for table, kept in archived_records(settings.archive):
        copy = settings.lake / table / kept.name
        if not copy.exists() or copy.stat().st_size != kept.stat().st_size:
            found.append(f"{table}/{kept.name}")
    return found


def repair_records(settings: Settings, say: Callable[[str], None] | None = None) -> list[Repair]:
    """Records (releases, failed runs, extracts, mart check results) whose lake copy is missing
    or differs from the archived one are copied again."""
    say = say or log.warning
    repairs = []
    for table, kept in archived_records(settings.archive):
        copy = settings.lake / table / kept.name
        same_size = copy.exists() and copy.stat().st_size == kept.stat().st_size
        if same_size and sha256_of(copy) == sha256_of(kept):
            continue
        problem = "missing" if not copy.exists() else "damaged (differs from the archived record)"
        copy_file(kept, copy)
        repair = Repair(f"{table}/{kept.name}", problem, "copied again from the archive")
        repairs.append(repair)
        say(f"repaired {repair}")
    return repairs


# -- rebuilding the whole lake --------------------------------------------------------------
@dataclass
class Rebuilt:
    entries: int = 0
    records: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


def _rebuild_dir(settings: Settings) -> Path:
    return settings.home / "lake.rebuild"


def _previous_dir(settings: Settings) -> Path:
    return settings.home / "lake.previous"


COMPLETE = ".complete"


def finish_interrupted_rebuild(settings: Settings) -> str | None:
    """A rebuild stopped between its two renames leaves no lake/: finish or undo the swap."""
    if settings.lake.exists():
        return None
    rebuilt, previous = _rebuild_dir(settings), _previous_dir(settings)
    if (rebuilt / COMPLETE).exists():
        rebuilt.replace(settings.lake)
        (settings.lake / COMPLETE).unlink()
        return "finished an interrupted `welfare rebuild-lake` (the rebuilt lake is in place)"
    if previous.exists():
        previous.replace(settings.lake)
        return "undid an interrupted `welfare rebuild-lake` (the previous lake is back)"
    return None


def rebuild_lake(settings: Settings, say: Callable[[str], None] | None = None) -> Rebuilt:
    """Derive the whole lake again from the archive (receipts in the order received, records
    as kept) into ``lake.rebuild/``, then put it in place of ``lake/``."""
    say = say or log.info
    finish_interrupted_rebuild(settings)
    if settings.lake.exists():
        keep_missing_archive_copies(settings)
    target = _rebuild_dir(settings)
    shutil.rmtree(target, ignore_errors=True)
    lake = Lake(target)
    lake.initialize(all_contracts())
    result = Rebuilt()
    for table, kept in archived_records(settings.archive):
        copy_file(kept, target / table / kept.name)
        result.records += 1
    receipts = all_receipts(settings.archive)
    first = FirstCopies()
    run_id = f"repair-{utc_now():%Y%m%dT%H%M%SZ}"
    for batch in _batches(settings, receipts):
        # Consecutive receipts of one source are read and checked together, as intake takes
        # them (one great-expectations run, not one per file), in the order received.
        outcomes = begin_entries(lake, load_contract(batch[0].source), batch, first, run_id)()
        for receipt, outcome in zip(batch, outcomes, strict=True):
            status = outcome.status
            result.by_status[status] = result.by_status.get(status, 0) + 1
            result.entries += 1
            say(f"rebuild-lake [{result.entries}/{len(receipts)}] {receipt.file_name}: {status}")
    (target / COMPLETE).write_text(dt.datetime.now(dt.UTC).isoformat())
    previous = _previous_dir(settings)
    shutil.rmtree(previous, ignore_errors=True)
    if settings.lake.exists():
        settings.lake.replace(previous)
    target.replace(settings.lake)
    (settings.lake / COMPLETE).unlink()
    shutil.rmtree(previous, ignore_errors=True)
    return result


def initialize_lake(settings: Settings, say: Callable[[str], None] | None = None) -> None:
    """The lake ready to be read: a rebuild stopped half-way finished or undone, a lake written
    with an older layout derived again from the archive, and every table there (typed,
    possibly empty) so dbt can always read it."""
    say = say or log.warning
    if note := finish_interrupted_rebuild(settings):
        say(note)
    lake = Lake(settings.lake)
    if lake.outdated():
        say(
            f"the lake was written with layout {lake.layout()} by an earlier version: deriving "
            "it again from the archive (once)"
        )
        rebuild_lake(settings, say=say)
    lake.initialize(all_contracts())
