"""What the tables are computed from and by, as fingerprints.

- :func:`logic_fingerprint`: the models, the reference data, the contracts and the suites (not
  the data). An incremental model is rebuilt whole when it changes
  (pipelines.warehouse.incremental).
- :func:`inputs_fingerprint`: that and every ledger entry and record: what a published
  warehouse was built from. Equal fingerprints: a run would change nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from pipelines.foundation.settings import (
    DBT_PROJECT_DIR,
    EXPECTATIONS_DIR,
    PROJECT_ROOT,
    REFERENCE_DIR,
    Settings,
    today,
)
from pipelines.ingest.contract import CONTRACTS_DIR
from pipelines.ingest.lake import EMPTY_FILE
from pipelines.ingest.lake_tables import WAREHOUSE_INPUTS

DBT_INPUTS = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "tests", "analyses")


def _files_digest(roots: list[Path]) -> str:
    digest = hashlib.sha256()
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for file in files:
            digest.update(str(file.relative_to(PROJECT_ROOT)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def dbt_fingerprint() -> str:
    """The dbt project and the reference data it seeds."""
    return _files_digest([*(DBT_PROJECT_DIR / name for name in DBT_INPUTS), REFERENCE_DIR])


def rules_fingerprint() -> str:
    """The source contracts and the great-expectations suites: what reading and checking do."""
    return _files_digest(sorted([*CONTRACTS_DIR.glob("*.yml"), *EXPECTATIONS_DIR.glob("*.json")]))


def logic_fingerprint() -> str:
    """What the tables are computed by: models, reference data, contracts, suites (not data)."""
    return hashlib.sha256(f"{dbt_fingerprint()}\n{rules_fingerprint()}".encode()).hexdigest()


def inputs_fingerprint(
    settings: Settings,
    built_from: Mapping[str, Iterable[str]] | None = None,
    day: str | None = None,
) -> str:
    """What a published warehouse was built from: the lake's ledger entries and records, the
    models and reference data, the contracts and the suites, and the day (due dates are
    measured against it: a day passing is a change). ``built_from`` and ``day``: the files of
    each lake table and the day a build read (pipelines.warehouse.build_plan), for what it
    publishes; by default the lake as it is now and today (is a run needed?)."""
    if built_from is None:
        built_from = {
            table: [p.name for p in (settings.lake / table).glob("*.parquet")]
            for table in WAREHOUSE_INPUTS  # every file of these is an input: a new one, a change
        }
    entries = [
        f"{table}/{name}"
        for table in WAREHOUSE_INPUTS
        for name in sorted(built_from.get(table, ()))
        if name != EMPTY_FILE
    ]
    parts = [
        dbt_fingerprint(),
        rules_fingerprint(),
        f"today {day or today().isoformat()}",
        *entries,
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
