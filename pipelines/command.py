"""The `welfare` command's entry: a `welfare run` goes to the home's standing process when
one serves it (`welfare worker`: Dagster, dbt, great-expectations and matplotlib already
imported, the run a fork of it); every other command, and a run no standing process takes,
is pipelines.cli in this process."""

from __future__ import annotations

import sys

from pipelines.foundation import standing
from pipelines.foundation.settings import CODE_PATHS, HomeError, Settings

HANDED_OVER = frozenset({"run"})  # the commands a standing process serves


def entry() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] in HANDED_OVER:
        code = _handed_over(argv)
        if code is not None:
            sys.stdout.flush()
            sys.exit(code)
    from pipelines.cli import entry as here  # imports pandas, pyarrow, DuckDB: 0.5 s

    here()


def _handed_over(argv: list[str]) -> int | None:
    try:
        home = Settings.from_env().home
    except HomeError:
        return None  # said by the command itself
    return standing.hand_over(str(home), ["welfare", *argv], standing.code_fingerprint(CODE_PATHS))
