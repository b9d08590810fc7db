"""When the working database's incremental models must be rebuilt whole (dbt --full-refresh).

An incremental model (int_consultations_current on DuckDB) keeps the rows earlier builds
computed; that is only right while they were computed by the same logic. So a build is a full
refresh when asked for (`welfare run --full-refresh`), when nothing records what built the
working database, or when the models, reference data, contracts or suites changed since; a
build that succeeded records the logic it used.

The tests on those models check only what a build changed (dbt_project/macros/
consultations_incremental.sql), trusting that the rows kept passed the tests of the build that
wrote them. So the record is removed when a build begins: after a build that failed its tests
or was stopped, the next one is a full refresh again, and tests everything.
"""

from __future__ import annotations

from pipelines.foundation.atomic import write_text
from pipelines.foundation.settings import Settings
from pipelines.warehouse.fingerprints import logic_fingerprint

BUILT_WITH = "built_with.fingerprint"  # in work/, beside the working database


def full_refresh_reason(settings: Settings, requested: bool = False) -> str | None:
    """Why this build must rebuild incremental models whole, or None."""
    if requested:
        return "asked for (welfare run --full-refresh)"
    if not settings.working_db.exists():
        return "the first build of the working database"
    recorded = settings.work_dir / BUILT_WITH
    if not recorded.exists():
        return "nothing records what built the working database (or its last build failed)"
    if recorded.read_text(encoding="utf-8").strip() != logic_fingerprint():
        return "the models, reference data, contracts or suites changed since the last build"
    return None


def begin_build(settings: Settings, requested: bool = False) -> str | None:
    """:func:`full_refresh_reason` for the build about to begin, which from here on leaves
    the working database unrecorded until it succeeds (:func:`record_build`)."""
    reason = full_refresh_reason(settings, requested)
    (settings.work_dir / BUILT_WITH).unlink(missing_ok=True)
    return reason


def record_build(settings: Settings) -> None:
    """After a build that succeeded: the logic its tables were computed by."""
    write_text(settings.work_dir / BUILT_WITH, logic_fingerprint() + "\n")
