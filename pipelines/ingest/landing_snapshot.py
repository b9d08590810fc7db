"""What is in the landing folder, as a sensor cursor sees it."""

from __future__ import annotations

import hashlib
import json

from pipelines.foundation.settings import Settings
from pipelines.ingest.contract import SOURCE_KEYS
from pipelines.ingest.landing import landed_files


def landing_snapshot(settings: Settings) -> dict[str, str]:
    """Every landed file as ``source/relative/path`` → ``size:mtime_ns`` (a changed file is new)."""
    snapshot = {}
    for source in SOURCE_KEYS:
        for path in landed_files(settings, source):
            stat = path.stat()
            snapshot[path.relative_to(settings.landing).as_posix()] = (
                f"{stat.st_size}:{stat.st_mtime_ns}"
            )
    return snapshot


def new_files(snapshot: dict[str, str], cursor: str | None) -> list[str]:
    seen = json.loads(cursor) if cursor else {}
    return sorted(name for name, version in snapshot.items() if seen.get(name) != version)


def run_key(files: list[str], snapshot: dict[str, str]) -> str:
    return hashlib.sha256("\n".join(f"{f}={snapshot[f]}" for f in files).encode()).hexdigest()[:24]
