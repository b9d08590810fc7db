"""Checking an upload once, off the page's request threads.

A sent file is read and checked as ``welfare validate`` reads and checks it (the same reader,
the same suites) by a small pool of worker processes, never by the threads that answer
requests: while large files are checked, everybody's pages still answer at once. The verdict
is kept with the upload (:meth:`pipelines.web.uploads.UploadStore.save_verdict`) and shown on
every reload; confirming uses it. A worker that dies (killed, out of memory) leaves a verdict
that says so, and the pool starts afresh for the next upload.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.foundation.hashing import sha256_of
from pipelines.foundation.settings import Settings
from pipelines.ingest.contract import load_contract
from pipelines.intake.validation import Validation, validate_file
from pipelines.warehouse.history import PublishedHistory
from pipelines.web.database import Database
from pipelines.web.submitters import may_send
from pipelines.web.uploads import Upload, UploadStore

log = logging.getLogger("welfare.web")
QUARANTINE_SHOWN = 200  # rows of the quarantine kept with the verdict (the count is whole)
CHECK_SECONDS = 300  # a check taking longer is stopped (a 20 MB file takes seconds)


def pending_dir(settings: Settings, upload_id: str) -> Path:
    return settings.web_dir / "pending" / upload_id


def pending_file(settings: Settings, upload: Upload) -> Path:
    return pending_dir(settings, upload.upload_id) / upload.stored_name


def verdict_of(
    validation: Validation, submitter_code: str, sha256: str
) -> tuple[dict[str, Any], bool]:
    """What the page tells the sender (JSON, kept with the upload), and whether it may be sent."""
    result, contract, check = validation.result, validation.contract, validation.check
    problems: list[str] = []
    if not may_send(submitter_code, contract):
        problems.append(
            f"このアカウントは「{contract.label_ja}」を送れません。 / "
            f"This account does not send '{contract.label_en}'."
        )
    if result.status == "rejected":
        problems.append(
            "このファイルは受け付けられません。上の理由を直して、もう一度送ってください。 / "
            "This file would be rejected: correct it as the reason above says and send it again."
        )
    elif result.submitter_code and result.submitter_code != submitter_code:
        problems.append(
            f"このファイルは「{result.submitter_name}」のものです。"
            "自分の提出分だけを送れます。 / "
            f"This file is {result.submitter_name}'s: an account sends its own submissions only."
        )
    quarantine = result.quarantine
    verdict = {
        "sha256": sha256,
        "source": contract.key,
        "survey_ja": contract.label_ja,
        "survey_en": contract.label_en,
        "outcome": "rejected"
        if result.status == "rejected"
        else ("held" if check.held else "loads"),
        "reason": result.reason,
        "fiscal_year": result.fiscal_year,
        "submitter_code": result.submitter_code,
        "submitter_name": result.submitter_name,
        "period_start": result.period_start.isoformat() if result.period_start else None,
        "period_end": result.period_end.isoformat() if result.period_end else None,
        "rows": {
            "read": result.rows_read,
            "loaded": result.rows_loaded,
            "quarantined": result.rows_quarantined,
            "skipped": result.rows_skipped,
            "rejected": result.rows_rejected,
        },
        "personal_columns_dropped": list(result.personal_columns_dropped),
        "notes": list(result.warnings),
        "errors": list(check.errors),
        "check_warnings": list(check.shown_warnings),
        "quarantine": [
            {
                "row_number": int(issue.row_number),
                "header": issue.header,
                "value": issue.value,
                "rule": issue.rule,
                "message": issue.message,
            }
            for issue in quarantine.head(QUARANTINE_SHOWN).itertuples()
        ],
        "quarantine_total": len(quarantine),
        "problems": problems,
    }
    return verdict, not problems


def failed_verdict(upload: Upload, detail: str) -> dict[str, Any]:
    contract = load_contract(upload.source)
    return {
        "sha256": upload.sha256,
        "source": upload.source,
        "survey_ja": contract.label_ja,
        "survey_en": contract.label_en,
        "outcome": "failed",
        "reason": (
            "このファイルを確認できませんでした。もう一度送ってください。続くときは市社協に連絡"
            f"してください。 / The file could not be checked ({detail}): send it again, and tell "
            "the council if this repeats."
        ),
        "problems": [],
    }


def check_upload(home: str, accounts_db: str, upload_id: str) -> None:
    """Check one upload and keep its verdict (in a worker process)."""
    settings = Settings(Path(home))
    store = UploadStore(Database(Path(accounts_db)))
    upload = store.get(upload_id)
    if upload is None or upload.state != "checking":
        return  # checked already, discarded or expired meanwhile
    store.set_stage(upload_id, "reading")
    path = pending_file(settings, upload)
    if not path.exists() or sha256_of(path) != upload.sha256:
        store.save_verdict(upload_id, failed_verdict(upload, "the upload is gone"), False)
        return
    validation = validate_file(
        path, upload.source, file_name=upload.file_name, previous=PublishedHistory(settings)
    )
    verdict, sendable = verdict_of(validation, upload.submitter_code, upload.sha256)
    store.save_verdict(upload_id, verdict, sendable)


@dataclass(frozen=True)
class _Running:
    process: Any  # a multiprocessing Process
    started: float  # time.monotonic()
    db: Database
    username: str


class CheckWorkers:
    """The checks of one server process: up to ``workers`` at a time, each in a process of its
    own, started from a process that has imported the reader and great-expectations once.

    The page's database is the queue: every upload in state ``checking`` waits for its turn,
    including those a server that stopped left behind. Accounts take turns (the one with the
    fewest checks running, then the one served longest ago), so one account's files cannot
    keep the others waiting. A check's process that dies (killed, out of memory) or runs longer than
    ``seconds`` gives its own upload a verdict that says so, and nobody else's. When the
    server stops, the checks running are stopped with it and wait for the next start."""

    def __init__(self, workers: int, seconds: float = CHECK_SECONDS) -> None:
        self.workers = max(1, workers)
        self.seconds = seconds
        self._homes: dict[str, tuple[Settings, Database]] = {}  # database path → home
        self._running: dict[str, _Running] = {}  # by upload id
        self._served: dict[tuple[str, str], float] = {}  # account → when its last check began
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._context = None
        self._context_lock = threading.Lock()

    def submit(self, settings: Settings, db: Database, upload: Upload | None = None) -> None:
        """Check the uploads waiting in ``db`` (``upload`` among them) as their turn comes."""
        with self._lock:
            self._homes[str(db.path)] = (settings, db)
            if self._thread is None:
                self._thread = threading.Thread(target=self._dispatch, daemon=True)
                self._thread.start()
        self._wake.set()

    def warm_up(self, wait: bool = True) -> None:
        """Start the process the checks start from now (it imports the reader and
        great-expectations: seconds) rather than on the first upload."""
        if not wait:
            threading.Thread(target=self.warm_up, daemon=True).start()
            return
        process = self._process(int)
        process.start()
        process.join()

    def _process(self, target, *args):
        with self._context_lock:
            if self._context is None:
                self._context = multiprocessing.get_context("forkserver")
                self._context.set_forkserver_preload(
                    ["pipelines.web.checking", "pipelines.quality.gx_loaded"]
                )
        return self._context.Process(target=target, args=args, daemon=True)

    def _dispatch(self) -> None:
        told: str | None = None  # the trouble of the last turns, logged once
        idle = 0.5
        while True:
            # Running checks are looked at twice a second; a home in trouble (a full or
            # read-only disk) is tried again less often, up to every 30 s, until it is well.
            self._wake.wait(timeout=0.5 if self._running else idle)
            self._wake.clear()
            try:  # the dispatcher never dies: a database busy now is not later
                self._reap()
                trouble = self._start_next()
            except Exception as error:
                trouble = error
            said = None if trouble is None else f"{type(trouble).__name__}: {trouble}"
            if said is not None and said != told:
                log.error("checking uploads: %s", said, exc_info=trouble)
            elif said is None and told is not None:
                log.warning("checking uploads again (after: %s)", told)
            told, idle = said, (min(idle * 2, 30.0) if said else 0.5)

    def _reap(self) -> None:
        now = time.monotonic()
        for upload_id, check in list(self._running.items()):
            process, db = check.process, check.db
            if process.is_alive() and now - check.started <= self.seconds:
                continue
            overdue = process.is_alive()
            if overdue:
                process.kill()
            process.join(timeout=5)
            del self._running[upload_id]
            upload = UploadStore(db).get(upload_id)
            if upload is None or upload.state != "checking":
                continue  # its verdict was kept
            detail = (
                f"it took longer than {self.seconds:.0f} s"
                if overdue
                else f"the check stopped (exit code {process.exitcode})"
            )
            log.error("checking upload %s: %s", upload_id, detail)
            UploadStore(db).save_verdict(upload_id, failed_verdict(upload, detail), False)

    def _start_next(self) -> Exception | None:
        """Start the checks whose turn it is; the first home that could not be read (the
        others' checks start all the same)."""
        trouble: Exception | None = None
        while len(self._running) < self.workers:
            waiting = []
            for settings, db in list(self._homes.values()):
                try:
                    waiting += [(u, settings, db) for u in UploadStore(db).checking()]
                except Exception as error:
                    trouble = trouble or error
            waiting = [w for w in waiting if w[0].upload_id not in self._running]
            if not waiting:
                return trouble
            running = Counter((str(c.db.path), c.username) for c in self._running.values())

            def turn(item: tuple[Upload, Settings, Database], running: Counter = running) -> tuple:
                # The account with the fewest checks running, then the one served longest
                # ago (in turn, however many files each has waiting), then the oldest file.
                account = (str(item[2].path), item[0].username)
                return running[account], self._served.get(account, 0.0), item[0].uploaded_at

            upload, settings, db = min(waiting, key=turn)
            process = self._process(
                check_upload, str(settings.home), str(db.path), upload.upload_id
            )
            process.start()
            self._running[upload.upload_id] = _Running(
                process, time.monotonic(), db, upload.username
            )
            self._served[(str(db.path), upload.username)] = time.monotonic()
        return trouble

    def shut_down(self) -> None:
        """Stop the checks running (they are checked again when the next server starts)."""
        for check in list(self._running.values()):
            if check.process.is_alive():
                check.process.kill()


def default_workers() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(2, cores or 1)


_workers: CheckWorkers | None = None


def check_workers(count: int | None = None) -> CheckWorkers:
    """This process's check workers (one dispatcher, whatever the number of apps)."""
    global _workers
    if _workers is None:
        _workers = CheckWorkers(count or default_workers())
        atexit.register(_workers.shut_down)
    return _workers
