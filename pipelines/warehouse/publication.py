"""What publishing gives analysts, whatever the engine: the published schemas and a version."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PUBLISHED_SCHEMAS = ("marts", "audit")  # what analysts query; the other layers stay private
KEEP_VERSIONS = 5


@dataclass(frozen=True)
class Published:
    version: str  # the UTC stamp of the version analysts now see
    location: str  # where they find it
    tables: dict[str, int]  # schema.table → rows
    exported: list[Path]  # Parquet copies (re)written under published/ (DuckDB engine)
    unchanged: bool = False  # same inputs as the version already published: nothing replaced


class NotPublished(FileNotFoundError):
    pass


def tables_in(sql: str) -> list[str]:
    """The published tables (``marts.x``, ``audit.y``) a reader's SQL names."""
    schemas = "|".join(PUBLISHED_SCHEMAS)
    return sorted(set(re.findall(rf"\b(?:{schemas})\.\w+", sql)))
