"""The `welfare` command line, run as a person runs it."""

from __future__ import annotations

from pipelines.cli import main
from pipelines.foundation.settings import SAMPLE_DIR
from tests.conftest import welfare_cli, write_csv


def run_cli(capsys, monkeypatch, home, *args: str) -> tuple[int, str]:
    """The `welfare` command's own entry point, in this process (great-expectations is then
    imported once for all the tests); the console script itself is run in the other tests."""
    monkeypatch.setenv("WELFARE_HOME", str(home))
    code = main(list(args))
    return code, capsys.readouterr().out


def test_help_explains_each_subcommand(tmp_path):
    result = welfare_cli(tmp_path, "--help")
    assert result.returncode == 0
    for command in ("prepare", "load-sample", "run", "validate", "rollback"):
        assert command in result.stdout


def test_validate_a_good_file_tells_what_would_load_and_writes_nothing(
    tmp_path, capsys, monkeypatch
):
    home = tmp_path / "home"
    code, out = run_cli(
        capsys,
        monkeypatch,
        home,
        "validate",
        str(SAMPLE_DIR / "ibasho_survey" / "R6_都島区_居場所活動調査.xlsx"),
    )
    assert code == 0, out
    assert "取り込めます / This file would load." in out
    assert "地域福祉活動状況調査" in out and "FY2024" in out
    assert not home.exists()


def test_validate_lists_quarantined_cells_with_row_column_value_and_rule(
    tmp_path, capsys, monkeypatch
):
    export = SAMPLE_DIR / "consultations" / "consultations_2024-09.csv"
    code, out = run_cli(capsys, monkeypatch, tmp_path, "validate", str(export))
    assert code == 0
    assert "row 5 | 受付日 | R6.9.31 | invalid_date" in out
    assert "FAX" in out and "not_in_code_list" in out
    assert "相談者氏名" in out  # named as dropped, its values never shown
    assert "匿名" not in out


def test_validate_a_wrong_file_exits_non_zero_with_the_reason(tmp_path):
    bad = SAMPLE_DIR / "ibasho_survey" / "R6_西成区_居場所活動調査_修正版.csv"
    result = welfare_cli(tmp_path, "validate", str(bad), "--source", "ibasho_survey")
    assert result.returncode == 1
    assert "REJECTED" in result.stdout and "住之江区" in result.stdout


def test_validate_guesses_the_survey_from_the_headers(tmp_path, capsys, monkeypatch):
    file = write_csv(
        tmp_path / "R6_計画.csv",
        [
            "年度,役割,指標コード,指標名,値,単位",
            '令和6年度,3,newsletter_copies,広報誌,"337,000",部',
        ],
    )
    code, out = run_cli(capsys, monkeypatch, tmp_path, "validate", str(file))
    assert "plan_indicators" in out and code == 0


def test_rollback_without_an_earlier_version_says_so(tmp_path):
    result = welfare_cli(tmp_path, "rollback")
    assert result.returncode == 1 and "no earlier published version" in result.stderr


def test_a_home_duckdb_cannot_find_its_lake_in_is_refused_in_one_line(
    tmp_path, capsys, monkeypatch
):
    """The staging views find the lake through DuckDB's file_search_path, a comma-separated
    list in quotes: a WELFARE_HOME with a comma or a quote is refused before anything is
    written, in one line that says why and what to do."""
    home = tmp_path / "福祉,2025"
    monkeypatch.setenv("WELFARE_HOME", str(home))
    assert main(["run"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "カンマ" in line and "cannot contain a comma" in line and "choose another folder" in line
    assert not home.exists()


def test_an_empty_welfare_home_is_the_default_not_the_current_folder(tmp_path, monkeypatch):
    """`WELFARE_HOME=` (set, but empty) means the default home, data/ in the project, as when
    it is unset: never the folder the command happens to be run from."""
    from pipelines.foundation.settings import PROJECT_ROOT, Settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WELFARE_HOME", "")
    assert Settings.from_env().home == (PROJECT_ROOT / "data").resolve()
