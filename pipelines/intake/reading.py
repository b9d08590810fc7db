"""Reading files and checking them: the one way it is done, for every caller.

Intake (new files, a batch at a time), ``welfare validate``, the submission page's checks,
repair and ``rebuild-lake`` all read and check a file here, so they cannot differ. A file is
read whole from its bytes, or — a CSV too large for that — from disk in slices, each slice's
clean rows checked (and written to the lake, when the caller keeps them) as they pass; a file
past the size limits is rejected unread. Files read from bytes are read together, on every
core when that pays (:mod:`pipelines.intake.parallel_read`), and checked in as few
great-expectations runs as the suite allows, each file's findings its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.foundation.pause_points import pause_point
from pipelines.ingest.contract import Contract
from pipelines.ingest.lake import RowsWriter
from pipelines.ingest.reader import ReadResult, read_large_csv, too_large
from pipelines.intake.parallel_read import start_reading
from pipelines.quality.history import PreviousFigures, changes, with_history
from pipelines.quality.submission_checks import (
    NOT_CHECKED,
    SubmissionCheck,
    SubmissionRows,
    check_submission_in_slices,
    check_submissions,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToRead:
    """A file to read: its bytes, or its path when it is read from disk (in slices, or not at
    all when too large); its name as its sender named it (the reader takes the fiscal year and
    ward from it); its SHA-256 (which check results and lake files are named by)."""

    original: bytes | Path
    file_name: str
    sha256: str | None = None


@dataclass(frozen=True)
class ReadAndChecked:
    """What a file gave: the reader's verdict and rows, the checks' findings, and the lake
    file its rows were written to as they were read (slices kept by the caller), if any."""

    result: ReadResult
    check: SubmissionCheck
    rows_file: Path | None = None


# For a file read in slices: where its clean rows go as they pass (None: nowhere).
SliceSink = Callable[[ToRead], RowsWriter | None]


def begin_reading(
    files: list[ToRead],
    contract: Contract,
    run_id: str,
    slices_to: SliceSink | None = None,
    previous: PreviousFigures | None = None,
) -> Callable[[], list[ReadAndChecked]]:
    """Begin reading ``files`` (one source); the function returned finishes — reads what is
    left, checks every file's rows, and with ``previous`` compares each with what was
    published for its submitter's previous period — and gives each file's result, in order.
    Between the two, the caller may do other work while the files read from bytes are being
    read."""
    in_memory = [(n, f) for n, f in enumerate(files) if isinstance(f.original, bytes)]
    for _ in in_memory:
        pause_point("ingest.reading")
    reading = start_reading([(f.original, f.file_name) for _, f in in_memory], contract)

    def finish() -> list[ReadAndChecked]:
        done: list[ReadAndChecked | None] = [None] * len(files)
        results = dict(zip((n for n, _ in in_memory), reading(), strict=True))
        for n, file in enumerate(files):
            if isinstance(file.original, Path):
                pause_point("ingest.reading")
                done[n] = _from_disk(file, contract, run_id, slices_to)
        loaded = [n for n, result in results.items() if result.status == "loaded"]
        checks = check_submissions(
            contract.key,
            [
                SubmissionRows(
                    results[n].rows, files[n].sha256, files[n].file_name, results[n].headers
                )
                for n in loaded
            ],
            run_id,
        )
        if previous is not None:
            checks = [
                with_history(
                    check,
                    _changes_or_none(contract, results[n], previous),
                    run_id,
                    files[n].sha256,
                    files[n].file_name,
                    contract.key,
                )
                for n, check in zip(loaded, checks, strict=True)
            ]
        checked = dict(zip(loaded, checks, strict=True))
        for n, result in results.items():
            done[n] = ReadAndChecked(result, checked.get(n, NOT_CHECKED))
        return [d for d in done if d is not None]

    return finish


def _changes_or_none(contract: Contract, result: ReadResult, previous: PreviousFigures):
    """The file against its submitter's previous period; none where that comparison fails on
    something no one foresaw: it only ever warns, and must not stop the file (or the files
    after it) from being taken in."""
    try:
        return changes(contract, result.rows, result.submitter_code, result.fiscal_year, previous)
    except Exception:
        log.exception("comparing %s with its history", result.filename)
        return []


def read_and_check(
    file: ToRead, contract: Contract, run_id: str, previous: PreviousFigures | None = None
) -> ReadAndChecked:
    """One file, nothing kept: what intake would make of it."""
    [done] = begin_reading([file], contract, run_id, previous=previous)()
    return done


def _from_disk(
    file: ToRead, contract: Contract, run_id: str, slices_to: SliceSink | None
) -> ReadAndChecked:
    """A file too large to read whole: rejected unread past the limits, else a CSV read in
    slices, each slice checked (and written, where the caller keeps them) as it passes:
    memory is bounded by the slice."""
    path = file.original
    assert isinstance(path, Path)
    refused = too_large(path.stat().st_size, file.file_name, contract)
    if refused is not None:
        return ReadAndChecked(refused, NOT_CHECKED)
    sliced = read_large_csv(path, file.file_name, contract)
    writer = slices_to(file) if slices_to else None

    def passing() -> Iterator[pd.DataFrame]:
        for rows in sliced.clean_rows():
            if writer is not None:
                writer.write(rows)
            yield rows

    try:
        check = check_submission_in_slices(
            contract.key, passing(), run_id, file.sha256, file.file_name, sliced.result.headers
        )
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if sliced.result.status != "loaded":
        if writer is not None:
            writer.abort()
        return ReadAndChecked(sliced.result, NOT_CHECKED)
    return ReadAndChecked(sliced.result, check, writer.commit() if writer else None)
