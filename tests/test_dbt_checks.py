"""The dbt checks catch what they claim to catch."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from pipelines.settings import Settings
from pipelines.workspace import prepare, run_dbt

pytestmark = pytest.mark.slow


@pytest.fixture
def built_copy(sample_run, tmp_path) -> Settings:
    """A private copy of the sample run's lake and working database."""
    settings, _ = sample_run
    copy = prepare(Settings(tmp_path / "copy"))
    shutil.copytree(settings.lake, copy.lake, dirs_exist_ok=True)
    shutil.copy2(settings.working_db, copy.working_db)
    return copy


TAMPERS = {
    "assert_place_counts_reconcile": "delete from marts.place_counts where ward_code = '271276' "
    "and fiscal_year = 2024 and activity_type = '子ども食堂'",
    "assert_consultation_volumes_reconcile": "update marts.consultation_volumes set "
    "consultations = consultations + 1 where month = date '2024-05-01' and channel = '電話' "
    "and consultations = 1",
    "assert_public_interest_facilities_reconcile": "update marts.public_interest_facilities "
    "set facilities_with_initiatives = 0 where fiscal_year = 2024 and field = '保育'",
}


def test_breaking_a_mart_makes_its_reconciliation_fail(built_copy):
    """Each reconciliation test passes on the built marts and fails on its tampered mart (the
    three tampers touch three different marts, so one dbt invocation tells them apart)."""
    tests = ["--select", *TAMPERS]
    assert run_dbt(built_copy, ["test", *tests]).returncode == 0
    with duckdb.connect(str(built_copy.working_db)) as db:
        for tamper in TAMPERS.values():
            assert db.execute(tamper).fetchone()[0] > 0
    failed = run_dbt(built_copy, ["test", *tests], quiet=False)
    assert failed.returncode != 0
    for test_name in TAMPERS:
        assert f"FAIL 1 {test_name}" in failed.stdout
