"""Researcher extracts (issue 7): specs, disclosure control, safe cells, the package, the log."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
import zipfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines.extracts.disclosure import (
    PRIMARY,
    SHOWN,
    TOTAL,
    _null_space,
    cell_ranges,
    protect_table,
    protect_tables,
    query_mart,
    recoverable_cells,
    suppress,
    with_totals,
)
from pipelines.extracts.safe_cells import neutralize
from pipelines.extracts.spec import SpecError, extractable_marts, parse_spec
from pipelines.foundation.settings import PROJECT_ROOT
from tests.conftest import SEED, copy_home, welfare_cli

SPECS = PROJECT_ROOT / "sources" / "extracts"
CONSULTATION_SPEC = SPECS / "consultations_ward_month_topic.yml"
DIMENSIONS = ["residence", "month", "topic"]


@pytest.fixture(autouse=True)
def no_work_files_in_the_working_directory():
    """τ-Argus writes work files into its current directory: none may land where we run."""
    cwd = Path.cwd()
    before = set(cwd.iterdir())
    yield
    assert set(cwd.iterdir()) - before == set(), "files appeared in the working directory"


@pytest.fixture(scope="session")
def marts(sample_run):
    """The extractable marts, as the dbt docs of the sample run's manifest declare them."""
    settings, _ = sample_run
    return extractable_marts(settings.dbt_target_dir / "manifest.json")


def test_only_the_marts_the_dbt_docs_mark_can_be_extracted(marts):
    assert set(marts) == {
        "place_counts",
        "public_interest_facilities",
        "public_interest_activities",
        "consultation_volumes",
        "plan_progress",
        "plan_items_citywide",
    }
    assert marts["consultation_volumes"].about_people
    assert marts["place_counts"].label_ja == "居場所の数"


def _spec(**table) -> dict:
    return {
        "name": "t",
        "requester": "研究者",
        "purpose": "test",
        "tables": [{"mart": "consultation_volumes", "dimensions": ["topic"], **table}],
    }


# -- specs ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "table",
    [
        {"mart": "int_consultations_current"},
        {"mart": "consultations"},
        {"rows": True},
    ],
)
def test_row_level_consultations_are_refused(table, marts):
    with pytest.raises(SpecError, match=r"行単位.*consultation_volumes"):
        parse_spec(_spec(**table), marts)


def test_consultation_threshold_can_be_raised_never_lowered(marts):
    assert parse_spec(_spec(suppression={"threshold": 20}), marts).tables[0].threshold == 20
    assert parse_spec(_spec(), marts).tables[0].threshold == 10  # the documented default
    with pytest.raises(SpecError, match="10"):
        parse_spec(_spec(suppression={"threshold": 5}), marts)


def test_places_are_shown_unless_the_spec_asks(marts):
    spec = parse_spec(
        {
            "name": "p",
            "requester": "r",
            "purpose": "p",
            "tables": [
                {"mart": "place_counts", "dimensions": ["ward_name"]},
                {
                    "name": "hidden",
                    "mart": "place_counts",
                    "dimensions": ["activity_type"],
                    "measures": ["places"],
                    "suppression": {"threshold": 3},
                },
            ],
        },
        marts,
    )
    assert spec.tables[0].threshold is None and spec.tables[1].threshold == 3


def test_unknown_columns_and_marts_are_named_in_the_refusal(marts):
    with pytest.raises(SpecError, match="no column age"):
        parse_spec(_spec(dimensions=["age"]), marts)
    with pytest.raises(SpecError, match="Only these marts"):
        parse_spec(_spec(mart="stg_submissions"), marts)


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ({"suppression": 10}, "'suppression' is a mapping"),
        ({"suppression": {"threshold": "ten"}}, "not in the form"),
        ({"filters": [2024]}, "'filters' is a mapping"),
        ({"filters": {"fiscal_year": []}}, "lists no value"),
        ({"dimensions": {"topic": 1}}, "list of column names"),
        ({"dimensions": ["topic", "topic"]}, "each once"),
    ],
)
def test_a_spec_written_in_another_shape_is_refused_saying_so(spec, said, marts):
    with pytest.raises(SpecError, match=said):
        parse_spec(_spec(**spec), marts)
    with pytest.raises(SpecError, match="is a mapping"):
        parse_spec(_spec() | {"tables": ["consultation_volumes"]}, marts)


def test_filters_are_compared_as_the_tables_show_them(marts):
    """A month as the tables print it (2024-04) selects that month; 2024 and '2024' are one
    filter (the same records: not refused as different filters)."""
    spec = parse_spec(
        _spec(filters={"month": ["2024-04"]})
        | {"filters": {"fiscal_year": 2024}}
        | {
            "tables": [
                {"name": "a", "mart": "consultation_volumes", "dimensions": ["topic"]},
                {
                    "name": "b",
                    "mart": "consultation_volumes",
                    "dimensions": ["residence"],
                    "filters": {"fiscal_year": ["2024"]},
                },
            ]
        },
        marts,
    )
    assert spec.tables[0].filters == spec.tables[1].filters == {"fiscal_year": ("2024",)}
    assert parse_spec(_spec(filters={"month": ["2024-04"]}), marts).tables[0].filters == {
        "month": ("2024-04-01",)
    }
    assert [t.spec.name for t in protect_tables(_volumes_db(), spec.tables)] == ["a", "b"]


# -- safe cells ----------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["=1+1", "+81-6", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_like_text_is_neutralized(value):
    assert neutralize(value) == "'" + value


@pytest.mark.parametrize("value", ["北区", "計", "x", "", 5, None])
def test_other_cells_are_unchanged(value):
    assert neutralize(value) == value


# -- disclosure control ------------------------------------------------------------------
def _small_table() -> pd.DataFrame:
    counts = {
        ("北区", "子育て"): 30,
        ("北区", "介護"): 25,
        ("北区", "その他"): 3,
        ("西区", "子育て"): 40,
        ("西区", "介護"): 22,
        ("西区", "その他"): 18,
        ("港区", "子育て"): 12,
        ("港区", "介護"): 14,
        ("港区", "その他"): 20,
    }
    return pd.DataFrame([{"ward": w, "topic": t, "n": n} for (w, t), n in counts.items()])


def test_repeated_equations_leave_what_a_reader_can_recover_as_it_is():
    """The proof drops equations two tables repeat (a shared total) before its SVD: the
    directions the hidden cells can move in are those of the distinct equations, with fewer
    equations than unknowns and with more (the rank's tolerance counts the equations)."""
    rng = np.random.default_rng(7)
    for rows, columns in ((40, 70), (120, 50)):
        distinct = rng.integers(-1, 2, size=(rows, columns)).astype(float)
        distinct[:, -1] = distinct[:, 0]  # a direction a hidden cell can move in
        signed_zeros = np.where(distinct[:5] == 0, -0.0, distinct[:5])
        assert np.signbit(signed_zeros).any()
        repeated = np.vstack([distinct, distinct[::3], signed_zeros])
        alone, together = _null_space(distinct), _null_space(repeated)
        assert alone.shape == together.shape and alone.shape[1] >= 1
        # The same space (its projection), whatever basis the SVD gives it.
        assert np.allclose(alone @ alone.T, together @ together.T)


def test_primary_suppression_alone_is_recoverable_from_the_totals():
    table = with_totals(_small_table(), ["ward", "topic"], ["n"])
    table["status"] = SHOWN
    table.loc[table["n"] == 3, "status"] = PRIMARY  # hide only the small cell
    exposed = recoverable_cells(table, ["ward", "topic"], "n")
    assert [cell.cell for cell in exposed] == [("北区", "その他")]
    assert exposed[0].lower == exposed[0].upper == 3


def test_the_fast_proof_agrees_with_minimizing_and_maximizing_every_cell():
    """recoverable_cells (one LP, one SVD) against the plain definition (two LPs per cell)."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        [
            {"ward": w, "month": m, "topic": t, "n": int(rng.poisson(4))}
            for w in "ABCDE"
            for m in ("04", "05", "06")
            for t in ("a", "b", "c")
        ]
    )
    dimensions = ["ward", "month", "topic"]
    naive = with_totals(frame[frame["n"] > 0], dimensions, ["n"])
    naive["status"] = SHOWN
    naive.loc[(naive["n"] > 0) & (naive["n"] < 10), "status"] = PRIMARY
    for table in (naive, suppress(frame[frame["n"] > 0], dimensions, "n", threshold=10)):
        ranges = cell_ranges(table, dimensions, "n")
        pinned = {cell for cell, (low, high) in ranges.items() if high - low < 0.5}
        assert {found.cell for found in recoverable_cells(table, dimensions, "n")} == pinned
    assert pinned == set()  # the suppressed table: nothing pinned
    assert len({c.cell for c in recoverable_cells(naive, dimensions, "n")}) > 0


def test_secondary_suppression_protects_every_hidden_cell(tmp_path, monkeypatch):
    here, temporary = tmp_path / "here", tmp_path / "tmp"
    here.mkdir(), temporary.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setenv("TMPDIR", str(temporary))
    monkeypatch.setattr(tempfile, "tempdir", None)  # the module reads TMPDIR again
    table = suppress(_small_table(), ["ward", "topic"], "n", threshold=10)
    # τ-Argus's work files stay in its scratch folder: none in the working folder, none in the
    # temporary folder (its solver writes tmpXXXXhitasv1.txt beside its own temporary folders)
    assert list(here.iterdir()) == []
    assert list(temporary.iterdir()) == []
    hidden = table[table["status"] != SHOWN]
    assert ("北区", "その他") in set(zip(hidden["ward"], hidden["topic"], strict=True))
    assert len(hidden) >= 4  # a rectangle at least: one hidden cell per line is never enough
    assert recoverable_cells(table, ["ward", "topic"], "n") == []
    assert (table["ward"] == TOTAL).sum() == 4  # every margin is in the table


def _volumes_db() -> duckdb.DuckDBPyConnection:
    """A small marts.consultation_volumes in a real (in-memory) DuckDB."""
    connection = duckdb.connect()
    connection.execute("create schema marts")
    frame = _small_table().rename(columns={"ward": "residence", "n": "consultations"})
    frame["month"] = pd.Timestamp("2024-04-01")
    frame["fiscal_year"] = 2024
    connection.register("frame", frame)
    connection.execute("create table marts.consultation_volumes as select * from frame")
    return connection


def test_overlapping_tables_of_the_same_records_are_refused(marts):
    spec = parse_spec(
        _spec(dimensions=["residence", "topic"])
        | {
            "tables": [
                {"name": "a", "mart": "consultation_volumes", "dimensions": ["residence", "topic"]},
                {"name": "b", "mart": "consultation_volumes", "dimensions": ["topic", "month"]},
            ]
        },
        marts,
    )
    with pytest.raises(SpecError, match="overlapping dimensions"):
        protect_tables(_volumes_db(), spec.tables)


def test_tables_of_the_same_records_under_different_filters_are_refused(marts):
    """A table of one ward's topics beside a table of every ward: their difference counts
    records neither shows (a small count, even where each table hides its own)."""
    spec = parse_spec(
        _spec()
        | {
            "tables": [
                {"name": "wards", "mart": "consultation_volumes", "dimensions": ["residence"]},
                {
                    "name": "kita_topics",
                    "mart": "consultation_volumes",
                    "dimensions": ["topic"],
                    "filters": {"residence": ["北区"]},
                },
            ]
        },
        marts,
    )
    with pytest.raises(SpecError, match="different filters"):
        protect_tables(_volumes_db(), spec.tables)
    # Records that cannot overlap (another topic) are not refused.
    apart = parse_spec(
        _spec()
        | {
            "tables": [
                {
                    "name": name,
                    "mart": "consultation_volumes",
                    "dimensions": ["residence"],
                    "filters": {"topic": [topic]},
                }
                for name, topic in (("childcare", "子育て"), ("care", "介護"))
            ]
        },
        marts,
    )
    protected = protect_tables(_volumes_db(), apart.tables)
    assert [t.spec.name for t in protected] == ["childcare", "care"]


def test_tables_that_give_away_a_hidden_cell_together_are_refused(marts):
    """By month and by fiscal year, the same records: the months are hidden where small (and
    a second month beside each, in the other year), and the year's total gives the small
    one back: the proof over both tables at once finds it."""
    counts = {"2023-04": 30, "2023-05": 25, "2023-06": 3, "2024-04": 40, "2024-05": 22}
    counts["2024-06"] = 18
    frame = pd.DataFrame(
        {
            "month": pd.to_datetime([f"{m}-01" for m in counts]),
            "fiscal_year": [int(m[:4]) for m in counts],
            "consultations": list(counts.values()),
        }
    )
    connection = duckdb.connect()
    connection.execute("create schema marts")
    connection.register("frame", frame)
    connection.execute("create table marts.consultation_volumes as select * from frame")
    spec = parse_spec(
        _spec()
        | {
            "tables": [
                {"name": "by_month", "mart": "consultation_volumes", "dimensions": ["month"]},
                {"name": "by_year", "mart": "consultation_volumes", "dimensions": ["fiscal_year"]},
            ]
        },
        marts,
    )
    [by_month] = [protect_table(query_mart(connection, t), t) for t in spec.tables[:1]]
    hidden = by_month.cells[by_month.cells["status"] != SHOWN]["month"].tolist()
    assert (
        "2023-06" in hidden and recoverable_cells(by_month.cells, ["month"], "consultations") == []
    )
    with pytest.raises(SpecError, match="give away"):
        protect_tables(connection, spec.tables)


def test_a_nested_table_is_read_off_the_larger_ones_margins(marts):
    spec = parse_spec(
        _spec()
        | {
            "tables": [
                {"name": "by_topic", "mart": "consultation_volumes", "dimensions": ["topic"]},
                {
                    "name": "full",
                    "mart": "consultation_volumes",
                    "dimensions": ["residence", "topic"],
                },
            ]
        },
        marts,
    )
    by_topic, full = protect_tables(_volumes_db(), spec.tables)
    margins = full.cells[full.cells["residence"] == TOTAL]
    assert by_topic.cells["topic"].tolist() == margins["topic"].tolist()
    assert by_topic.cells["status"].tolist() == margins["status"].tolist()
    assert by_topic.cells["consultations"].tolist() == margins["consultations"].tolist()


# -- the package, on the sample ----------------------------------------------------------
@pytest.fixture(scope="module")
def consultation_extract(sample_run, tmp_path_factory):
    """An extract made on a copy of the published sample (the extract log it writes is an
    input of the next run: the shared sample home stays as it was published)."""
    settings = copy_home(sample_run[0].home, tmp_path_factory.mktemp("extracts") / "home")
    result = welfare_cli(settings.home, "extract", str(CONSULTATION_SPEC), "--by", "テスト担当")
    assert result.returncode == 0, result.stderr
    folder = Path(
        next(line for line in result.stdout.splitlines() if line.startswith("Package: "))[9:]
    )
    return settings, folder, result.stdout


@pytest.mark.slow
def test_csv_opens_as_japanese_text_in_excel(consultation_extract):
    _, folder, _ = consultation_extract
    data = (folder / "consultations_by_ward_month_topic.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(rows[0]) == ["residence", "month", "topic", "consultations"]
    residences = {row["residence"] for row in rows}
    assert {"北区", "東淀川区", "計"} <= residences
    grand = [r for r in rows if r["residence"] == r["month"] == r["topic"] == "計"]
    assert grand == [
        {
            "residence": "計",
            "month": "計",
            "topic": "計",
            "consultations": str(SEED.consultations_2024),
        }
    ]


@pytest.mark.slow
def test_no_hidden_cell_can_be_derived_from_the_shipped_totals(consultation_extract):
    """Read the table as shipped, and solve its sum constraints for every 'x'."""
    _, folder, _ = consultation_extract
    text = (folder / "consultations_by_ward_month_topic.csv").read_text(encoding="utf-8-sig")
    shipped = pd.read_csv(io.StringIO(text), dtype=str)
    hidden = shipped["consultations"] == "x"
    assert hidden.sum() > 100  # the sample has many small cells
    shown = pd.to_numeric(shipped.loc[~hidden, "consultations"])
    assert not ((shown > 0) & (shown < 10)).any()  # no count 1..9 is visible
    assert (shown == 0).any()  # zeros are shown
    table = shipped[DIMENSIONS].copy()
    table["consultations"] = pd.to_numeric(shipped["consultations"], errors="coerce").fillna(0)
    table["status"] = ["primary" if h else "shown" for h in hidden]
    # Zeros are shown, so every x is at least 1: no line (a total and its members) may leave
    # its x's exactly as many as what is missing from its total (each would be 1) ...
    keys = map(tuple, table[DIMENSIONS].to_numpy())
    value = dict(zip(keys, shipped["consultations"], strict=True))
    lines: dict[tuple, list[str]] = {}
    for key, shown_value in value.items():
        for axis, part in enumerate(key):
            if part != TOTAL:
                lines.setdefault((*key[:axis], TOTAL, *key[axis + 1 :], axis), []).append(
                    shown_value
                )
    for line, members in lines.items():
        total = value[line[:-1]]
        if total != "x" and "x" in members:
            missing = int(total) - sum(int(v) for v in members if v != "x")
            assert missing > members.count("x"), line
    # ... nor can any x be worked out otherwise (each x at least 1).
    assert recoverable_cells(table, DIMENSIONS, "consultations") == []


@pytest.mark.slow
def test_manifest_checksums_verify_and_zip_holds_the_package(consultation_extract):
    _, folder, _ = consultation_extract
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    names = {entry["path"] for entry in manifest["files"]}
    assert {
        "consultations_by_ward_month_topic.csv",
        "consultations_by_ward_month_topic.parquet",
        "consultations_by_topic.csv",
        "data_dictionary.csv",
        "README.md",
    } <= names
    for entry in manifest["files"]:
        assert hashlib.sha256((folder / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    assert manifest["warehouse_version"] and manifest["requested_by"] == "テスト担当"

    with zipfile.ZipFile(folder.with_suffix(".zip")) as archive:
        packed = {Path(name).name: archive.read(name) for name in archive.namelist()}
    assert set(packed) == names | {"manifest.json"}
    assert packed["manifest.json"] == (folder / "manifest.json").read_bytes()


@pytest.mark.slow
def test_dictionary_and_readme_explain_the_package(consultation_extract):
    _, folder, _ = consultation_extract
    dictionary = pd.read_csv(folder / "data_dictionary.csv", encoding="utf-8-sig")
    topic = dictionary[dictionary["column"] == "topic"].iloc[0]
    assert topic["label_ja"] == "相談内容" and topic["description_en"] == "Topic."
    readme = (folder / "README.md").read_text(encoding="utf-8")
    for needed in (
        "'x'",
        "10",
        "fiscal_year in 2024",
        "How to cite",
        "As of",
        "published warehouse version",
    ):
        assert needed in readme, needed
    parquet = pd.read_parquet(folder / "consultations_by_ward_month_topic.parquet")
    assert parquet["consultations"].isna().sum() == parquet["consultations_hidden"].sum() > 0


@pytest.mark.slow
def test_row_level_spec_is_refused_on_the_command_line(sample_run, tmp_path):
    settings, _ = sample_run
    spec = tmp_path / "cases.yml"
    spec.write_text(
        "name: cases\nrequester: 研究者\npurpose: 事例分析\n"
        "tables:\n  - mart: int_consultations_current\n",
        encoding="utf-8",
    )
    result = welfare_cli(settings.home, "extract", str(spec))
    assert result.returncode == 2
    assert "行単位" in result.stderr and "consultation_volumes" in result.stderr
    assert not (settings.extracts / "cases").exists()


@pytest.mark.slow
def test_extract_job_in_dagster_and_the_audit_log(consultation_extract):
    import dagster as dg

    from pipelines.defs.build import build_definitions
    from pipelines.warehouse.dbt import run_dbt

    settings, _, _ = consultation_extract
    # Resolved and run inside an instance of its own: Dagster reads the definitions' state
    # storage from whichever instance was entered last in this process (a finished run's, in
    # a test process that ran the pipeline before).
    with dg.instance_for_test() as instance:
        job = build_definitions(settings).resolve_job_def("extract_job")
        result = job.execute_in_process(
            instance=instance,
            run_config={
                "ops": {
                    "extract_package": {
                        "config": {
                            "spec": "sources/extracts/places_and_facilities.yml",
                            "requested_by": "dagster",
                        }
                    }
                }
            },
        )
    assert result.success
    zip_path = Path(result.output_for_node("extract_package"))
    assert zip_path.exists() and zip_path.parent.name == "places_and_facilities"

    # The extract log is what the next run's audit.extracts model reads: build that model
    # (real dbt, on this home's working database) rather than the whole pipeline again.
    built = run_dbt(settings, ["build", "--select", "+extracts"])
    assert built.returncode == 0, built.stdout + built.stderr
    with duckdb.connect(str(settings.working_db), read_only=True) as connection:
        logged = connection.execute(
            "select extract_name, requested_by, cells_hidden, zip_sha256 from audit.extracts "
            "order by created_at"
        ).fetchall()
    assert [(name, who) for name, who, _, _ in logged] == [
        ("consultations_ward_month_topic", "テスト担当"),
        ("places_and_facilities", "dagster"),
    ]
    assert logged[0][2] > 100 and logged[1][2] == 0
    assert logged[1][3] == hashlib.sha256(zip_path.read_bytes()).hexdigest()
