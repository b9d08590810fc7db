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
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from pipelines.foundation.hashing import sha256_of
from pipelines.foundation.settings import Settings
from pipelines.ingest.contract import load_contract
from pipelines.intake.validation import Validation, validate_file
from pipelines.web.database import Database
from pipelines.web.submitters import may_send
from pipelines.web.uploads import Upload, UploadStore

log = logging.getLogger("welfare.web")
QUARANTINE_SHOWN = 200  # rows of the quarantine kept with the verdict (the count is whole)


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
        "check_warnings": list(check.warnings),
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
    validation = validate_file(path, upload.source, file_name=upload.file_name)
    verdict, sendable = verdict_of(validation, upload.submitter_code, upload.sha256)
    store.save_verdict(upload_id, verdict, sendable)


class CheckWorkers:
    """The pool of check workers of one server process (started when first needed)."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None
        self._running: dict[str, Future] = {}
        self._lock = threading.Lock()

    def submit(self, settings: Settings, db: Database, upload: Upload) -> None:
        """Check ``upload`` (state ``checking``) unless a worker of this process already is."""
        with self._lock:
            if upload.upload_id in self._running:
                return
            future = self._executor().submit(
                check_upload, str(settings.home), str(db.path), upload.upload_id
            )
            self._running[upload.upload_id] = future
        future.add_done_callback(lambda done: self._finished(db, upload, done))

    def _finished(self, db: Database, upload: Upload, done: Future) -> None:
        with self._lock:
            self._running.pop(upload.upload_id, None)
        if done.cancelled():
            return  # the server is stopping: still `checking`, checked when next looked at
        error = done.exception()
        if error is None:
            return
        log.error("checking upload %s failed: %r", upload.upload_id, error)
        UploadStore(db).save_verdict(
            upload.upload_id, failed_verdict(upload, type(error).__name__), False
        )
        if not isinstance(error, Exception) or "Broken" in type(error).__name__:
            self.shut_down()  # a dead worker breaks the pool: the next check starts a new one

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            os.environ["GX_ANALYTICS_ENABLED"] = "False"  # the workers' great-expectations too
            context = multiprocessing.get_context("forkserver")
            # Workers start from a clean process that has already imported the reader and
            # great-expectations (seconds), never from a fork of the threaded server.
            context.set_forkserver_preload(["pipelines.web.checking", "great_expectations"])
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        return self._pool

    def warm_up(self, wait: bool = True) -> None:
        """Start the workers now (each imports the reader and great-expectations: seconds)
        rather than on the first upload; in the background unless ``wait``."""
        if not wait:
            threading.Thread(target=self.warm_up, daemon=True).start()
            return
        with self._lock:
            if self._pool is not None:
                return
            executor = self._executor()
            try:
                for _ in range(self.workers):
                    executor.submit(int)
            except RuntimeError:  # the process is exiting: nothing to warm up for
                return

    def shut_down(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def default_workers() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(2, cores or 1)


_workers: CheckWorkers | None = None


def check_workers(count: int | None = None) -> CheckWorkers:
    """This process's check workers (one pool, whatever the number of apps)."""
    global _workers
    if _workers is None:
        _workers = CheckWorkers(count or default_workers())
        atexit.register(_workers.shut_down)
    return _workers
