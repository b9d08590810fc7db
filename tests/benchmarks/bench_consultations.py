"""Benchmark (not a test): read + normalize + load a 1,000,000-row consultation export.

    make benchmark            # or: uv run python tests/benchmarks/bench_consultations.py [ROWS]

Generates a CP932 CSV export with personal-data columns, then times the same code path the
ingestion asset runs (pipelines.intake.ingest.ingest_source: archive, read, normalize, write
the lake and the ledger) in a fresh process, and prints wall time and peak memory (max RSS).
"""

from __future__ import annotations

import datetime as dt
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHANNELS = ["来所", "電話", "メール", "オンライン", "その他"]
REQUESTERS = ["個人", "団体", "企業", "学校・教育機関", "行政・社協", "その他"]
TOPICS = [
    "活動したい",
    "活動者を求めたい",
    "団体運営",
    "資金・助成",
    "災害ボランティア",
    "福祉教育・研修",
]
WARDS = ["北区", "都島", "271144", "Higashiyodogawa", "中央区", "市外", "不明", "平野区"]


def generate(path: Path, rows: int) -> None:
    rng = random.Random(7)
    start = dt.date(2015, 4, 1)
    with path.open("w", encoding="cp932", newline="") as out:
        out.write(
            "受付番号,受付日,受付方法,相談者区分,相談者氏名,電話番号,相談内容,居住区,対応時間（分）\r\n"
        )
        for n in range(rows):
            day = start + dt.timedelta(days=rng.randrange(3650))
            date = (
                f"R{day.year - 2018}.{day.month}.{day.day}"
                if day.year >= 2020 and n % 3 == 0
                else f"{day.year}/{day.month}/{day.day}"
            )
            out.write(
                f"B{n:08d},{date},{rng.choice(CHANNELS)},{rng.choice(REQUESTERS)},"
                f"山田 太郎,06-1234-5678,{rng.choice(TOPICS)},{rng.choice(WARDS)},"
                f"{rng.choice(['15', '30分', '４５'])}\r\n"
            )


def measure(home: Path) -> None:
    """Runs in a fresh process so max RSS is this work's peak."""
    from pipelines.foundation.settings import Settings
    from pipelines.ingest.contract import all_contracts, load_contract
    from pipelines.ingest.lake import Lake
    from pipelines.intake.ingest import ingest_source

    settings = Settings(home)
    Lake(settings.lake).initialize(all_contracts())
    started = time.perf_counter()
    [outcome] = ingest_source(settings, load_contract("consultations"), progress=lambda _: None)
    elapsed = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"rows read {outcome.rows_read:,}: loaded {outcome.rows_loaded:,}, "
        f"quarantined {outcome.rows_quarantined:,}, skipped {outcome.rows_skipped:,}"
    )
    print(
        f"read + normalize + load: {elapsed:.1f} s "
        f"({outcome.rows_read / elapsed:,.0f} rows/s); peak memory (max RSS) {peak_mib:,.0f} MiB"
    )


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        measure(Path(sys.argv[2]))
        return
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        export = home / "landing" / "consultations" / "export_benchmark.csv"
        export.parent.mkdir(parents=True)
        started = time.perf_counter()
        generate(export, rows)
        print(
            f"generated {rows:,} rows, {export.stat().st_size / 2**20:,.0f} MiB CP932 CSV "
            f"in {time.perf_counter() - started:.1f} s"
        )
        subprocess.run([sys.executable, __file__, "--measure", str(home)], check=True)


if __name__ == "__main__":
    main()
