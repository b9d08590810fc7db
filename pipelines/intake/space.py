"""How much disk a run may need, and the operator's line when it is not there."""

from __future__ import annotations

from pipelines.foundation.disk import (
    HEADROOM,
    DiskFull,
    disk_message,
    file_or_tree_size,
    free_bytes,
)
from pipelines.foundation.settings import Settings
from pipelines.ingest.contract import SOURCE_KEYS
from pipelines.ingest.lake import Lake
from pipelines.ingest.landing import landed_files


def space_needed(settings: Settings) -> int:
    """A generous estimate of what one run writes: each waiting file three times (archive,
    lake, temporary copies), the working database twice (dbt rebuilds its tables beside the
    old ones), the warehouse four times (new version, the swapped-in copy, Parquet, temporary
    files), and the run history's headroom."""
    # Files whose landing path the ledger does not know (no hashing: an estimate; a damaged
    # ledger entry, repaired later in the run, is not read here).
    known = {entry["landing_path"] for entry in Lake(settings.lake).readable_entries()}
    waiting = sum(
        path.stat().st_size
        for source in SOURCE_KEYS
        for path in landed_files(settings, source)
        if path.relative_to(settings.landing).as_posix() not in known
    )
    return (
        3 * waiting
        + 2 * file_or_tree_size(settings.working_db)
        + 4 * file_or_tree_size(settings.warehouse)
        + HEADROOM
    )


def check_space(settings: Settings) -> None:
    """Raise :class:`DiskFull` when the run would not fit in the free space."""
    needed = space_needed(settings)
    if free_bytes(settings.home) < needed:
        raise DiskFull(disk_message(settings, needed))


def disk_full_message(settings: Settings, detail: str = "", again: str = "welfare run") -> str:
    """The operator's line for a write that failed for lack of disk (``detail``: the error;
    ``again``: the command to run once the disk is mended)."""
    return disk_message(settings, space_needed(settings), detail, again)
