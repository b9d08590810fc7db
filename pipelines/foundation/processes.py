"""Whether a process is still running: how work left behind by a killed one is recognised."""

from __future__ import annotations

import os
from pathlib import Path


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    return True


def process_age() -> float | None:
    """Seconds since this process started (Linux's /proc), or None where that is not known:
    the part of a command's time spent before its own code ran (Python, imports)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start, in clock ticks
        return float(Path("/proc/uptime").read_text().split()[0]) - started
    except (OSError, ValueError, IndexError):
        return None
