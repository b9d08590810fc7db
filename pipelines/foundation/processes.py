"""Processes: this project's own Python children, and whether a process is still running (how
work left behind by a killed one is recognised)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def python_command(*args: str) -> list[str]:
    """A Python process of this environment running ``args`` (`-m module …`, `-c code …`),
    which imports nothing from the folder it was started in: `-c` and `-m` put that folder
    first on the import path, and a `dbt/` or `great_expectations/` folder in an operator's
    working directory (a shared /tmp) would run as the library (-P, Python 3.11)."""
    return [sys.executable, "-P", *args]


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    return True


def process_started(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, Linux's /proc), or None where that
    is not known: with the pid, which process it is (a pid is reused once its process ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])  # field 22 of stat(5); the split starts at field 3
    except (OSError, ValueError, IndexError):
        return None


def same_process_running(pid: int, started: int | None) -> bool:
    """Whether the process that was ``pid``, started at ``started`` (process_started), still
    runs, and not a later one given the same pid."""
    if not process_alive(pid):
        return False
    now = process_started(pid)
    return started is None or now is None or now == started


def process_age() -> float | None:
    """Seconds since this process started (Linux's /proc), or None where that is not known:
    the part of a command's time spent before its own code ran (Python, imports)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start, in clock ticks
        return float(Path("/proc/uptime").read_text().split()[0]) - started
    except (OSError, ValueError, IndexError):
        return None
