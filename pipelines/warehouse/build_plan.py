"""What a build of the working database must do: every model, or only those the inputs that
changed since the last build reach.

**Whole builds.** A build is whole — and rebuilds the incremental models from scratch (dbt
``--full-refresh``) — when asked for (`welfare run --full-refresh`), on the first build of a
working database, when nothing records what built it (its last build failed or was stopped:
the record is removed when a build begins and written when one succeeds), or when the models,
reference data, contracts or suites changed since. The tests on the incremental models check
only what a build changed (dbt_project/macros/consultations_incremental.sql), trusting that the
rows kept passed the tests of the build that wrote them: hence a whole build after any build
that did not succeed.

**Builds of what changed.** Otherwise the record says which lake inputs the working database
was built from (ledger entries and records); the inputs since then, and the files waiting in
landing/, say which sources changed. A model is rebuilt when its *scope* meets them: a lake
table's scope is its source (a source's rows), the ledger (every file received, and its
quarantined cells) or its record table (releases, reviews, closings, events); a seed's is
empty (reference data changes only with the logic, which makes a whole build); a model's is
its parents' together, unless it declares ``meta.rebuilt_for`` — the sources whose files alone
decide its rows (an ``int_<source>_current`` model reads the ledger only for its own source's
files). A new file changes its source and the ledger; a release or review changes its table
and its file's source (and so the ledger); a closing changes its table and every source.
Every model and test downstream of what is rebuilt is rebuilt and run again, as dbt's graph
says: a file's run leaves the models of reviews and closings as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.foundation.atomic import write_text
from pipelines.foundation.settings import Settings, today
from pipelines.ingest.contract import SOURCE_KEYS
from pipelines.ingest.lake import EMPTY_FILE, Lake
from pipelines.ingest.lake_tables import (
    CLOSING_TABLES,
    DECISION_TABLES,
    EVENT_TABLES,
    LEDGER,
    QUARANTINE,
)
from pipelines.warehouse.fingerprints import inputs_fingerprint, logic_fingerprint

RECORD = "built.json"  # in work/, beside the working database: what built it
PLAN_TAG = "welfare/build"  # on a run: "whole" or "changes", as planned when it was started
LEDGER_SCOPE = "ledger"  # every file received, and its quarantined cells
TODAY_SCOPE = "today"  # models measured against today (meta.uses_today): a new day changes them
LAKE_SCOPES = {
    **{source: source for source in SOURCE_KEYS},
    LEDGER: LEDGER_SCOPE,
    QUARANTINE: LEDGER_SCOPE,
    **{table: table for table in (*DECISION_TABLES, *CLOSING_TABLES, *EVENT_TABLES)},
}


@dataclass(frozen=True)
class BuildPlan:
    """What this build does, and why."""

    whole: bool  # every model (False: only ``models``)
    full_refresh: bool  # the incremental models rebuilt from scratch
    reason: str
    changed: frozenset[str] = frozenset()  # sources, the ledger, record tables
    models: frozenset[str] = field(default_factory=frozenset)  # dbt unique ids, when not whole

    def builds(self, unique_id: str) -> bool:
        return self.whole or unique_id in self.models


def lake_inputs(settings: Settings) -> dict[str, dict[str, str]]:
    """The lake's inputs of the warehouse, by table: each ledger entry, release and review with
    the source it belongs to, each closing (every source), each record of failed runs,
    extracts and vintages."""
    lake = Lake(settings.lake)
    inputs: dict[str, dict[str, str]] = {
        LEDGER: {
            f"{entry['entry_id']}.parquet": entry["source"] for entry in lake.readable_entries()
        }
    }
    for table in DECISION_TABLES:
        inputs[table] = {
            path.name: _decided_source(path)
            for path in sorted(lake.table_dir(table).glob("*.parquet"))
            if path.name != EMPTY_FILE
        }
    for table in CLOSING_TABLES:
        inputs[table] = {
            path.name: LEDGER_SCOPE
            for path in sorted(lake.table_dir(table).glob("*.parquet"))
            if path.name != EMPTY_FILE
        }
    for table in EVENT_TABLES:
        inputs[table] = {
            path.name: table
            for path in sorted(lake.table_dir(table).glob("*.parquet"))
            if path.name != EMPTY_FILE
        }
    return inputs


def _decided_source(path: Path) -> str:
    try:
        return str(pq.read_table(path, columns=["source"])["source"][0].as_py())
    except Exception:  # unreadable: repair copies it again; count the whole ledger as changed
        return LEDGER_SCOPE


def whole_build_reason(settings: Settings, requested: bool = False) -> str | None:
    """Why this build must be whole, or None."""
    if requested:
        return "asked for (welfare run --full-refresh)"
    if not settings.engine.is_spark and not settings.working_db.exists():
        return "the first build of the working database"
    record = _record(settings)
    if record is None:
        return "nothing records what built the working database (or its last build failed)"
    if record.get("logic") != logic_fingerprint():
        return "the models, reference data, contracts or suites changed since the last build"
    if record.get("built_on") != built_on(settings):
        return f"the last build was not on {built_on(settings)} (the engine changed)"
    return None


def built_on(settings: Settings) -> str:
    """Where a build's tables are: the working database, or the build schemas on a cluster."""
    engine = settings.engine
    if engine.is_spark:
        return f"spark://{engine.spark_host}:{engine.spark_port}/{engine.spark_prefix}_build"
    return "duckdb: the working database in work/"


def built_inputs_fingerprint(settings: Settings) -> str:
    """The inputs fingerprint of what the working database was built from (the lake as the
    last successful build read it, on its day): what publishing it publishes. A release or
    a file recorded while the build ran is not in it, so the next run takes it."""
    record = _record(settings)
    if record is None:
        return inputs_fingerprint(settings)
    return inputs_fingerprint(settings, record.get("inputs", {}), record.get("today"))


def _record(settings: Settings) -> dict | None:
    try:
        return json.loads((settings.work_dir / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def changed_inputs(
    settings: Settings, pending_sources: Iterable[str] = ()
) -> frozenset[str] | None:
    """The scopes whose inputs changed since the recorded build (with the sources of files
    waiting in landing/); None when an input the build used is gone (a whole build then)."""
    record = _record(settings) or {}
    before: dict[str, dict[str, str]] = record.get("inputs", {})
    now = lake_inputs(settings)
    changed = set(pending_sources)
    for table, names in now.items():
        old = before.get(table, {})
        if set(old) - set(names):
            return None
        new = [names[name] for name in set(names) - set(old)]
        if table in (*DECISION_TABLES, *CLOSING_TABLES) and new:
            changed.add(table)
        if table in (LEDGER, *DECISION_TABLES, *CLOSING_TABLES):
            changed.update(new)  # the file's source; LEDGER_SCOPE for a closing
        elif new:
            changed.add(table)
    if record.get("today") != today().isoformat():
        changed.add(TODAY_SCOPE)
    if record.get("lake") != lake_location(settings):
        # The models read the lake where the last build named it: everything that reads it
        # is built again.
        changed.update([*now, LEDGER_SCOPE])
    if LEDGER_SCOPE in changed:  # a closing, or a record whose source is unreadable
        changed.update(SOURCE_KEYS)
    if changed & {*SOURCE_KEYS, LEDGER_SCOPE}:
        changed.add(LEDGER_SCOPE)
    return frozenset(changed)


def scopes(manifest: dict) -> dict[str, frozenset[str]]:
    """Each node's scope (see the module's docstring), by unique id."""
    nodes = {**manifest["nodes"], **manifest["sources"]}
    found: dict[str, frozenset[str]] = {}

    def scope(unique_id: str) -> frozenset[str]:
        if unique_id in found:
            return found[unique_id]
        node = nodes[unique_id]
        if node["resource_type"] == "source":
            table = node["name"]
            result = frozenset({LAKE_SCOPES.get(table, LEDGER_SCOPE)})
        elif node["resource_type"] == "seed":
            result = frozenset()
        elif declared := (node.get("config") or {}).get("meta", {}).get("rebuilt_for"):
            result = frozenset(declared)
        else:
            parents = (node.get("depends_on") or {}).get("nodes", [])
            result = frozenset().union(*(scope(p) for p in parents if p in nodes))
        if (node.get("config") or {}).get("meta", {}).get("uses_today"):
            result |= {TODAY_SCOPE}
        found[unique_id] = result
        return result

    for unique_id, node in nodes.items():
        if node["resource_type"] in ("model", "seed", "snapshot", "source"):
            scope(unique_id)
    return found


def plan_build(
    settings: Settings,
    manifest: dict,
    pending_sources: Iterable[str] = (),
    full_refresh: bool = False,
) -> BuildPlan:
    """What a build started now must do."""
    if reason := whole_build_reason(settings, full_refresh):
        return BuildPlan(whole=True, full_refresh=True, reason=reason)
    changed = changed_inputs(settings, pending_sources)
    if changed is None:
        return BuildPlan(
            whole=True,
            full_refresh=True,
            reason="an input of the last build is gone (the lake was rebuilt or repaired)",
        )
    reached = frozenset(
        unique_id
        for unique_id, scope in scopes(manifest).items()
        if unique_id.startswith("model.") and scope & changed
    )
    what = ", ".join(sorted(changed)) or "nothing"
    return BuildPlan(
        whole=False,
        full_refresh=False,
        reason=f"what changed since the last build ({what}): {len(reached)} model(s)",
        changed=changed,
        models=reached,
    )


def begin_build(settings: Settings) -> dict:
    """A build begins: until it succeeds (:func:`record_build`), nothing records what built
    the working database, so the next build is whole if this one fails or is stopped. Returns
    the inputs it builds from (as they are now: a release recorded meanwhile is the next
    build's)."""
    (settings.work_dir / RECORD).unlink(missing_ok=True)
    return {
        "logic": logic_fingerprint(),
        "built_on": built_on(settings),
        "today": today().isoformat(),
        "lake": lake_location(settings),
        "inputs": lake_inputs(settings),
    }


def lake_location(settings: Settings) -> str:
    """Where the built models name the lake: a Spark cluster's tables were read from its URI;
    DuckDB's views name it relative to the lake (the profile's file_search_path, the lake of
    the home that builds), so a home moved or copied reads its own lake as it is."""
    return settings.dbt_env()["WELFARE_LAKE_URI"] if settings.engine.is_spark else ""


def record_build(settings: Settings, begun: dict) -> None:
    """After a build that succeeded: the logic its tables were computed by, and the lake
    inputs they were built from (what :func:`begin_build` returned)."""
    write_text(settings.work_dir / RECORD, json.dumps(begun, sort_keys=True))


def load_manifest(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
