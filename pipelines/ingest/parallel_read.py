"""Reading several received files at once, one per core, where that pays.

Reading is CPU work in Python (pandas, the normalizers) and ingestion runs while nothing else
does, so a batch of sizeable files is read by a pool of worker processes, as many as the
machine has cores. Small batches (the usual submissions: a few hundred rows) are read here:
starting the pool costs more than they do. The pool is started once per process and reused
(forkserver: workers start from a clean process with the reader imported, never a fork of a
process with threads). Workers receive a file's bytes and return what the reader made of it:
personal-data columns are dropped there, on read, as here. If the pool breaks (a worker was
killed), the batch is read here instead.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from pipelines.ingest.contract import Contract
from pipelines.ingest.reader import ReadResult, read_submission

PARALLEL_BYTES = 8 * 2**20  # a batch this large is read by the pool
_pool: Executor | None = None


def workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def read_files(files: list[tuple[bytes, str]], contract: Contract) -> list[ReadResult]:
    """``read_submission`` for each (bytes, file name), in order; in parallel when it pays."""
    if len(files) < 2 or workers() < 2 or sum(len(data) for data, _ in files) < PARALLEL_BYTES:
        return [read_submission(data, name, contract) for data, name in files]
    try:
        jobs = [_reader_pool().submit(read_submission, d, n, contract) for d, n in files]
        return [job.result() for job in jobs]
    except (BrokenProcessPool, OSError):  # a worker killed, or none could start
        _shut_down()
        return [read_submission(data, name, contract) for data, name in files]


def _reader_pool() -> Executor:
    global _pool
    if _pool is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["pipelines.ingest.reader"])
        _pool = ProcessPoolExecutor(max_workers=workers(), mp_context=context)
        atexit.register(_shut_down)
    return _pool


def _shut_down() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None
