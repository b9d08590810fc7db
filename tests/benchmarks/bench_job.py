"""Benchmark (not a test): the whole nightly job on years of consultation exports.

    make benchmark                       # 1,000,000 and 10,000,000 rows
    uv run python tests/benchmarks/bench_job.py 1000000 [10000000 ...]

For each size: 120 monthly exports (CP932 and UTF-8 with BOM alternating, 和暦 and Western
dates alternating, personal-data columns) with their truth (consultations per month ×
channel × requester × topic). Then, each in a fresh process and a fresh WELFARE_HOME:

* the floor: a hand-written script that decodes the same files in Python and counts with
  DuckDB — what the job's work costs without a pipeline around it;
* `welfare run` with 119 months waiting (everything new);
* `welfare run` after one more month arrives;
* `welfare run` with nothing new;

and one table: rows, wall time, peak memory (max RSS of the largest process), the ratio to the
floor, and whether the published marts equal the truth.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

CHANNELS = ["来所", "電話", "メール", "オンライン", "その他"]
REQUESTERS = ["個人", "団体", "企業", "学校・教育機関", "行政・社協", "その他"]
TOPICS = ["活動したい", "活動者を求めたい", "団体運営", "資金・助成", "災害ボランティア"]
WARDS = ["北区", "都島区", "中央区", "平野区", "市外"]
MONTHS = 120
HEADER = "受付番号,受付日,受付方法,相談者区分,相談者氏名,電話番号,相談内容,居住区,対応時間（分）"
PROJECT = Path(__file__).resolve().parents[2]

Truth = Counter  # (month "YYYY-MM", channel, requester, topic) → consultations


def month_of(index: int) -> dt.date:
    year, month = divmod(3 + index, 12)  # index 0 = April 2015
    return dt.date(2015 + year, month + 1, 1)


def write_month(folder: Path, index: int, rows: int, first_id: int, truth: Truth) -> Path:
    """One monthly export; its rows are added to ``truth``."""
    rng = random.Random(index)
    start = month_of(index)
    days = ((start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - start).days
    era = index % 2 == 1  # every other export writes 和暦 dates
    encoding = "cp932" if index % 2 == 0 else "utf-8-sig"
    path = folder / f"相談記録_{start:%Y-%m}.csv"
    lines = [HEADER]
    for n in range(rows):
        day = start + dt.timedelta(days=rng.randrange(days))
        channel, requester, topic = (
            rng.choice(CHANNELS),
            rng.choice(REQUESTERS),
            rng.choice(TOPICS),
        )
        truth[(f"{day:%Y-%m}", channel, requester, topic)] += 1
        if era and day >= dt.date(2019, 5, 1):
            written = f"R{day.year - 2018}.{day.month}.{day.day}"
        elif era:
            written = f"H{day.year - 1988}.{day.month}.{day.day}"
        else:
            written = f"{day.year}/{day.month}/{day.day}"
        lines.append(
            f"B{first_id + n:09d},{written},{channel},{requester},山田 太郎,06-1234-5678,"
            f"{topic},{rng.choice(WARDS)},{rng.choice(['15', '30分', '４５'])}"
        )
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def generate(folder: Path, total: int, months: int = MONTHS) -> tuple[list[Path], Truth]:
    """``months`` monthly exports from April 2015 holding ``total`` rows, and their truth."""
    folder.mkdir(parents=True, exist_ok=True)
    truth: Truth = Counter()
    per_month = total // months
    files = [write_month(folder, i, per_month, i * per_month, truth) for i in range(months)]
    return files, truth


FLOOR = r"""
import sys, tempfile, duckdb, pathlib
folder = pathlib.Path(sys.argv[1])
con = duckdb.connect()
with tempfile.TemporaryDirectory() as tmp:
    for n, path in enumerate(sorted(folder.glob("*.csv"))):
        data = path.read_bytes()
        text = data[3:].decode("utf-8") if data.startswith(b"\xef\xbb\xbf") else data.decode("cp932")
        pathlib.Path(tmp, f"{n}.csv").write_text(text, encoding="utf-8")
    con.execute(f'''
        create table c as select * from read_csv('{tmp}/*.csv', all_varchar = true, header = true)
    ''')
    con.execute('''
        create table m as select
            case
                when 受付日 like 'R%' then make_date(2018 + split_part(substr(受付日, 2), '.', 1)::int,
                    split_part(受付日, '.', 2)::int, 1)
                when 受付日 like 'H%' then make_date(1988 + split_part(substr(受付日, 2), '.', 1)::int,
                    split_part(受付日, '.', 2)::int, 1)
                else make_date(split_part(受付日, '/', 1)::int, split_part(受付日, '/', 2)::int, 1)
            end as month, 受付方法 as channel, 相談者区分 as requester, 相談内容 as topic
        from c
    ''')
    print(con.execute('select count(*) from (select month, channel, requester, topic, count(*) '
                      'from m group by all)').fetchone()[0])
"""


def timed(
    command: list[str], env: dict[str, str] | None = None, check: bool = True
) -> tuple[float, float, str]:
    """(wall seconds, peak MiB of the largest process, output) of a command in a new process.

    The peak is read in a small wrapper process, so the benchmark's own memory is not in it.
    With ``check``, a command that fails (other than finding nothing to do) raises."""
    wrapper = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "w = time.perf_counter() - t; "
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024; "
        "sys.stdout.write(f'{w} {peak} {r.returncode}\\n' + r.stdout + r.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *command],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    first, _, output = done.stdout.partition("\n")
    wall, peak, code = first.split()
    if check and code != "0" and "nothing to do" not in output:
        raise RuntimeError(f"{' '.join(command)} failed ({code}):\n{output[-3000:]}")
    return float(wall), float(peak), output


def published_counts(home: Path) -> Truth:
    import duckdb

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select strftime(month, '%Y-%m'), channel, requester_type, topic, "
            "sum(consultations) from marts.consultation_volumes group by all"
        ).fetchall()
    return Counter({tuple(row[:4]): int(row[4]) for row in rows})


def bench(total: int, work: Path) -> list[tuple]:
    data = work / f"data_{total}"
    started = time.perf_counter()
    files, truth = generate(data, total)
    print(
        f"[{total:,} rows] generated {len(files)} exports in {time.perf_counter() - started:.0f} s"
    )
    floor_wall, floor_peak, _ = timed([sys.executable, "-c", FLOOR, str(data)])
    rows = [(total, "floor (Python decode + DuckDB)", floor_wall, floor_peak, 1.0, "-")]
    for standing in (False, True):
        rows += sequence(total, work, files, truth, floor_wall, standing)
    shutil.rmtree(data)
    return rows


def sequence(
    total: int, work: Path, files: list[Path], truth: Truth, floor_wall: float, standing: bool
) -> list[tuple]:
    """The three runs in a new home: each `welfare run` a new process, or (``standing``) each
    served by a `welfare worker` started beside the home beforehand."""
    home = work / f"home_{total}_{'worker' if standing else 'new'}"
    env = {
        **os.environ,
        "WELFARE_HOME": str(home),
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "False",
    }
    welfare = str(Path(sys.executable).with_name("welfare"))
    subprocess.run([welfare, "prepare"], env=env, check=True, capture_output=True)
    worker = start_worker(welfare, env, home) if standing else None
    suffix = ", welfare worker" if standing else ""
    try:
        landing = home / "landing" / "consultations"
        for path in files[:-1]:
            shutil.copy2(path, landing / path.name)
        all_wall, all_peak, _ = timed([welfare, "run"], env)
        shutil.copy2(files[-1], landing / files[-1].name)
        one_wall, one_peak, one_output = timed([welfare, "run"], env)
        stages = next((line for line in one_output.splitlines() if line.startswith("Time:")), "")
        print(f"[{total:,} rows{suffix}] one more monthly file, the run's own account: {stages}")
        print(
            f"[{total:,} rows{suffix}] one more monthly file: {one_wall:.1f} s of "
            f"{all_wall:.1f} s, {one_wall / all_wall:.1%} of a full run (goal: ≤ 10 % at 10 M)"
        )
        none_wall, none_peak, _ = timed([welfare, "run"], env)
        equal = published_counts(home) == truth
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=60)
    if worker is not None:  # each run's peak is its fork's, which the worker tells
        served = [line for line in worker.stdout or [] if "`welfare run` (process" in line]
        assert len(served) == 3 and all("exit 0" in line for line in served), served
        all_peak, one_peak, none_peak = (
            float(line.rsplit(", ", 1)[1].split()[0].replace(",", "")) for line in served
        )
    shutil.rmtree(home)
    return [
        (
            total,
            f"welfare run, everything new{suffix}",
            all_wall,
            all_peak,
            all_wall / floor_wall,
            equal,
        ),
        (total, f"one more monthly file{suffix}", one_wall, one_peak, one_wall / floor_wall, equal),
        (total, f"nothing new{suffix}", none_wall, none_peak, none_wall / floor_wall, equal),
    ]


def start_worker(welfare: str, env: dict[str, str], home: Path) -> subprocess.Popen:
    """`welfare worker` for ``home``, once it is ready to serve."""
    worker = subprocess.Popen(
        [welfare, "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert worker.stdout is not None
    for line in worker.stdout:
        if "standing for" in line:
            return worker
    raise RuntimeError(f"welfare worker ended ({worker.wait()}) before it was ready")


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [1_000_000]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for total in sizes:
            rows += bench(total, Path(tmp))
            print_table(rows)


def print_table(rows: list[tuple]) -> None:
    print(
        f"\n{'rows':>12} | {'what':<44} | {'wall s':>7} | {'peak MiB':>8} | "
        f"{'× floor':>7} | marts = truth"
    )
    print("-" * 104)
    for total, what, wall, peak, ratio, equal in rows:
        print(f"{total:>12,} | {what:<44} | {wall:>7.1f} | {peak:>8,.0f} | {ratio:>7.1f} | {equal}")
    sizes = sorted({r[0] for r in rows})
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        cost = {(r[0], r[1]): r[2] for r in rows}
        millions = (large - small) / 1e6
        job = (cost[(large, rows[1][1])] - cost[(small, rows[1][1])]) / millions
        floor = (cost[(large, rows[0][1])] - cost[(small, rows[0][1])]) / millions
        print(
            f"\nmarginal cost per million rows: job {job:.1f} s, floor {floor:.1f} s "
            f"({job / floor:.1f}×)"
        )


if __name__ == "__main__":
    main()
