"""Named points in a run where a fault-injection test can stop it dead (SIGKILL).

A run is safe to kill anywhere; the tests prove it at the moments that matter (reading a file,
between a file's rows and its ledger entry, during dbt build, during the checks, between
publishing's steps). When ``WELFARE_PAUSE_AT`` names a point, the process announces it by
creating ``<WELFARE_PAUSE_DIR>/<point>`` and waits there until the test kills it (or removes
that file: then the run goes on, e.g. once the test has filled the disk). Without that
variable (always, outside tests) a pause point does nothing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PAUSE_AT = "WELFARE_PAUSE_AT"
PAUSE_DIR = "WELFARE_PAUSE_DIR"


def pause_point(name: str) -> None:
    if os.environ.get(PAUSE_AT) != name:
        return
    marker = Path(os.environ.get(PAUSE_DIR, ".")) / name
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(os.getpid()))
    while marker.exists():  # until killed, or told to go on
        time.sleep(0.2)
