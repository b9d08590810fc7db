"""Running τ-Argus (pytauargus) in a process of its own, inside a scratch folder.

Its native solvers write work files (JJUit.dat, hierinfo.dat, cspSCIP.heu) into the current
directory whatever folder they are given, and beside (not inside) the temporary folders they
make (``tmpXXXXhitasv1.txt`` in the temporary folder); a crash in native code would take the
caller with it.
`welfare extract` and the Dagster job therefore run it here, with the scratch folder as the
working directory and as the temporary folder: nothing is left behind outside it.

    python -m pipelines.extracts.tauargus_run UNITS.parquet CELLS.parquet DIM[,DIM...] THRESHOLD
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from pipelines.foundation.processes import python_command

SECONDARY_METHOD = "MOD(1)"  # τ-Argus modular (HiTaS) method


def run(units: Path, cells: Path, dimensions: list[str], threshold: int) -> None:
    """In a child process: protect the table of ``units`` and write its cells."""
    command = python_command(
        "-m",
        "pipelines.extracts.tauargus_run",
        str(units),
        str(cells),
        ",".join(dimensions),
        str(threshold),
    )
    scratch = units.parent
    result = subprocess.run(
        command,
        cwd=scratch,
        env={**os.environ, "TMPDIR": str(scratch)},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not cells.exists():
        raise RuntimeError(f"τ-Argus failed: {(result.stderr or result.stdout)[-2000:]}")


def main(units_path: str, cells_path: str, dimensions: str, threshold: str) -> None:
    from pytauargus import protect

    units = pd.read_parquet(units_path)
    result = protect(
        units,
        tables=[dimensions.split(",")],
        response="unit",
        safety_rules=f"FREQ({int(threshold)},0)",
        suppress=SECONDARY_METHOD,
        workdir=str(Path(units_path).parent),
    )
    table = result.tables[0].dataframe()
    table[[*dimensions.split(","), "unit", "status"]].astype(
        {"unit": "float64", "status": "string"}
    ).to_parquet(cells_path)


if __name__ == "__main__":
    main(*sys.argv[1:5])
