"""The dbt checks catch what they claim to catch."""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from pipelines.defs.summary import _dbt_error
from pipelines.foundation.settings import Settings
from pipelines.warehouse.dbt import dbt_run_dir, failed_nodes, run_dbt
from pipelines.warehouse.warm_dbt import PARTIAL_PARSE
from tests.conftest import welfare_cli

pytestmark = pytest.mark.slow


TAMPERS = {
    "assert_place_counts_reconcile": "delete from marts.place_counts where ward_code = '271276' "
    "and fiscal_year = 2024 and activity_type = '子ども食堂'",
    "assert_consultation_volumes_reconcile": "update marts.consultation_volumes set "
    "consultations = consultations + 1 where month = date '2024-05-01' and channel = '電話' "
    "and consultations = 1",
    "assert_public_interest_facilities_reconcile": "update marts.public_interest_facilities "
    "set facilities_with_initiatives = 0 where fiscal_year = 2024 and field = '保育'",
}


def test_breaking_a_mart_makes_its_reconciliation_fail(sample_run, published_home):
    """Each reconciliation test passed in the sample run's build and fails on its tampered mart
    (the three tampers touch three different marts, so one dbt invocation tells them apart)."""
    _, summary = sample_run
    passed = {name.split(":")[1] for name in summary.passed_checks}
    assert set(TAMPERS) <= passed
    built_copy = published_home
    tests = ["--select", *TAMPERS]
    with duckdb.connect(str(built_copy.working_db)) as db:
        for tamper in TAMPERS.values():
            assert db.execute(tamper).fetchone()[0] > 0
    # Written where a run's dbt writes: the run's summary names what failed from there.
    # (and starting from the home's parse, as a run's dbt does: dagster-dbt copies it there).
    run = dbt_run_dir(built_copy, "tampered")
    run.mkdir(parents=True)
    shutil.copy2(built_copy.dbt_target_dir / PARTIAL_PARSE, run / PARTIAL_PARSE)
    failed = run_dbt(built_copy, ["test", *tests], quiet=False, target_path=run)
    assert failed.returncode != 0
    for test_name in TAMPERS:
        assert f"FAIL 1 {test_name}" in failed.stdout
    said = failed_nodes(built_copy, "tampered")
    assert sorted(line.split(":")[0] for line in said) == sorted(TAMPERS), said
    assert all("Got 1 result" in line for line in said), said


def test_a_summary_names_a_failed_generic_test_and_model_by_name(tmp_path):
    """A generic test's id ends in a hash (test.<project>.<name>.<hash>): the summary names the
    test a person finds in the model's YAML, and a model, with the first line of its error."""
    settings = Settings(tmp_path / "home")
    run = dbt_run_dir(settings, "failed")
    run.mkdir(parents=True)
    test = "relationships_stg_ibasho_survey_ward_code__ward_code__ref_dim_ward_"
    results = [
        {
            "unique_id": f"test.welfare_warehouse.{test}.9933300a59",
            "status": "fail",
            "message": "Got 710 results, configured to fail if != 0",
        },
        {
            "unique_id": "model.welfare_warehouse.submission_status",
            "status": "error",
            "message": "Runtime Error in model submission_status (models/marts/x.sql)\n"
            "  Catalog Error: Table with name dim_ward does not exist!",
        },
        {"unique_id": "model.welfare_warehouse.place_counts", "status": "success", "message": "OK"},
        {
            "unique_id": "unit_test.welfare_warehouse.int_year_locks.a_release_unlocks_its_file",
            "status": "fail",
            "message": "actual differs from expected",
        },
    ]
    (run / "run_results.json").write_text(json.dumps({"results": results}), encoding="utf-8")
    assert failed_nodes(settings, "failed") == [
        f"{test}: Got 710 results, configured to fail if != 0",
        "submission_status: Catalog Error: Table with name dim_ward does not exist!",
        "a_release_unlocks_its_file: actual differs from expected",
    ]


def test_a_summary_says_what_dbt_said_when_it_left_no_results():
    """dbt ended before it wrote results (killed, a full disk): the summary quotes the first
    error dbt's output gave, as dagster-dbt lists them in the step's error."""
    error = (
        "The dbt CLI process with command\n\n`welfare-dbt build --select x`\n\n"
        "failed with exit code `2`. Check the stdout in the Dagster compute logs for the full "
        "information about the error.\n\nErrors parsed from dbt logs:\n\nEncountered an error:\n"
        "the warm dbt process ended before dbt finished"
    )
    assert _dbt_error(error) == "the warm dbt process ended before dbt finished"
    assert _dbt_error("The dbt CLI process failed with exit code `1`.") is None


def test_the_models_unit_tests_pass_on_duckdb(published_home):
    """The models' logic on made-up rows (the Spark suite runs the same on the cluster), on
    whatever day they run: those measured against today give it themselves (an analyst runs
    them by hand on any day)."""
    # As a developer runs them by hand (`welfare dbt`), on a day not the other tests' own.
    unit = welfare_cli(
        published_home.home,
        "dbt",
        "test",
        "--select",
        "test_type:unit",
        env={"WELFARE_TODAY": "2031-02-17"},
    )
    assert unit.returncode == 0, unit.stdout[-3000:] + unit.stderr[-3000:]
    assert "ERROR=0" in unit.stdout
    assert "a_moved_deadline_replaces_the_default_due_date" in unit.stdout
