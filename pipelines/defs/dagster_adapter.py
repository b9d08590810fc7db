"""The only places this project reaches past Dagster's and dagster-dbt's public API, each in
one small function or class here. :func:`private_api_changes` lists what an upgrade moved or
removed; tests/test_definitions.py fails on it, naming the upgrade, before a run could.

- Binding the "definitions state" storage of a live instance while definitions load in a
  long-lived process (Dagster keeps it in a context variable; see :func:`bound_to`).
- dagster-dbt's resource without two costs it pays on every dbt command (seconds each): it
  asks a `dbt --version` subprocess for the version, and it builds a dbt adapter inside the
  Dagster process (the profile, the project and every macro parsed again) that serves only
  its fetch_row_counts / fetch_column_metadata, which this project does not use (row counts
  are read once dbt has finished). dagster-dbt treats a missing adapter as "no metadata".
- dagster-dbt imported without dbt-core's Python modules (about a second of every process
  that loads the definitions: `welfare run`, the daemon, the code server). dagster-dbt imports
  dbt-core only for its version and a few enums, and has its own for a dbt it cannot import
  (the dbt Fusion engine); dbt runs in processes of its own here (pipelines.warehouse.dbt,
  warm_dbt), and its version is read from the installed package. The project imports
  dagster-dbt's names from this module only, so this import is the first. In that mode
  dagster-dbt resolves a `select=`/`exclude=` of `dbt_assets` (other than everything) as for
  dbt Fusion and refuses a dbt-core manifest: the assets here select everything, and a run's
  subset is chosen by Dagster's asset selection (pipelines.defs.planning).
- The SQLite event log's connections kept open between events: that class is in
  pipelines.defs.dagster_storage, which Dagster loads by name in every process that opens the
  instance, without dagster-dbt; its check is here with the others.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import sys
from collections.abc import Iterator
from functools import cached_property

import dagster as dg
from packaging import version

from pipelines.defs import dagster_storage

DEFS_STATE = ("dagster._core.storage.defs_state.base", "set_defs_state_storage")
DBT_RESOURCE_PRIVATE = ("_cli_version", "_initialize_dbt_core_adapter")
# What dagster-dbt imports to find dbt-core; its fallback when that fails.
DBT_CORE_PROBE = "dbt.version"
DBT_CORE_FOUND = ("dagster_dbt.compat", "DBT_PYTHON_VERSION")


def _import_dagster_dbt() -> None:
    """Import dagster-dbt as if dbt-core's modules were absent (see the module's docstring);
    dbt-core stays importable for anything else in the process."""
    if "dagster_dbt" in sys.modules or DBT_CORE_PROBE in sys.modules:
        return  # imported already, or dbt-core is: nothing to save
    sys.modules[DBT_CORE_PROBE] = None  # `import dbt.version` raises ImportError
    try:
        importlib.import_module("dagster_dbt")
    finally:
        del sys.modules[DBT_CORE_PROBE]


_import_dagster_dbt()

from dagster_dbt import (  # noqa: E402  (after _import_dagster_dbt)
    DagsterDbtTranslator,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

__all__ = [
    "DagsterDbtTranslator",
    "DbtCliResource",
    "DbtProject",
    "LeanDbtCliResource",
    "bound_to",
    "dbt_assets",
    "private_api_changes",
]


@contextlib.contextmanager
def bound_to(instance: dg.DagsterInstance) -> Iterator[None]:
    """Definitions loaded inside read this instance's definitions state. In a long-lived
    process an instance context left open earlier (a sensor's, a schedule's) would otherwise
    reset it to a dead instance's storage when it is garbage-collected."""
    module, name = DEFS_STATE
    set_storage = getattr(importlib.import_module(module), name)
    with set_storage(instance.defs_state_storage):
        yield


class LeanDbtCliResource(DbtCliResource):
    """dbt-core from this environment, without the version subprocess and the in-process
    adapter (see the module's docstring)."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


def private_api_changes() -> list[str]:
    """What the installed Dagster or dagster-dbt no longer has of what this module uses."""
    changes = []
    module, name = DEFS_STATE
    try:
        getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        changes.append(
            f"dagster {importlib.metadata.version('dagster')} has no {module}.{name}: "
            "pipelines/defs/dagster_adapter.py `bound_to` must follow the upgrade"
        )
    module, name = DBT_CORE_FOUND
    if not hasattr(importlib.import_module(module), name):
        changes.append(
            f"dagster-dbt {importlib.metadata.version('dagster-dbt')} has no {module}.{name}: "
            "pipelines/defs/dagster_adapter.py `_import_dagster_dbt` must follow the upgrade"
        )
    changes += [
        f"dagster {importlib.metadata.version('dagster')} has no "
        f"SqliteEventLogStorage.{method}: pipelines/defs/dagster_storage.py "
        "`KeptConnectionsEventLogStorage` must follow the upgrade"
        for method in dagster_storage.missing_private_methods()
    ]
    for attribute in DBT_RESOURCE_PRIVATE:
        if not hasattr(DbtCliResource, attribute):
            changes.append(
                f"dagster-dbt {importlib.metadata.version('dagster-dbt')} has no "
                f"DbtCliResource.{attribute}: pipelines/defs/dagster_adapter.py "
                "`LeanDbtCliResource` must follow the upgrade"
            )
    return changes
