"""What a mart suite checks (the tables this run built, before publishing) and which current
files are behind a failing row: the warehouse's side of the blocking mart checks
(pipelines.defs.quality runs them)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from pipelines.foundation.settings import Settings
from pipelines.quality.suites import Suite
from pipelines.warehouse.engine import open_built

CHUNK_ROWS = 250_000


def read_mart_chunks(settings: Settings, suite: Suite) -> Iterator[pd.DataFrame]:
    """The rows a mart suite checks, from what this run built (not yet published). A suite's
    ``query`` is DuckDB SQL over its own table only: on Spark that table is read from the
    cluster first (pipelines.warehouse.engine.open_built)."""
    sql = suite.query or f"select {', '.join(suite.columns)} from {suite.table}"
    with open_built(settings, [suite.table]) as connection:
        reader = connection.sql(sql).to_arrow_reader(CHUNK_ROWS)
        for batch in reader:
            yield batch.to_pandas()


CURRENT_FILES = "intermediate.int_submissions_current"


def files_behind(settings: Settings, suite: Suite, failing: list[tuple]) -> list[str]:
    """The current files behind a mart's failing rows, where the suite says how to find them
    (its ``submission`` mapping: source, fiscal-year column and submitter column)."""
    mapping = suite.submission
    if not mapping or not failing:
        return []
    with open_built(settings, [CURRENT_FILES]) as connection:
        return sorted(
            {
                name
                for fiscal_year, submitter in failing
                for (name,) in connection.execute(
                    f"select file_name from {CURRENT_FILES} where "
                    "is_current and source = ? and fiscal_year = ? and submitter_code = ?",
                    [mapping["source"], fiscal_year, submitter],
                ).fetchall()
            }
        )
