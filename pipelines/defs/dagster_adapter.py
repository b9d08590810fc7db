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
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
from collections.abc import Iterator
from functools import cached_property

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging import version

DEFS_STATE = ("dagster._core.storage.defs_state.base", "set_defs_state_storage")
DBT_RESOURCE_PRIVATE = ("_cli_version", "_initialize_dbt_core_adapter")


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
    for attribute in DBT_RESOURCE_PRIVATE:
        if not hasattr(DbtCliResource, attribute):
            changes.append(
                f"dagster-dbt {importlib.metadata.version('dagster-dbt')} has no "
                f"DbtCliResource.{attribute}: pipelines/defs/dagster_adapter.py "
                "`LeanDbtCliResource` must follow the upgrade"
            )
    return changes
