"""Whether a run is needed now: the published warehouse against what it would be built from."""

from __future__ import annotations

from pipelines.foundation.settings import Settings
from pipelines.ingest.lake import Lake
from pipelines.intake.receiving import waiting_files
from pipelines.intake.repair import lake_damage
from pipelines.warehouse.engine import is_published, last_publish, publication_complete
from pipelines.warehouse.fingerprints import inputs_fingerprint


def reason_to_run(settings: Settings) -> str | None:
    """Why a warehouse run is needed now, or None when it would change nothing: no file waits
    in landing/ and the inputs are those of the published version."""
    lake = Lake(settings.lake)
    if lake.outdated():
        return "the lake was written by an earlier version: it is derived again from the archive"
    waiting = sum(len(files) for files in waiting_files(settings, lake).values())
    if waiting:
        return f"{waiting} new file(s) in the landing folder"
    if damaged := lake_damage(settings):
        return f"{len(damaged)} lake file(s) to rebuild from the archive ({damaged[0]}, ...)"
    last = last_publish(settings)
    if last is None and not is_published(settings):
        return "no published warehouse yet"
    if not publication_complete(settings):
        return "the Parquet files in published/ are behind the published warehouse"
    if (last[1] if last else None) != inputs_fingerprint(settings):
        return "the inputs changed since the published version (files, releases, models, rules)"
    return None
