"""Taking in what landed: each new file received (archived, its receipt kept), read and
checked a batch at a time, then written to the lake and entered in the ledger, in the order
it landed.

Plain Python, no Dagster: the ingestion assets call :func:`ingest_source`, tests call it too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from pipelines.foundation.clock import utc_now
from pipelines.foundation.settings import Settings
from pipelines.ingest.archive import Receipt, keep_record
from pipelines.ingest.contract import Contract
from pipelines.ingest.lake import Lake
from pipelines.ingest.lake_tables import DQ_RESULTS
from pipelines.intake.reading import ToRead, begin_reading
from pipelines.intake.receiving import FirstCopies, pending_files, receive
from pipelines.intake.recording import ReceiptOutcome, record, record_duplicate
from pipelines.quality.history import PreviousFigures
from pipelines.quality.suites import dq_results_table

log = logging.getLogger("welfare.ingest")

BATCH_BYTES = 16 * 2**20  # new files of a source are checked together up to this size …
BATCH_FILES = 25  # … and this many (their progress lines come when their batch is done)
READ_AHEAD = 1  # batches being read while the one before is checked and written


def ingest_source(
    settings: Settings,
    contract: Contract,
    progress: Callable[[str], None] | None = None,
    run_id: str | None = None,
    previous: PreviousFigures | None = None,
) -> list[ReceiptOutcome]:
    """Take in every new file in ``landing/<source>/``; return what became of each (with
    ``previous``, each compared with what was published for its submitter's previous period:
    warnings only).

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
    first = FirstCopies.of_ledger(lake.ledger())
    outcomes: list[ReceiptOutcome] = []
    batch: list[Receipt] = []
    being_read: list[Callable[[], list[ReceiptOutcome]]] = []  # batches begun, oldest first

    def finish_oldest() -> None:
        for outcome in being_read.pop(0)():
            outcomes.append(outcome)
            say(
                f"{contract.key} [{len(outcomes)}/{len(pending)}] {outcome.file_name}: "
                f"{outcome.describe()}"
            )

    def take_in_batch() -> None:
        # This batch's files start being read; then the one before is checked and written
        # (READ_AHEAD batches in memory at most), in the order the files landed.
        being_read.append(begin_entries(lake, contract, list(batch), first, run_id, previous))
        batch.clear()
        if len(being_read) > READ_AHEAD:
            finish_oldest()

    for landed in pending:
        receipt = receive(settings, contract, landed)
        if isinstance(receipt.original, Path) and batch:
            take_in_batch()  # a file read from disk in slices goes alone, in its turn
        batch.append(receipt)
        if isinstance(receipt.original, Path) or batch_full(batch):
            take_in_batch()
    if batch:
        take_in_batch()
    while being_read:
        finish_oldest()
    _keep_history(settings, contract, outcomes, run_id)
    return outcomes


def _keep_history(
    settings: Settings, contract: Contract, outcomes: list[ReceiptOutcome], run_id: str
) -> None:
    """The history warnings of this run's files, kept as a record (archive, then lake →
    audit.dq_results): they compare each file with what was published when it came, which a
    rebuilt lake could not know."""
    found = [o.history_results for o in outcomes if o.history_results is not None]
    if found:
        keep_record(
            settings.archive,
            settings.lake,
            DQ_RESULTS,
            f"{run_id}__history__{contract.key}",
            dq_results_table(pd.concat(found, ignore_index=True)),
        )


def batch_full(batch: list[Receipt]) -> bool:
    """Whether a batch of receipts of one source (their originals attached) is as large as one
    read-and-check may take."""
    size = sum(len(r.original) for r in batch if isinstance(r.original, bytes))
    return size >= BATCH_BYTES or len(batch) >= BATCH_FILES


def begin_entries(
    lake: Lake,
    contract: Contract,
    receipts: list[Receipt],
    first: FirstCopies,
    run_id: str,
    previous: PreviousFigures | None = None,
) -> Callable[[], list[ReceiptOutcome]]:
    """The lake's files and ledger entries of several receipts of one source, in two steps:
    reading them begins now; the function returned finishes (reads what is left, checks
    them, writes each and enters it in the ledger, in order) and gives the outcomes. A file
    repeating the bytes of one received before (``first``) is entered as a duplicate, unread.
    The same receipts and bytes give the same entries: this is how the lake is derived again
    from the archive."""
    duplicate = []
    for receipt in receipts:
        duplicate.append(first.is_duplicate(receipt))
        first.add_receipt(receipt)
    to_read = [
        ToRead(r.original, r.file_name, r.sha256)
        for r, repeated in zip(receipts, duplicate, strict=True)
        if not repeated
    ]
    reading = begin_reading(
        to_read,
        contract,
        run_id,
        slices_to=lambda file: lake.rows_writer(contract, file.sha256),
        previous=previous,
    )

    def finish() -> list[ReceiptOutcome]:
        read = iter(reading())
        return [
            record_duplicate(lake, receipt)
            if repeated
            else record(lake, contract, receipt, next(read))
            for receipt, repeated in zip(receipts, duplicate, strict=True)
        ]

    return finish


def derive_entry(
    lake: Lake, contract: Contract, receipt: Receipt, first: FirstCopies, run_id: str
) -> ReceiptOutcome:
    """What the lake holds for one receipt (its ``original`` attached): its rows,
    quarantined cells and check results, then its ledger entry."""
    [outcome] = begin_entries(lake, contract, [receipt], first, run_id)()
    return outcome
