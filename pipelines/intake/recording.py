"""Recording a receipt in the lake: its rows, quarantined cells and check results, then its
ledger entry — last, the commit point: a crash before it leaves the file to be read again."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.foundation.pause_points import pause_point
from pipelines.ingest.archive import Receipt
from pipelines.ingest.contract import Contract
from pipelines.ingest.lake import Lake, write_parquet
from pipelines.intake.reading import ReadAndChecked
from pipelines.quality.submission_checks import NOT_CHECKED
from pipelines.quality.suites import dq_results_path, dq_results_table


@dataclass(frozen=True)
class ReceiptOutcome:
    """What became of one received file (its ledger entry, told to people)."""

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
    # The history warnings' audit.dq_results rows, for the caller to keep as a record.
    history_results: pd.DataFrame | None = None
    entry_id: str = ""  # its ledger entry

    def describe(self) -> str:
        if self.status == "duplicate":
            return "already received (same bytes), nothing changes"
        if self.status == "rejected":
            return f"REJECTED — {self.reason}"
        counts = (
            f"{self.rows_loaded} rows, quarantined {self.rows_quarantined}, "
            f"skipped {self.rows_skipped}"
        )
        if self.status == "held":
            return f"HELD ({counts}) — {self.reason}"
        return f"loaded {counts}" + "".join(f"; warning: {w}" for w in self.check_warnings)


def _entry(receipt: Receipt) -> dict:
    return {
        "entry_id": receipt.entry_id,
        "sha256": receipt.sha256,
        "source": receipt.source,
        "file_name": receipt.file_name,
        "landing_path": receipt.landing_path,
        "archive_path": receipt.archive_path,
        "received_at": receipt.received_at,
        "file_modified_at": receipt.file_modified_at,
        "sent_by": receipt.sent_by,
        "sent_at": receipt.sent_at,
    }


def record_duplicate(lake: Lake, receipt: Receipt) -> ReceiptOutcome:
    entry = _entry(receipt)
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
    return ReceiptOutcome(
        receipt.source, receipt.file_name, receipt.sha256, "duplicate", entry_id=receipt.entry_id
    )


def record(
    lake: Lake, contract: Contract, receipt: Receipt, read: ReadAndChecked
) -> ReceiptOutcome:
    """Write a read file's rows (held rows too, unless written while read in slices),
    quarantined cells and check results, then its ledger entry."""
    result, check = read.result, read.check or NOT_CHECKED
    name, sha = receipt.file_name, receipt.sha256
    written: list[Path | None] = [read.rows_file]
    if result.status == "loaded":
        if isinstance(receipt.original, bytes):
            written.append(lake.write_rows(contract, sha, result.rows))
        written.append(lake.write_quarantine(contract.key, sha, name, result.quarantine))
        if not check.results.empty:
            dq_path = dq_results_path(lake.root, sha)
            write_parquet(dq_results_table(check.results), dq_path)
            written.append(dq_path)
    status = "held" if check.held else result.status
    entry = _entry(receipt)
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
    return ReceiptOutcome(
        receipt.source,
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
        check.shown_warnings,
        check.history_results,
        receipt.entry_id,
    )
