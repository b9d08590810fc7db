"""Disclosure control of extract tables: small counts hidden, and nothing hidden recoverable.

Primary and secondary suppression come from τ-Argus (``pytauargus``: the statistical
offices' tool, its modular method solved with HiGHS). This module adds what a reviewer wants
to see: every table with all its margins, the status of each cell, and an independent proof
by linear programming that no hidden cell can be worked out from the cells and totals that
are shown (``recoverable_cells``). ``protect_tables`` applies it to every table of one extract
together: a smaller table nested in a larger one is read off the larger one's margins, tables
that overlap otherwise are refused, and the proof is made once more over all the tables of a
mart at once (``recoverable_together``): a table of one month, or of a column that is another
one's code, cannot give away what another table hides.
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pipelines.extracts.spec import SpecError, TableSpec
from pipelines.extracts.tauargus_run import run

TOTAL = "計"  # the total row/column label of Japanese statistical tables
HIDDEN = "x"  # the marker of a hidden cell in Japanese statistical tables
SHOWN, PRIMARY, SECONDARY, EMPTY = "shown", "primary", "secondary", "empty"
STATUS_FROM_TAUARGUS = {"U": PRIMARY, "M": SECONDARY, "E": EMPTY}


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
    units, decoders = _coded_microdata(frame, dimensions, measure)
    if units.empty:
        table = with_totals(frame, dimensions, [measure])
        table["status"] = EMPTY
        return table
    with tempfile.TemporaryDirectory(prefix="welfare-tauargus-") as workdir:
        units_path, cells_path = Path(workdir) / "units.parquet", Path(workdir) / "cells.parquet"
        units.to_parquet(units_path)
        run(units_path, cells_path, dimensions, threshold)
        cells = pd.read_parquet(cells_path)
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


@dataclass(frozen=True)
class SumConstraints:
    """The sum constraints of a table with margins, over its hidden cells: A x = b, x ≥ 0."""

    keys: list[tuple[str, ...]]  # every cell's dimension values
    hidden: list[int]  # the cells that are unknowns, in column order
    matrix: object  # scipy.sparse CSR, one row per line (a margin and its members)
    rhs: np.ndarray


def sum_constraints(table: pd.DataFrame, dimensions: list[str], measure: str) -> SumConstraints:
    """Every margin, shown or hidden, gives one equation: its members add up to it. Shown
    cells are constants; hidden cells (primary or secondary) are the unknowns."""
    from scipy.sparse import csr_matrix

    hidden_mask = table["status"].isin([PRIMARY, SECONDARY]).to_numpy()
    keys = [tuple(row) for row in table[dimensions].astype("string").itertuples(index=False)]
    position = {key: index for index, key in enumerate(keys)}
    values = table[measure].to_numpy(dtype=float)
    hidden = [int(i) for i in np.flatnonzero(hidden_mask)]
    variable = {index: column for column, index in enumerate(hidden)}

    lines: dict[tuple[tuple, int], list[int]] = {}  # (total cell, axis) -> its members
    for index, key in enumerate(keys):
        for axis, value in enumerate(key):
            if value != TOTAL:
                parent = (*key[:axis], TOTAL, *key[axis + 1 :])
                lines.setdefault((parent, axis), []).append(index)

    rows, columns, coefficients, rhs = [], [], [], []
    for (parent, _axis), members in lines.items():
        terms: dict[int, float] = {}
        constant = 0.0
        for cell, coefficient in [(position[parent], -1.0)] + [(m, 1.0) for m in members]:
            if cell in variable:
                terms[variable[cell]] = terms.get(variable[cell], 0.0) + coefficient
            else:
                constant -= coefficient * values[cell]
        if terms:
            for column, coefficient in terms.items():
                rows.append(len(rhs))
                columns.append(column)
                coefficients.append(coefficient)
            rhs.append(constant)
    matrix = csr_matrix((coefficients, (rows, columns)), shape=(len(rhs), len(hidden)))
    return SumConstraints(keys, hidden, matrix, np.array(rhs))


PROOF_LIMIT = 80_000_000  # equations × unknowns of one proof (its dense matrix: 640 MB)


def _within_proof_limit(rows: int, columns: int, what: str) -> None:
    """Refuse a proof too large to make in bounded time and memory (a spec of a few very
    detailed tables), before making it."""
    if rows * columns > PROOF_LIMIT:
        raise SpecError(
            f"{what}: 秘匿の確認が大きすぎます（式 {rows:,} × 未知数 {columns:,}）。"
            f"分類を減らすか、年度などで表を分けてください。 / {what}: too large to prove "
            f"safe ({rows:,} equations × {columns:,} unknowns): ask for fewer dimensions, or "
            "one table per fiscal year."
        )


def _null_space(matrix: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the null space of a dense ``matrix`` (columns), from an SVD
    that never builds the rows × rows factor (scipy's null_space does: memory grows with the
    square of the equations)."""
    from scipy.linalg import svd

    # Equations repeated (a total or margin shown by two tables) leave the null space as it
    # is and only cost time: the consultation extract's 2,816 equations are 1,119 distinct
    # ones (its SVD 4.3 s of CPU → 1.3 s).
    # Rows are compared by their bytes: equal bytes are equal rows (a -0.0 only keeps a repeat).
    matrix = np.ascontiguousarray(matrix)
    as_bytes = matrix.view(np.dtype((np.void, matrix.dtype.itemsize * matrix.shape[1])))
    first = np.unique(as_bytes.ravel(), return_index=True)[1]  # the sorted copy is let go
    if len(first) < matrix.shape[0]:
        matrix = matrix[np.sort(first)]
    rows, columns = matrix.shape
    if rows == 0:
        return np.eye(columns)
    _, singular, right = svd(matrix, full_matrices=rows < columns)
    tolerance = max(rows, columns) * np.finfo(float).eps * (singular.max() if singular.size else 0)
    rank = int((singular > tolerance).sum())
    return right[rank:].T


def _positive_support(matrix, rhs: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Of the unknowns of A x = b, x ≥ 0: which can be positive in some solution (the others
    are 0 in every one), and a solution. One LP: variables (x, z, s), max Σz subject to
    A x − b s = 0, z ≤ x, 0 ≤ z ≤ 1, s ≥ 1; solutions of the cone add up, so at the optimum
    z_i = 1 wherever x_i can be positive."""
    from scipy.optimize import linprog
    from scipy.sparse import bmat, csr_matrix, eye

    count = matrix.shape[1]
    identity = eye(count, format="csr")
    equality = bmat([[matrix, csr_matrix((matrix.shape[0], count)), -csr_matrix(rhs).T]])
    inequality = bmat([[-identity, identity, csr_matrix((count, 1))]])
    solved = linprog(
        np.concatenate([np.zeros(count), -np.ones(count), [0.0]]),
        A_ub=inequality,
        b_ub=np.zeros(count),
        A_eq=equality,
        b_eq=np.zeros(matrix.shape[0]),
        bounds=[(0, None)] * count + [(0, 1)] * count + [(1, None)],
        method="highs",
    )
    if solved.status != 0:
        raise RuntimeError(f"{what} have no solution: {solved.message}")
    x, z, scale = solved.x[:count], solved.x[count : 2 * count], solved.x[-1]
    return z > 0.5, x / scale


def recoverable_cells(
    table: pd.DataFrame, dimensions: list[str], measure: str
) -> list[Recoverable]:
    """Hidden cells whose value follows from what is shown, by solving the sum constraints.

    The hidden cells are the unknowns of A x = b, x ≥ 1 (``sum_constraints``; zeros are
    shown, so a hidden cell is at least 1, and a reader knows it). One LP finds
    the largest set of cells that can exceed 1 at once (cells outside it are 1 in every
    solution: recoverable). Some solution is strictly positive on that set, so there the
    feasible set spans the whole affine space of the equations, and a cell is fixed exactly
    when no direction in the null space of A moves it. Equivalent to minimizing and
    maximizing every hidden cell (``cell_ranges``), in one LP and one SVD.
    """
    constraints = sum_constraints(table, dimensions, measure)
    if not constraints.hidden:
        return []
    # Zeros are shown, so a reader knows every hidden cell is at least 1: the unknowns are
    # y = x − 1 ≥ 0, with A y = b − A·1.
    matrix = constraints.matrix
    _within_proof_limit(*matrix.shape, "the table")
    rhs = constraints.rhs - matrix @ np.ones(matrix.shape[1])
    free, excess = _positive_support(matrix, rhs, "the table's sum constraints")
    solution = excess + 1.0
    found = [
        Recoverable(constraints.keys[constraints.hidden[i]], 1.0, 1.0)
        for i in np.flatnonzero(~free)
    ]
    if free.any():
        directions = _null_space(matrix[:, np.flatnonzero(free)].toarray())
        movable = np.abs(directions).max(axis=1) > 1e-9 if directions.size else np.zeros(0)
        for position, column in enumerate(np.flatnonzero(free)):
            if not (movable.size and movable[position]):
                value = float(round(solution[column], 6))
                found.append(
                    Recoverable(constraints.keys[constraints.hidden[column]], value, value)
                )
    return found


def cell_ranges(
    table: pd.DataFrame, dimensions: list[str], measure: str
) -> dict[tuple[str, ...], tuple[float, float]]:
    """The smallest and largest value every hidden cell can take, knowing it is at least 1
    (two LPs per cell): slow, but the plain definition; the tests check ``recoverable_cells``
    against it."""
    from scipy.optimize import linprog

    constraints = sum_constraints(table, dimensions, measure)
    ranges = {}
    for column, index in enumerate(constraints.hidden):
        objective = np.zeros(len(constraints.hidden))
        bounds = []
        for sign in (1.0, -1.0):
            objective[column] = sign
            solved = linprog(
                objective,
                A_eq=constraints.matrix,
                b_eq=constraints.rhs,
                bounds=(1, None),
                method="highs",
            )
            bounds.append(sign * solved.fun if solved.status == 0 else sign * np.inf)
        ranges[constraints.keys[index]] = (bounds[0], bounds[1])
    return ranges


MORE_SUPPRESSION_ROUNDS = 50


def hide_more(
    table: pd.DataFrame, dimensions: list[str], measure: str, exposed: list[Recoverable]
) -> int:
    """Hide one more cell beside each recoverable one (``status`` becomes secondary, in
    place): in a line through it (a margin and its members), the smallest count shown, a
    table's inner cell before a margin. τ-Argus protects hidden cells as if they could be
    0; zeros are shown, so a reader knows they are at least 1 and can pin some of them (a
    line whose every count is hidden, each 1). Returns how many cells were hidden."""
    keys = [tuple(row) for row in table[dimensions].astype("string").itertuples(index=False)]
    position = {key: index for index, key in enumerate(keys)}
    lines: dict[tuple[tuple, int], list[int]] = {}
    for index, key in enumerate(keys):
        for axis, value in enumerate(key):
            if value != TOTAL:
                parent = (*key[:axis], TOTAL, *key[axis + 1 :])
                lines.setdefault((parent, axis), []).append(index)
    status = table["status"].to_numpy(copy=True)
    values = table[measure].to_numpy()
    hidden = 0
    for cell in exposed:
        through = [
            (parent, axis)
            for axis, value in enumerate(cell.cell)
            for parent in [(*cell.cell[:axis], TOTAL, *cell.cell[axis + 1 :])]
            if value != TOTAL
        ] + [(cell.cell, axis) for axis, value in enumerate(cell.cell) if value == TOTAL]
        candidates = [
            index
            for line in through
            if line in lines
            for index in [position[line[0]], *lines[line]]
            if status[index] == SHOWN and values[index] > 0
        ]
        if not candidates:
            continue
        chosen = min(candidates, key=lambda i: (values[i], keys[i].count(TOTAL), i))
        status[chosen] = SECONDARY
        hidden += 1
    table["status"] = status
    return hidden


# -- protecting the tables of one extract together ----------------------------------------


@dataclass(frozen=True)
class ExtractTable:
    spec: TableSpec
    cells: pd.DataFrame  # dimensions (text), measures, status
    hidden: int


def query_mart(connection: duckdb.DuckDBPyConnection, table: TableSpec) -> pd.DataFrame:
    """The mart aggregated to the requested dimensions, filtered; dimensions as text."""
    dimension_sql = [f"{_text(d)} as {d}" for d in table.dimensions]
    measures = [f"cast(sum({m}) as bigint) as {m}" for m in table.measures]
    where, params = _filter_sql(table)
    sql = (
        f"select {', '.join(dimension_sql + measures)} from marts.{table.mart}"
        + (f" where {' and '.join(where)}" if where else "")
        + " group by all order by all"
    )
    return connection.execute(sql, params).df()


def _text(column: str) -> str:
    """A mart column as the tables show it: text, a month as 2024-04."""
    return f"strftime({column}, '%Y-%m')" if column == "month" else f"cast({column} as varchar)"


def _filter_sql(table: TableSpec) -> tuple[list[str], list[str]]:
    """A table's filters as SQL conditions (one per column, values compared as text) and
    their parameters."""
    where = [
        f"cast({column} as varchar) in ({', '.join('?' for _ in values)})"
        for column, values in table.filters.items()
    ]
    return where, [str(value) for values in table.filters.values() for value in values]


def protect_table(frame: pd.DataFrame, table: TableSpec) -> ExtractTable:
    dimensions, measures = list(table.dimensions), list(table.measures)
    if table.suppressed:
        cells = suppress(frame, dimensions, measures[0], table.threshold)
        exposed = recoverable_cells(cells, dimensions, measures[0])
        for _ in range(MORE_SUPPRESSION_ROUNDS):
            if not exposed or not hide_more(cells, dimensions, measures[0], exposed):
                break
            exposed = recoverable_cells(cells, dimensions, measures[0])
        if exposed:  # never hand over a table whose hidden cells can be worked out
            raise RuntimeError(
                f"{table.name}: {len(exposed)} hidden cell(s) could be recovered from the "
                f"totals, e.g. {exposed[0].cell}; the extract was not written."
            )
    elif table.totals:
        cells = with_totals(frame, dimensions, measures)
        cells["status"] = SHOWN
    else:
        cells = frame.copy()
        for dimension in dimensions:
            cells[dimension] = cells[dimension].astype("string").fillna("不明")
        cells["status"] = SHOWN
    hidden = int(cells["status"].isin([PRIMARY, SECONDARY]).sum())
    return ExtractTable(table, cells.reset_index(drop=True), hidden)


def _records_overlap(one: TableSpec, other: TableSpec) -> bool:
    """Whether two tables of a mart can count some of the same records: unless a column both
    filter on keeps different values in each (values are text: pipelines.extracts.spec)."""
    for column in set(one.filters) & set(other.filters):
        if not set(one.filters[column]) & set(other.filters[column]):
            return False
    return True


def _nested_in(table: TableSpec, larger: TableSpec) -> bool:
    return (
        table.mart == larger.mart
        and table.filters == larger.filters
        and table.threshold == larger.threshold
        and set(table.dimensions) <= set(larger.dimensions)
    )


def _margin_of(table: TableSpec, larger: ExtractTable) -> ExtractTable:
    """A smaller table read off a larger one's margins: the same cells, the same x's."""
    cells = larger.cells
    others = [d for d in larger.spec.dimensions if d not in table.dimensions]
    rows = cells[(cells[others] == TOTAL).all(axis=1)] if others else cells
    rows = rows[[*table.dimensions, *table.measures, "status"]].reset_index(drop=True)
    hidden = int(rows["status"].isin([PRIMARY, SECONDARY]).sum())
    return ExtractTable(table, rows, hidden)


def _atoms(
    connection: duckdb.DuckDBPyConnection, mart: str, measure: str, tables: list[ExtractTable]
) -> pd.DataFrame:
    """The mart's rows counted by every column any of ``tables`` shows or filters on (as the
    tables show them, and as their filters compare them), within the tables' filters."""
    columns = sorted({c for t in tables for c in (*t.spec.dimensions, *t.spec.filters)})
    select = [f'{_text(c)} as "d:{c}", cast({c} as varchar) as "f:{c}"' for c in columns]
    where, params = [], []
    for table in tables:
        clause, values = _filter_sql(table.spec)
        params += values
        where.append(f"({' and '.join(clause)})" if clause else "true")
    sql = (
        f"select {', '.join(select)}, cast(sum({measure}) as double) as atom "
        f"from marts.{mart} where {' or '.join(where)} group by all"
    )
    return connection.execute(sql, params).df()


def recoverable_together(
    connection: duckdb.DuckDBPyConnection, tables: list[ExtractTable]
) -> list[tuple[str, Recoverable]]:
    """Hidden cells that the tables of one mart give away together (table name, cell).

    The unknowns are the mart's counts by every column the tables show or filter on (its
    atoms); every cell a table shows says that the atoms it covers add up to it, every hidden
    one that they add up to at least 1 (zeros are shown). A hidden cell is recoverable when
    its atoms' sum is the same in every solution: as in
    ``recoverable_cells``, one LP finds the atoms that can be positive, and the null space of
    the equations on them says which sums cannot move. Only atoms that exist in the mart are
    unknowns (a reader does not know which are zero): the proof is stricter than a reader's
    own, never looser.
    """
    from scipy.sparse import csr_matrix

    found: list[tuple[str, Recoverable]] = []
    by_measure: dict[tuple[str, str], list[ExtractTable]] = {}
    for table in tables:
        for measure in table.spec.measures:
            by_measure.setdefault((table.spec.mart, measure), []).append(table)
    for (mart, measure), group in by_measure.items():
        if len(group) < 2 or not any(t.hidden and t.spec.measures[0] == measure for t in group):
            continue
        atoms = _atoms(connection, mart, measure, group)
        if atoms.empty:
            continue
        text = atoms.fillna("不明")
        shown_rows, shown_values, targets = [], [], []
        for table in group:
            covered = np.ones(len(atoms), dtype=bool)
            for column, values in table.spec.filters.items():
                covered &= atoms[f"f:{column}"].isin([str(v) for v in values]).to_numpy()
            dimensions = list(table.spec.dimensions)
            for cell in table.cells.to_dict("records"):
                members = covered.copy()
                for dimension in dimensions:
                    if cell[dimension] != TOTAL:
                        members &= (text[f"d:{dimension}"] == str(cell[dimension])).to_numpy()
                key = tuple(str(cell[d]) for d in dimensions)
                if cell["status"] in (PRIMARY, SECONDARY):
                    if measure == table.spec.measures[0]:
                        targets.append((table.spec.name, key, members))
                else:
                    shown_rows.append(members)
                    shown_values.append(float(cell[measure]))
        if not targets:
            continue
        # Unknowns: the atoms (≥ 0) and a slack per hidden cell (≥ 0): its atoms add up to
        # 1 + slack (zeros are shown: a hidden cell is at least 1).
        count, extra = len(atoms), len(targets)
        _within_proof_limit(len(shown_rows) + extra, count + extra, f"the tables of {mart}")
        shown = np.array(shown_rows, dtype=float).reshape(len(shown_rows), count)
        hidden_rows = np.array([m for _, _, m in targets], dtype=float).reshape(extra, count)
        matrix = csr_matrix(
            np.block(
                [
                    [shown, np.zeros((len(shown_rows), extra))],
                    [hidden_rows, -np.eye(extra)],
                ]
            )
        )
        rhs = np.concatenate([shown_values, np.ones(extra)])
        free, _ = _positive_support(matrix, rhs, f"the tables of {mart}")
        directions = (
            _null_space(matrix[:, np.flatnonzero(free)].toarray())
            if free.any()
            else np.zeros((0, 0))
        )
        slack_rows = {int(column): row for row, column in enumerate(np.flatnonzero(free))}
        for position, (name, key, members) in enumerate(targets):
            row = slack_rows.get(count + position)
            moves = row is not None and directions.size and np.abs(directions[row]).max() > 1e-9
            if not moves:
                value = float(atoms["atom"].to_numpy()[members].sum())
                found.append((name, Recoverable(key, value, value)))
    return found


def protect_tables(
    connection: duckdb.DuckDBPyConnection, specs: tuple[TableSpec, ...]
) -> list[ExtractTable]:
    """Every table of a spec, protected together: a suppressed table that is a margin of a
    larger one in the same extract is read off that one, so the two can never be combined
    to recover a hidden cell; tables that overlap otherwise are refused."""
    done: dict[str, ExtractTable] = {}
    for spec in sorted(specs, key=lambda t: -len(t.dimensions)):
        larger = next(
            (t for t in done.values() if t.spec.suppressed and _nested_in(spec, t.spec)), None
        )
        if spec.suppressed and larger is not None:
            done[spec.name] = _margin_of(spec, larger)
            continue
        for other in done.values():
            shared = set(spec.dimensions) & set(other.spec.dimensions)
            hidden_somewhere = spec.suppressed or other.spec.suppressed
            same_records = other.spec.mart == spec.mart and _records_overlap(spec, other.spec)
            if same_records and hidden_somewhere and spec.filters != other.spec.filters:
                raise SpecError(
                    f"「{spec.name}」と「{other.spec.name}」は同じ記録を違う条件（filters）で数える"
                    "ため、差し引くと小さな数が求められるおそれがあります。条件をそろえるか、"
                    "条件の列を分類に加えた1つの表にしてください。 / Tables "
                    f"{spec.name} and {other.spec.name} count the same records under different "
                    "filters: their difference could give away a small count. Give them the "
                    "same filters, or ask for one table with the filtered columns as dimensions."
                )
            if same_records and shared and hidden_somewhere:
                raise SpecError(
                    f"「{spec.name}」と「{other.spec.name}」は同じ記録を重なる分類で数えるため、"
                    "組み合わせると秘匿セルが求められるおそれがあります。1つの表にまとめてください"
                    f"（合計行に両方が含まれます）。 Tables {spec.name} and {other.spec.name} "
                    "count the same records by overlapping dimensions; ask for one table with "
                    "all their dimensions instead (its totals contain both)."
                )
        frame = query_mart(connection, spec)
        if frame.empty:
            raise SpecError(
                f"「{spec.name}」: 条件（filters）に合う記録がありません。 / Table {spec.name}: no "
                f"records match its filters {dict(spec.filters)} (a month is written 2024-04)."
            )
        done[spec.name] = protect_table(frame, spec)
    exposed = recoverable_together(connection, list(done.values()))
    if exposed:
        names = "」「".join(sorted({t.spec.name for t in done.values()}))
        table, recoverable = exposed[0]
        more_ja = f"、ほか{len(exposed) - 1}件" if len(exposed) > 1 else ""
        raise SpecError(
            f"「{names}」を組み合わせると、秘匿したセルが求められます（例: {table} の "
            f"{' × '.join(recoverable.cell)}{more_ja}）。両方の分類を持つ1つの表にまとめてください"
            f"（その合計行にそれぞれの表が含まれます）。抽出は書き出していません。 / Together, "
            f"tables {', '.join(sorted(done))} give away {len(exposed)} hidden cell(s), e.g. "
            f"{table}: {' × '.join(recoverable.cell)}. Ask for one table with all their "
            "dimensions instead (its totals contain each of them). Nothing was written."
        )
    return [done[spec.name] for spec in specs]
