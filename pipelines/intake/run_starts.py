"""Who starts the run for the files waiting in landing/: once, by the submission page or by the
landing sensor, whichever claims them first.

A set of waiting files (its key: pipelines.intake.receiving.waiting_key) starts one run. The
page starts one the moment a file is confirmed; the Dagster daemon's landing sensor looks every
few seconds (for files put in landing/ by hand, or sent while a run was going). Whoever starts
a run for a key first claims it — a file in ``work/run_starts/``, read and written by one
caller at a time (a lock) — and the other then leaves those files alone: the sensor skips a
key the page claimed, the page a key the sensor claimed. A claim holds while the process that
made it runs; one whose process has ended with its files still waiting (its run failed, or it
was killed before its run began) is taken over by the next to look — the sensor, or the page's
next run — so no file is left for the nightly run by a process that died, and a set whose runs
fail stops once each starter has tried (the sensor's own claim holds while the daemon runs,
and Dagster's run key asks no second run). Claims older than ``KEEP_DAYS`` are removed.

The page's runs go one at a time, and while one goes — or is starting: from the moment the
page starts its process (``starting``) — the sensor starts none (``page_running``): a file sent
meanwhile is taken by the same process when its run ends. At most one more page process waits
to go next (``page_turn``); any later one ends at once, as the one waiting takes every file
waiting when its turn comes.

Whatever started it, one run at a time executes in a home (``run_turn``): two would write the
working database at once, and one fail on its lock. A `welfare run` (a person's, the page's)
takes the turn before it starts the job; a run the Dagster daemon launched (the sensor's, the
nightly one, one asked for in the UI) takes it as its resources are set up
(pipelines.defs.resources). Either waits while another holds it. The daemon's own queue lets
one of its runs go at a time, counting the runs executed in `welfare run` as going.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from pipelines.foundation.atomic import write_text
from pipelines.foundation.locks import exclusive, exclusive_if_free, held, shared_descriptor
from pipelines.foundation.processes import process_started, same_process_running
from pipelines.foundation.settings import Settings

PAGE = "submission_page"
SENSOR = "landing_sensor"
KEEP_DAYS = 90
FOLDER = "run_starts"
RUN_LOCK, NEXT_LOCK = "page-run.lock", "page-next.lock"  # the page's run going; the next one
STARTING_LOCK = "page-starting.lock"  # held (shared) by each process the page started, until
STARTING_FD = "WELFARE_PAGE_STARTING_FD"  # it has its turn or ends; its descriptor's number
CLAIMS_LOCK = "claims.lock"  # held while a claim is read and made
RUN_TURN = "warehouse-run.lock"  # in work/: held by the run executing in the home
_turns_held: dict[Path, int] = {}  # the turns this process holds: by which thread


@dataclass(frozen=True)
class Claim:
    """Who claimed a key, when, from which process."""

    key: str
    by: str  # PAGE or SENSOR
    claimed_at: str  # ISO 8601, UTC
    pid: int
    process_started: int | None  # with the pid: which process (pids are reused)

    def holds(self) -> bool:
        """A claim holds while the process that made it runs (the daemon's code server for
        the sensor's, the page's own process for the page's)."""
        return same_process_running(self.pid, self.process_started)


def claims_folder(settings: Settings) -> Path:
    return settings.work_dir / FOLDER


def claim(settings: Settings, key: str, by: str) -> Claim | None:
    """Claim the files of ``key`` for ``by``'s run: None when this call claimed them, else the
    claim that holds them (by ``by`` itself or by the other). A claim whose process has ended
    with the files still waiting — its run failed, or it was killed before its run began — is
    taken over."""
    here = claims_folder(settings)
    path = here / f"{key}.json"
    pid = os.getpid()
    mine = Claim(key, by, dt.datetime.now(dt.UTC).isoformat(), pid, process_started(pid))
    # One caller at a time reads a claim and decides: two could take over the same ended one.
    with exclusive(here / CLAIMS_LOCK):
        earlier = claim_of(settings, key)
        if earlier is not None and earlier.holds():
            return earlier
        if earlier is None and path.exists():
            return mine  # unreadable: held all the same
        write_text(path, json.dumps(asdict(mine)))  # none yet, or its process has ended
    _forget_old(here)
    return None


def claim_of(settings: Settings, key: str) -> Claim | None:
    try:
        return Claim(**json.loads((claims_folder(settings) / f"{key}.json").read_text("utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _forget_old(folder: Path) -> None:
    limit = time.time() - KEEP_DAYS * 86400
    for path in folder.glob("*.json"):
        try:
            if path.stat().st_mtime < limit:
                path.unlink()
        except OSError:
            continue  # removed by another process meanwhile


def page_running(settings: Settings) -> bool:
    """Whether a run started by the page is going, or about to: its process is starting, or
    holds the page's turn."""
    here = claims_folder(settings)
    return held(here / RUN_LOCK) or held(here / STARTING_LOCK)


def starting(settings: Settings) -> dict[str, int]:
    """What the page gives the process it starts for a sent file (pass it the descriptor;
    close this process's copy once started): from now until that process has its turn, or
    ends however it ends, the sensor sees a run the page started as under way."""
    descriptor = shared_descriptor(claims_folder(settings) / STARTING_LOCK)
    return {STARTING_FD: descriptor}


def page_run_coming(settings: Settings) -> bool:
    """Whether a process the page started will look at the waiting files from now on: one is
    starting (it looks once it has its turn, or leaves them to the one waiting), or waits for
    its turn. A file confirmed now needs no process of its own."""
    here = claims_folder(settings)
    return held(here / STARTING_LOCK) or held(here / NEXT_LOCK)


def _started(lock: Path) -> None:
    """This process (one the page started) has its turn, or ends: it is no longer starting.
    The descriptor named in the environment is closed only if it is that lock's."""
    descriptor = os.environ.pop(STARTING_FD, "")
    if not descriptor.isdigit():
        return
    with suppress(OSError):
        given, expected = os.fstat(int(descriptor)), os.stat(lock)
        if (given.st_dev, given.st_ino) == (expected.st_dev, expected.st_ino):
            os.close(int(descriptor))


@contextmanager
def page_turn(settings: Settings) -> Iterator[bool]:
    """The page's runs one at a time: True once this process may run (after the one going, if
    any, has ended); False at once when another process is already waiting for its turn — it
    will take every file waiting then, this one's too."""
    here = claims_folder(settings)
    in_line = ExitStack()
    if not in_line.enter_context(exclusive_if_free(here / NEXT_LOCK)):
        in_line.close()
        _started(here / STARTING_LOCK)
        yield False
        return
    try:
        with exclusive(here / RUN_LOCK):
            in_line.close()  # running now: the next may wait behind this one
            _started(here / STARTING_LOCK)
            yield True
    finally:
        in_line.close()
        _started(here / STARTING_LOCK)


@contextmanager
def run_turn(settings: Settings, on_wait: Callable[[], object] | None = None) -> Iterator[bool]:
    """Hold the home's turn to run until the block ends: yields whether it waited for another
    run to end first (``on_wait`` is called once, when it has to). A thread that holds the
    turn already (`welfare run`, then its job's resources) holds it on, without waiting."""
    path = settings.work_dir / RUN_TURN
    if _turns_held.get(path) == threading.get_ident():
        yield False
        return
    with exclusive_if_free(path) as free:
        if free:
            with _holding(path):
                yield False
            return
    if on_wait is not None:
        on_wait()
    with exclusive(path), _holding(path):
        yield True


@contextmanager
def _holding(path: Path) -> Iterator[None]:
    _turns_held[path] = threading.get_ident()
    try:
        yield
    finally:
        del _turns_held[path]


def run_executing(settings: Settings) -> bool:
    """Whether a run holds the home's turn now (a glance: it may end the next moment)."""
    return held(settings.work_dir / RUN_TURN)
