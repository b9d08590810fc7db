"""A large CSV export is read from disk in slices, and gives exactly what reading it whole
gives: the same rows, the same quarantined cells (a duplicate ID found across slices), the
same counts and verdicts. Slices are made small here so that a few thousand rows cross many
slice boundaries; `make benchmark` reads 10 million rows in one file (bench_consultations)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipelines.foundation.settings import Settings
from pipelines.ingest import reader as reader_module
from pipelines.ingest.contract import load_contract
from pipelines.ingest.lake import Lake
from pipelines.ingest.reader import read_large_csv, read_submission
from pipelines.intake.ingest import ingest_source
from pipelines.intake.validation import validate_file

CONSULTATIONS = load_contract("consultations")
HEADER = "受付番号,受付日,受付方法,相談者区分,相談者氏名,電話番号,相談内容,居住区,対応時間（分）"
SLICE = 4096  # bytes: about 50 rows a slice


def export_lines(rows: int, bad_every: int = 0) -> list[str]:
    """A consultation export: personal columns (one name with a line break inside quotes),
    和暦 and Western dates, a blank line, a totals row, a repeated ID far from its first
    row, and (``bad_every``) rows with a date nobody can read."""
    rng = random.Random(3)
    lines = ["相談記録 2024年度", "", HEADER]
    for n in range(rows):
        day = dt.date(2024, 4, 1) + dt.timedelta(days=rng.randrange(365))
        written = f"R{day.year - 2018}.{day.month}.{day.day}" if n % 2 else day.isoformat()
        if bad_every and n % bad_every == 0:
            written = "そのうち"
        name = '"山田\n太郎"' if n == 7 else "山田 太郎"
        lines.append(
            f"V2024-{n:05d},{written},{rng.choice(['来所', '電話', 'メール'])},個人,{name},"
            f"06-1234-5678,{rng.choice(['活動したい', '団体運営'])},北区,{rng.choice(['15', '30分'])}"
        )
        if n == 100:
            lines.append("")
    lines.append("V2024-00010,2024-05-01,電話,個人,山田 太郎,06-1234-5678,団体運営,北区,15")
    lines.append("合計,,,,,,,,")
    return lines


def write_export(path: Path, lines: list[str], encoding: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def sliced(path: Path):
    read = read_large_csv(path, path.name, CONSULTATIONS, slice_bytes=SLICE)
    parts = list(read.clean_rows())
    return read.result, parts


@pytest.mark.parametrize("encoding", ["cp932", "utf-8-sig"])
def test_a_file_read_in_slices_gives_what_reading_it_whole_gives(tmp_path, encoding):
    path = write_export(tmp_path / "相談記録_2024.csv", export_lines(3000, 0), encoding)
    whole = read_submission(path.read_bytes(), path.name, CONSULTATIONS)
    result, parts = sliced(path)
    assert len(parts) > 40  # the file really was read in many slices
    assert result.status == whole.status == "loaded"
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole.rows)
    pd.testing.assert_frame_equal(
        result.quarantine.reset_index(drop=True), whole.quarantine.reset_index(drop=True)
    )
    for count in ("rows_read", "rows_loaded", "rows_quarantined", "rows_skipped"):
        assert getattr(result, count) == getattr(whole, count), count
    assert result.accounted
    assert (result.period_start, result.period_end) == (whole.period_start, whole.period_end)
    assert result.encoding == whole.encoding == encoding
    assert result.personal_columns_dropped == whole.personal_columns_dropped
    # The repeated ID on the last line is found although its first row was slices earlier.
    [duplicate] = result.quarantine.loc[result.quarantine["rule"] == "duplicate_key"].itertuples()
    assert duplicate.value == "V2024-00010" and duplicate.row_number == 3000 + 4 + 1


def test_a_mostly_wrong_file_read_in_slices_is_rejected_on_its_totals(tmp_path):
    path = write_export(tmp_path / "相談記録_2024.csv", export_lines(600, bad_every=1), "cp932")
    whole = read_submission(path.read_bytes(), path.name, CONSULTATIONS)
    result, _ = sliced(path)
    assert result.status == whole.status == "rejected"
    assert result.reason == whole.reason and "more than half" in result.reason
    assert result.rows_rejected == whole.rows_rejected and result.accounted


def test_a_large_export_is_taken_in_and_checked_slice_by_slice(tmp_path, monkeypatch):
    """Through intake and `welfare validate`, with slicing switched on at 10 KB: the lake and
    the ledger hold what a whole read gives, and no temporary file is left."""
    lines = export_lines(3000)
    whole_home = Settings(tmp_path / "whole").ensure()
    write_export(whole_home.landing_for("consultations") / "相談記録_2024.csv", lines, "cp932")
    [expected] = ingest_source(whole_home, CONSULTATIONS)

    monkeypatch.setattr(reader_module, "SLICE_FROM_BYTES", 10_000)
    monkeypatch.setattr("pipelines.ingest.cells.SLICE_BYTES", 4 * SLICE)  # 15 slices
    home = Settings(tmp_path / "sliced").ensure()
    path = write_export(home.landing_for("consultations") / "相談記録_2024.csv", lines, "cp932")
    [outcome] = ingest_source(home, CONSULTATIONS)
    assert outcome == expected
    rows_file = home.lake / "consultations" / f"{outcome.sha256}.parquet"
    assert pq.ParquetFile(rows_file).num_row_groups > 10  # written slice by slice
    assert pq.read_table(rows_file).equals(
        pq.read_table(whole_home.lake / "consultations" / f"{expected.sha256}.parquet")
    )
    columns = ["status", "rows_read", "rows_loaded", "rows_quarantined", "period_start"]
    assert (
        Lake(home.lake).ledger()[columns].values.tolist()
        == Lake(whole_home.lake).ledger()[columns].values.tolist()
    )
    assert not list(home.lake.rglob(".*tmp*"))
    report = validate_file(path)
    assert report.result.rows_loaded == expected.rows_loaded
    assert report.check.warnings == expected.check_warnings


def test_limits_a_file_is_refused_by_before_it_is_read(home, monkeypatch):
    """A workbook over 200 MB, or a CSV over the CSV limit (4 GB; 1 MB here), is archived as
    it came and rejected with the limit named, unread."""
    monkeypatch.setattr(reader_module, "MAX_CSV_BYTES", 2**20)
    big_csv = home.landing_for("consultations") / "相談記録_全件.csv"
    with big_csv.open("wb") as handle:
        handle.write(HEADER.encode("cp932") + b"\r\n")
        handle.truncate(2**20 + 1)
    [outcome] = ingest_source(home, CONSULTATIONS)
    assert outcome.status == "rejected" and "上限1MB" in outcome.reason
    assert (home.archive / f"{outcome.sha256}.csv").stat().st_size == 2**20 + 1


def test_a_sliced_file_with_more_wrong_cells_than_memory_should_hold_is_refused(
    tmp_path, monkeypatch
):
    """Wrong cells of a file read in slices are kept until its verdict: past the bound (lowered
    here) the file is refused with a reason, whatever its size."""
    monkeypatch.setattr(reader_module, "MAX_QUARANTINED_CELLS", 50)
    header = "受付番号,受付日,受付方法,相談者区分,相談内容"
    lines = [header, *(f"C-{n},2024/5/{1 + n % 28},電報,個人,活動したい" for n in range(400))]
    path = write_export(tmp_path / "consultations_2024-05.csv", lines, "utf-8")
    sliced = read_large_csv(path, path.name, load_contract("consultations"), slice_bytes=2_000)
    assert list(sliced.clean_rows()) == []
    assert sliced.result.status == "rejected" and "50" in sliced.result.reason


PROCESS_ENDS = """
import sys
from pipelines.cli import end_process
from pipelines.ingest.contract import load_contract
from pipelines.intake import parallel_read
if __name__ == "__main__":
    parallel_read.PARALLEL_BYTES = 0  # any two files are read by the pool
    files = [(open(path, "rb").read(), name) for path, name in zip(sys.argv[1::2], sys.argv[2::2])]
    results = parallel_read.start_reading(files, load_contract("consultations"))()
    print(len(results), flush=True)
    end_process(0)
"""


def test_the_command_ends_after_files_were_read_by_the_pool(tmp_path):
    """A batch of sizeable files is read by worker processes; the `welfare` command still ends
    when its work is done (it once waited for the idle workers for ever)."""
    import subprocess
    import sys

    script = tmp_path / "read_two.py"
    script.write_text(PROCESS_ENDS, encoding="utf-8")
    files = []
    for month in ("04", "05"):
        path = tmp_path / f"相談記録_2024-{month}.csv"
        path.write_text("\n".join(export_lines(200)), encoding="utf-8")
        files += [str(path), path.name]
    done = subprocess.run(
        [sys.executable, str(script), *files], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
