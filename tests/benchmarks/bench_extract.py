"""Benchmark (not a test): disclosure control of a large consultation extract.

    uv run python tests/benchmarks/bench_extract.py [MONTHS]     (also run by `make benchmark`)

A ward × month × topic table of consultation counts (26 residences, 7 topics, MONTHS months,
counts drawn like a busy centre's: most cells small) is suppressed with τ-Argus and then
proved safe by linear programming, as `welfare extract` does. Prints the cells, the hidden
cells and the wall time of each step.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from pipelines.extracts.disclosure import PRIMARY, SECONDARY, recoverable_cells, suppress

DIMENSIONS = ["residence", "month", "topic"]


def table(months: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    residences = [f"区{n:02d}" for n in range(1, 25)] + ["市外", "不明"]
    topics = [f"内容{n}" for n in range(1, 8)]
    index = pd.MultiIndex.from_product(
        [residences, [f"M{m:03d}" for m in range(months)], topics], names=DIMENSIONS
    )
    frame = index.to_frame(index=False)
    frame["consultations"] = rng.poisson(rng.gamma(1.2, 2.5, len(frame)))
    return frame[frame["consultations"] > 0].reset_index(drop=True)


def main(months: int) -> None:
    frame = table(months)
    print(
        f"{months} months: {len(frame):,} non-empty cells, {frame.consultations.sum():,} consultations"
    )
    started = time.perf_counter()
    cells = suppress(frame, DIMENSIONS, "consultations", threshold=10)
    suppressed = time.perf_counter()
    hidden = int(cells["status"].isin([PRIMARY, SECONDARY]).sum())
    print(
        f"τ-Argus suppression: {suppressed - started:.1f} s — {len(cells):,} cells with margins, {hidden:,} hidden"
    )
    exposed = recoverable_cells(cells, DIMENSIONS, "consultations")
    proved = time.perf_counter()
    print(f"LP proof: {proved - suppressed:.1f} s — {len(exposed)} hidden cell(s) recoverable")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 24)
