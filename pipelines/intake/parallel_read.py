"""Reading several received files at once, one per core, where that pays.

Reading is CPU work in Python (pandas, the normalizers) and ingestion runs while nothing else
does, so a batch of sizeable files is read by a pool of worker processes, as many as the
machine has cores. Small batches (the usual submissions: a few hundred rows) are read here:
starting the pool costs more than they do. The pool is started once per process and reused
(forkserver: workers start from a clean process with the reader imported, never a fork of a
process with threads). Workers receive a file's bytes and return what the reader made of it:
personal-data columns are dropped there, on read, as here. If the pool breaks (a worker was
killed), the batch is read here instead.

Reading can begin before its results are needed (:func:`start_reading`): ingestion starts
reading a source's next batch, then checks and writes the batch before it while the workers
read, so the cores are not idle while great-expectations runs or Parquet is written.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from pipelines.ingest.contract import Contract
from pipelines.ingest.reader import ReadResult, read_submission

PARALLEL_BYTES = 8 * 2**20  # a batch this large is read by the pool
_pool: Executor | None = None


def workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def start_reading(
    files: list[tuple[bytes, str]], contract: Contract
) -> Callable[[], list[ReadResult]]:
    """Begin reading ``files`` (bytes, file name); the function returned gives
    ``read_submission`` of each, in order: from the workers when a batch is sizeable enough to
    pay for them, else read here when it is called."""

    def here() -> list[ReadResult]:
        return [read_submission(data, name, contract) for data, name in files]

    if len(files) < 2 or workers() < 2 or sum(len(data) for data, _ in files) < PARALLEL_BYTES:
        return here
    try:
        jobs = [_reader_pool().submit(read_submission, d, n, contract) for d, n in files]
    except (BrokenProcessPool, OSError):  # none could start
        _shut_down()
        return here

    def results() -> list[ReadResult]:
        try:
            return [job.result() for job in jobs]
        except (BrokenProcessPool, OSError):  # a worker killed
            _shut_down()
            return here()

    return results


def _reader_pool() -> Executor:
    global _pool
    if _pool is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["pipelines.ingest.reader"])
        _pool = ProcessPoolExecutor(max_workers=workers(), mp_context=context)
        atexit.register(_shut_down, wait=True)
    return _pool


def _shut_down(wait: bool = False) -> None:
    """Stop the pool (a broken one during a run: not waited for). At exit the workers are
    waited for: the `welfare` command ends its process as soon as exit handlers have run
    (pipelines.cli.entry), before the pool's own shutdown at interpreter exit would send them
    away, and multiprocessing's exit handler would wait for them for ever."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=wait, cancel_futures=True)
        _pool = None
