"""Who starts the run for the files waiting in landing/: once, by the submission page or by the
landing sensor, whichever claims them first.

A set of waiting files (its key: pipelines.intake.receiving.waiting_key) starts one run. The
page starts one the moment a file is confirmed; the Dagster daemon's landing sensor looks every
few seconds (for files put in landing/ by hand, or sent while a run was going). Whoever starts
a run for a key first claims it — a file in ``work/run_starts/`` created only if none is there —
and the other then leaves those files alone: the sensor skips a key the page claimed, the page
a key the sensor claimed. A claim stays (a key whose run failed does not start another, as a
Dagster run key does not: the next file sent, or the nightly run, takes the files in); claims
older than ``KEEP_DAYS`` are removed.

The page's runs go one at a time, and while one goes — or is starting: from the moment the
page starts its process (``starting``) — the sensor starts none (``page_running``): a file sent
meanwhile is taken by the same process when its run ends. At most one more page process waits
to go next (``page_turn``); any later one ends at once, as the one waiting takes every file
waiting when its turn comes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from pipelines.foundation.atomic import create_once
from pipelines.foundation.locks import exclusive, exclusive_if_free, held, shared_descriptor
from pipelines.foundation.settings import Settings

PAGE = "submission_page"
SENSOR = "landing_sensor"
KEEP_DAYS = 90
FOLDER = "run_starts"
RUN_LOCK, NEXT_LOCK = "page-run.lock", "page-next.lock"  # the page's run going; the next one
STARTING_LOCK = "page-starting.lock"  # held (shared) by each process the page started, until
STARTING_FD = "WELFARE_PAGE_STARTING_FD"  # it has its turn or ends; its descriptor's number


@dataclass(frozen=True)
class Claim:
    """Who claimed a key, and when."""

    key: str
    by: str  # PAGE or SENSOR
    claimed_at: str  # ISO 8601, UTC


def claims_folder(settings: Settings) -> Path:
    return settings.work_dir / FOLDER


def claim(settings: Settings, key: str, by: str) -> Claim | None:
    """Claim the files of ``key`` for ``by``'s run: None when this call claimed them, else the
    claim made first (by ``by`` itself or by the other)."""
    here = claims_folder(settings)
    here.mkdir(parents=True, exist_ok=True)
    mine = Claim(key, by, dt.datetime.now(dt.UTC).isoformat())
    path = here / f"{key}.json"
    if path.exists():  # the sensor asks again every few seconds while nothing runs
        return claim_of(settings, key) or mine
    if create_once(path, json.dumps(asdict(mine))):
        _forget_old(here)
        return None
    return claim_of(settings, key) or mine  # unreadable: claimed all the same


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


def _started() -> None:
    """This process (one the page started) has its turn, or ends: it is no longer starting."""
    descriptor = os.environ.pop(STARTING_FD, "")
    if descriptor.isdigit():
        with suppress(OSError):
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
        _started()
        yield False
        return
    try:
        with exclusive(here / RUN_LOCK):
            in_line.close()  # running now: the next may wait behind this one
            _started()
            yield True
    finally:
        in_line.close()
        _started()
