"""Disclosure control of extract tables: small counts hidden, and nothing hidden recoverable.

Primary and secondary suppression come from τ-Argus (``pytauargus``: the statistical
offices' tool, its modular method solved with HiGHS). This module adds what a reviewer wants
to see: every table with all its margins, the status of each cell, and an independent proof
by linear programming that no hidden cell can be worked out from the cells and totals that
are shown (``recoverable_cells``).
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import dataclass

import numpy as np
import pandas as pd

TOTAL = "計"  # the total row/column label of Japanese statistical tables
HIDDEN = "x"  # the marker of a hidden cell in Japanese statistical tables
SHOWN, PRIMARY, SECONDARY, EMPTY = "shown", "primary", "secondary", "empty"
STATUS_FROM_TAUARGUS = {"U": PRIMARY, "M": SECONDARY, "E": EMPTY}
SECONDARY_METHOD = "MOD(1)"  # τ-Argus modular (HiTaS) method


def with_totals(frame: pd.DataFrame, dimensions: list[str], measures: list[str]) -> pd.DataFrame:
    """Every cell and every margin (sub-total and grand total), dimension values as text."""
    data = frame.copy()
    for dimension in dimensions:
        data[dimension] = data[dimension].astype("string").fillna("不明")
    parts = []
    for kept in range(len(dimensions), -1, -1):
        for group in itertools.combinations(dimensions, kept):
            if group:
                part = data.groupby(list(group), as_index=False, dropna=False)[measures].sum()
            else:
                part = data[measures].sum().to_frame().T
            for dimension in dimensions:
                if dimension not in group:
                    part[dimension] = TOTAL
            parts.append(part[dimensions + measures])
    result = pd.concat(parts, ignore_index=True)
    for measure in measures:
        result[measure] = result[measure].astype("int64")
    return result


def _coded_microdata(
    frame: pd.DataFrame, dimensions: list[str], measure: str
) -> tuple[pd.DataFrame, dict[str, dict[str, str]]]:
    """One record per counted unit (a consultation), as τ-Argus counts contributors.

    τ-Argus reads fixed-width ASCII, so each dimension's values travel as codes (c001, ...)
    and are decoded afterwards.
    """
    labels = frame[dimensions].astype("string").fillna("不明")
    decoders: dict[str, dict[str, str]] = {}
    coded = pd.DataFrame(index=frame.index)
    for dimension in dimensions:
        values = sorted(labels[dimension].unique())
        codes = {value: f"c{number:04d}" for number, value in enumerate(values, start=1)}
        decoders[dimension] = {code: value for value, code in codes.items()}
        coded[dimension] = labels[dimension].map(codes)
    counts = frame[measure].astype("int64").to_numpy()
    units = coded.loc[coded.index.repeat(counts)].reset_index(drop=True)
    units["unit"] = 1
    return units, decoders


def suppress(
    frame: pd.DataFrame, dimensions: list[str], measure: str, threshold: int
) -> pd.DataFrame:
    """The table with all margins; counts 1..threshold-1 hidden, plus what protects them.

    Returns the dimensions, the measure (true values; never written where hidden) and
    ``status``: shown, empty (a zero: shown), primary (below the threshold) or secondary
    (hidden so that no primary cell can be recovered from the totals).
    """
    from pytauargus import protect

    units, decoders = _coded_microdata(frame, dimensions, measure)
    if units.empty:
        table = with_totals(frame, dimensions, [measure])
        table["status"] = EMPTY
        return table
    with tempfile.TemporaryDirectory(prefix="welfare-tauargus-") as workdir:
        result = protect(
            units,
            tables=[dimensions],
            response="unit",
            safety_rules=f"FREQ({threshold},0)",
            suppress=SECONDARY_METHOD,
            workdir=workdir,
        )
        cells = result.tables[0].dataframe()
    table = pd.DataFrame(
        {
            dimension: cells[dimension]
            .astype(str)
            .map(lambda code, d=dimension: decoders[d].get(code, TOTAL))
            for dimension in dimensions
        }
    ).astype("string")
    table[measure] = cells["unit"].round().astype("int64").to_numpy()
    table["status"] = [STATUS_FROM_TAUARGUS.get(code, SHOWN) for code in cells["status"]]
    _check_primary(table, measure, threshold)
    return table.reset_index(drop=True)


def _check_primary(table: pd.DataFrame, measure: str, threshold: int) -> None:
    small = (table[measure] > 0) & (table[measure] < threshold)
    exposed = table[small & ~table["status"].isin([PRIMARY, SECONDARY])]
    if len(exposed):
        raise RuntimeError(f"suppression left {len(exposed)} small count(s) visible")


@dataclass(frozen=True)
class Recoverable:
    cell: tuple[str, ...]
    lower: float
    upper: float


def recoverable_cells(
    table: pd.DataFrame, dimensions: list[str], measure: str, tolerance: float = 0.5
) -> list[Recoverable]:
    """Hidden cells whose value follows from what is shown: the sum constraints solved as LPs.

    The unknowns are the hidden cells (≥ 0); every margin shown or hidden gives one equation
    (its members add up to it). For each hidden cell the smallest and largest value the
    equations allow are computed; a cell whose range is narrower than ``tolerance`` is
    recoverable.
    """
    from scipy.optimize import linprog
    from scipy.sparse import lil_matrix

    hidden_mask = table["status"].isin([PRIMARY, SECONDARY]).to_numpy()
    if not hidden_mask.any():
        return []
    keys = [tuple(row) for row in table[dimensions].astype("string").itertuples(index=False)]
    position = {key: index for index, key in enumerate(keys)}
    values = table[measure].to_numpy(dtype=float)
    variable = {index: n for n, index in enumerate(np.flatnonzero(hidden_mask))}

    lines: dict[tuple[tuple, int], list[int]] = {}  # (total cell, axis) -> its members
    for index, key in enumerate(keys):
        for axis, value in enumerate(key):
            if value != TOTAL:
                parent = (*key[:axis], TOTAL, *key[axis + 1 :])
                lines.setdefault((parent, axis), []).append(index)

    equations: list[tuple[dict[int, float], float]] = []
    for (parent, _axis), members in lines.items():
        terms: dict[int, float] = {}
        constant = 0.0
        for cell, coefficient in [(position[parent], -1.0)] + [(m, 1.0) for m in members]:
            if cell in variable:
                terms[variable[cell]] = terms.get(variable[cell], 0.0) + coefficient
            else:
                constant -= coefficient * values[cell]
        if terms:
            equations.append((terms, constant))

    matrix = lil_matrix((len(equations), len(variable)))
    rhs = np.zeros(len(equations))
    for row, (terms, constant) in enumerate(equations):
        for column, coefficient in terms.items():
            matrix[row, column] = coefficient
        rhs[row] = constant
    matrix = matrix.tocsr()

    found = []
    for index, column in variable.items():
        objective = np.zeros(len(variable))
        bounds = []
        for sign in (1.0, -1.0):
            objective[column] = sign
            solved = linprog(objective, A_eq=matrix, b_eq=rhs, bounds=(0, None), method="highs")
            bounds.append(sign * solved.fun if solved.status == 0 else (0 if sign > 0 else np.inf))
        lower, upper = bounds
        if upper - lower < tolerance:
            found.append(Recoverable(keys[index], lower, upper))
    return found
