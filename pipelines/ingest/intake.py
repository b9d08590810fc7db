"""Taking in what landed: each new file archived and read, a batch checked together, then each
file written to the lake and entered in the ledger, in the order it landed.

Plain Python, no Dagster: the ingestion assets call :func:`ingest_source`, tests call it too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipelines.ingest.archive import (
    Receipt,
    archive_file,
    archive_original,
    keep_receipt,
    read_receipt,
)
from pipelines.ingest.contract import Contract
from pipelines.ingest.lake import Lake, sha256_of, utc_now, write_parquet
from pipelines.ingest.landing import landed_files, sender_of
from pipelines.ingest.parallel_read import start_reading
from pipelines.ingest.per_file import PerFile
from pipelines.ingest.reader import (
    ReadResult,
    never_read_whole,
    read_large_csv,
    too_large,
)
from pipelines.operations.pause_points import pause_point
from pipelines.quality.submission_checks import (
    NOT_CHECKED,
    SubmissionCheck,
    SubmissionRows,
    check_submission_in_slices,
    check_submissions,
)
from pipelines.quality.suites import dq_results_path, dq_results_table
from pipelines.settings import Settings

log = logging.getLogger("welfare.ingest")


@dataclass(frozen=True)
class Outcome:
    """What happened to one landed file in this run."""

    source: str
    file_name: str
    sha256: str
    status: str  # loaded / held / rejected / duplicate
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0
    rows_rejected: int = 0
    reason: str | None = None
    warnings: tuple[str, ...] = ()
    check_warnings: tuple[str, ...] = ()


def entry_id_for(source: str, landing_path: str, sha256: str) -> str:
    """One ledger entry per (source, landing file, content): the same file seen again is a no-op."""
    return hashlib.sha256(f"{source}\0{landing_path}\0{sha256}".encode()).hexdigest()[:32]


landed_sha256 = PerFile(sha256_of)  # a run asks whether anything is new, then takes it in


def pending_files(settings: Settings, contract: Contract, lake: Lake) -> list[tuple[Path, str]]:
    """Landed files with no ledger entry yet, with their SHA-256."""
    pending = []
    for path in landed_files(settings, contract.key):
        sha = landed_sha256(path)
        rel = path.relative_to(settings.landing).as_posix()
        if not lake.has_entry(entry_id_for(contract.key, rel, sha)):
            pending.append((path, sha))
    return pending


def ingest_source(
    settings: Settings,
    contract: Contract,
    progress: Callable[[str], None] | None = None,
    run_id: str | None = None,
) -> list[Outcome]:
    """Take in every new file in ``landing/<source>/``; return what happened to each.

    Each file's rows are checked with its source's suite once, here: a failed ``error``
    expectation holds that file back (status ``held``), and nothing else. Files are read in
    batches (a sizeable one on every core) and checked a batch at a time (one
    great-expectations run per batch, each file's findings its own); each file is then written
    and entered in the ledger in the order it landed. The next batch is being read while one
    is checked and written.
    """
    run_id = run_id or f"intake-{utc_now():%Y%m%dT%H%M%S%fZ}"
    lake = Lake(settings.lake)
    say = progress or log.info
    pending = pending_files(settings, contract, lake)
    if not pending:
        say(f"{contract.key}: no new files")
        return []
    ledger = lake.ledger()
    known = set(ledger.loc[ledger["source"] == contract.key, "sha256"])
    outcomes: list[Outcome] = []
    batch: list[Received] = []
    being_read: list[Callable[[], list[Outcome]]] = []  # batches begun, oldest first

    def finish_oldest() -> None:
        for outcome in being_read.pop(0)():
            outcomes.append(outcome)
            say(
                f"{contract.key} [{len(outcomes)}/{len(pending)}] {outcome.file_name}: "
                f"{describe(outcome)}"
            )

    def take_in_batch() -> None:
        # This batch's files start being read; then the one before is checked and written
        # (READ_AHEAD batches in memory at most), in the order the files landed.
        being_read.append(begin_entries(lake, contract, list(batch), run_id))
        batch.clear()
        if len(being_read) > READ_AHEAD:
            finish_oldest()

    for path, sha in pending:
        rel = path.relative_to(settings.landing).as_posix()
        received = _receive(settings, contract, path, rel, sha in known)
        known.add(sha)
        if isinstance(received.original, Path) and batch:
            take_in_batch()  # a file read from disk in slices goes alone, in its turn
        batch.append(received)
        if isinstance(received.original, Path) or _batch_full(batch):
            take_in_batch()
    if batch:
        take_in_batch()
    while being_read:
        finish_oldest()
    return outcomes


BATCH_BYTES = 16 * 2**20  # new files of a source are checked together up to this size …
BATCH_FILES = 25  # … and this many (their progress lines come when their batch is done)
READ_AHEAD = 1  # batches being read while the one before is checked and written


def _batch_full(batch: list[Received]) -> bool:
    size = sum(len(r.original) for r in batch if isinstance(r.original, bytes))
    return size >= BATCH_BYTES or len(batch) >= BATCH_FILES


def _read_from_disk(
    lake: Lake, contract: Contract, archived: Path, name: str, sha: str, run_id: str
) -> tuple[ReadResult, SubmissionCheck, Path | None]:
    """A file too large to read whole: rejected unread past the limits, else a CSV read in
    slices, each slice checked and written as it passes (memory bounded by the slice)."""
    refused = too_large(archived.stat().st_size, name, contract)
    if refused is not None:
        return refused, NOT_CHECKED, None
    sliced = read_large_csv(archived, name, contract)
    writer = lake.rows_writer(contract, sha)

    def written_slices():
        for rows in sliced.clean_rows():
            writer.write(rows)
            yield rows

    try:
        check = check_submission_in_slices(
            contract.key, written_slices(), run_id, sha, name, sliced.result.headers
        )
    except BaseException:
        writer.abort()
        raise
    if sliced.result.status != "loaded":
        writer.abort()
        return sliced.result, NOT_CHECKED, None
    return sliced.result, check, writer.commit()


def describe(outcome: Outcome) -> str:
    if outcome.status == "duplicate":
        return "already received (same bytes), nothing changes"
    if outcome.status == "rejected":
        return f"REJECTED — {outcome.reason}"
    counts = (
        f"{outcome.rows_loaded} rows, quarantined {outcome.rows_quarantined}, "
        f"skipped {outcome.rows_skipped}"
    )
    if outcome.status == "held":
        return f"HELD ({counts}) — {outcome.reason}"
    return f"loaded {counts}" + "".join(f"; warning: {w}" for w in outcome.check_warnings)


@dataclass(frozen=True)
class Received:
    """A file received (archived, its receipt kept), not yet read into the lake."""

    receipt: Receipt
    original: bytes | Path  # its bytes, or its archived copy when too large to read whole
    seen_before: bool  # the same bytes already came for this source


def _receive(
    settings: Settings, contract: Contract, path: Path, rel: str, seen_before: bool
) -> Received:
    original: bytes | Path
    if never_read_whole(path, path.name):
        sha = sha256_of(path)  # archived as it is, never read into memory whole
        original = archived = archive_file(settings.archive, path, sha)
    else:
        original = path.read_bytes()  # read once: archived and parsed from the same bytes
        sha = hashlib.sha256(original).hexdigest()  # of exactly these bytes, even if it changed
        archived = archive_original(settings.archive, path.suffix, original, sha)
    note = sender_of(path, sha)
    receipt = Receipt(
        entry_id=entry_id_for(contract.key, rel, sha),
        source=contract.key,
        file_name=(note.file_name if note else None) or path.name,
        landing_path=rel,
        archive_path=archived.relative_to(settings.home).as_posix(),
        sha256=sha,
        received_at=utc_now(),
        file_modified_at=dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC),
        sent_by=note.sent_by if note else None,
    )
    # Received once: a file read again after a crash keeps the receipt of its first arrival.
    receipt = read_receipt(settings.archive, receipt.entry_id) or receipt
    keep_receipt(settings.archive, receipt)
    return Received(receipt, original, seen_before)


def derive_entry(
    lake: Lake,
    contract: Contract,
    receipt: Receipt,
    original: bytes | Path,
    seen_before: bool,
    run_id: str,
) -> Outcome:
    """What the lake holds for one received file: its rows, quarantined cells and check
    results, then its ledger entry (last: the commit point). The same receipt and bytes give
    the same entry, which is how the lake is rebuilt from the archive. ``original`` is the
    file's bytes, or its archived copy when it is too large to be read whole (a large CSV is
    read from there in slices; a file over the limits is rejected unread)."""
    [outcome] = begin_entries(lake, contract, [Received(receipt, original, seen_before)], run_id)()
    return outcome


@dataclass
class _Derived:
    """A received file as read: its rows not yet written unless read from disk in slices."""

    received: Received
    result: ReadResult
    check: SubmissionCheck | None = None  # None: not checked yet
    rows_file: Path | None = None  # written while read (slices)


def begin_entries(
    lake: Lake, contract: Contract, batch: list[Received], run_id: str
) -> Callable[[], list[Outcome]]:
    """:func:`derive_entry` for several received files of one source, in two steps: reading
    them begins now (on the worker pool, when it pays); the function returned finishes (reads
    what is left, checks their rows together — :func:`check_submissions`, the same findings as
    one by one — then writes each and enters it in the ledger, in order) and gives the
    outcomes. Between the two, another batch can be checked and written while this one is
    read."""
    in_memory = [
        (n, r.original, r.receipt.file_name)
        for n, r in enumerate(batch)
        if not r.seen_before and isinstance(r.original, bytes)
    ]
    for _ in in_memory:
        pause_point("ingest.reading")
    reading = start_reading([(data, name) for _, data, name in in_memory], contract)

    def finish() -> list[Outcome]:
        derived: list[_Derived | None] = [None] * len(batch)
        for (n, _, _), result in zip(in_memory, reading(), strict=True):
            check = None if result.status == "loaded" else NOT_CHECKED  # None: to be checked
            derived[n] = _Derived(batch[n], result, check)
        _read_from_disk_in_turn(lake, contract, batch, derived, run_id)
        unchecked = [d for d in derived if d is not None and d.check is None]  # loaded
        checks = check_submissions(
            contract.key,
            [
                SubmissionRows(
                    d.result.rows,
                    d.received.receipt.sha256,
                    d.received.receipt.file_name,
                    d.result.headers,
                )
                for d in unchecked
            ],
            run_id,
        )
        for d, check in zip(unchecked, checks, strict=True):
            d.check = check
        return [
            _record_duplicate(lake, contract, received) if d is None else _record(lake, contract, d)
            for received, d in zip(batch, derived, strict=True)
        ]

    return finish


def _entry(contract: Contract, receipt: Receipt) -> dict:
    return {
        "entry_id": receipt.entry_id,
        "sha256": receipt.sha256,
        "source": contract.key,
        "file_name": receipt.file_name,
        "landing_path": receipt.landing_path,
        "archive_path": receipt.archive_path,
        "received_at": receipt.received_at,
        "file_modified_at": receipt.file_modified_at,
        "sent_by": receipt.sent_by,
    }


def _record_duplicate(lake: Lake, contract: Contract, received: Received) -> Outcome:
    receipt = received.receipt
    entry = _entry(contract, receipt)
    entry.update(
        status="duplicate",
        duplicate_of=receipt.sha256,
        rows_read=0,
        rows_loaded=0,
        rows_quarantined=0,
        rows_skipped=0,
        rows_rejected=0,
    )
    lake.record(entry)
    return Outcome(contract.key, receipt.file_name, receipt.sha256, "duplicate")


def _read_from_disk_in_turn(
    lake: Lake,
    contract: Contract,
    batch: list[Received],
    derived: list[_Derived | None],
    run_id: str,
) -> None:
    """Each file of the batch too large to read whole: read from disk in slices, checked and
    written as they pass (the slices' rows are already in the lake when this returns)."""
    for n, received in enumerate(batch):
        if not received.seen_before and isinstance(received.original, Path):
            pause_point("ingest.reading")
            receipt = received.receipt
            result, check, rows_file = _read_from_disk(
                lake, contract, received.original, receipt.file_name, receipt.sha256, run_id
            )
            derived[n] = _Derived(received, result, check, rows_file)


def _record(lake: Lake, contract: Contract, derived: _Derived) -> Outcome:
    """Write a read file's rows (held rows too), quarantined cells and check results, then
    its ledger entry (last: the commit point)."""
    receipt, result = derived.received.receipt, derived.result
    check = derived.check or NOT_CHECKED
    name, sha = receipt.file_name, receipt.sha256
    written: list[Path | None] = [derived.rows_file]
    if result.status == "loaded":
        if isinstance(derived.received.original, bytes):
            written.append(lake.write_rows(contract, sha, result.rows))
        written.append(lake.write_quarantine(contract.key, sha, name, result.quarantine))
        if not check.results.empty:
            dq_path = dq_results_path(lake.root, sha)
            write_parquet(dq_results_table(check.results), dq_path)
            written.append(dq_path)
    status = "held" if check.held else result.status
    entry = _entry(contract, receipt)
    entry.update(
        status=status,
        submitter_code=result.submitter_code,
        submitter_name=result.submitter_name,
        fiscal_year=result.fiscal_year,
        period_start=result.period_start,
        period_end=result.period_end,
        rows_read=result.rows_read,
        rows_loaded=result.rows_loaded,
        rows_quarantined=result.rows_quarantined,
        rows_skipped=result.rows_skipped,
        rows_rejected=result.rows_rejected,
        reason=check.hold_reason or result.reason,
        warnings="\n".join([*result.warnings, *check.warnings]) or None,
        encoding=result.encoding,
        sheet=result.sheet,
        lake_files=lake.checksums(p for p in written if p is not None),
    )
    pause_point("ingest.before_ledger")
    lake.record(entry)  # last: the commit point
    return Outcome(
        contract.key,
        name,
        sha,
        status,
        result.rows_read,
        result.rows_loaded,
        result.rows_quarantined,
        result.rows_skipped,
        result.rows_rejected,
        check.hold_reason or result.reason,
        tuple(result.warnings),
        check.warnings,
    )
