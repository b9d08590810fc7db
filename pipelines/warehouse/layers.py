"""Which layer of the warehouse a dbt node belongs to, whatever the engine built it in.

A model configured with ``schema: marts`` is built in ``marts`` on DuckDB and in
``welfare_build_marts`` on Spark (a private build schema, published later): its layer is
``marts`` on both. Read from a manifest node (or dagster-dbt's resource props).
"""

from collections.abc import Mapping
from typing import Any


def layer_of(node: Mapping[str, Any]) -> str:
    return (node.get("config") or {}).get("schema") or node["schema"]


def is_mart(node: Mapping[str, Any]) -> bool:
    return node["resource_type"] == "model" and layer_of(node) == "marts"
