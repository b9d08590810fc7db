"""Benchmark (not a test): how soon a sent file is loaded, and what a small run costs.

    uv run python tests/benchmarks/bench_latency.py      (also run by `make benchmark`)

On the published sample, each in a new process:

* `welfare run` with one new small file (a ward's corrected place survey, 69 rows) and with
  nothing new: wall time, median of three (the goals: at most 10 s, under 1 s), and where the
  time of the last run went (its summary's "Time" line);
* with the Dagster daemon running (`dagster-daemon run -m pipelines.definitions`, as in
  production) and the submission page (`welfare serve`): whether the daemon's first ticks start
  a run for files received long ago (they must not), then five files confirmed one after
  another on the page by a ward clerk, each timed from 「この内容で送信する」 until the clerk's
  「送信したファイル」 page shows it 取込済 / loaded (the goal: median at most 20 s) — with the
  page starting each run, then with the page's runs turned off (the sensor's ticks alone), and
  how many runs each started (one per file, none twice).

The figures at 10 million rows (one more monthly file against a whole run) are bench_job.py's.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT))

import requests  # noqa: E402

from pipelines.foundation.settings import SAMPLE_DIR, Settings  # noqa: E402
from pipelines.intake.run_starts import PAGE, SENSOR  # noqa: E402
from pipelines.web.accounts import AccountStore  # noqa: E402
from tests.benchmarks.bench_job import timed  # noqa: E402
from tests.benchmarks.bench_web import PASSWORDS, logged_in, upload, wait_checked  # noqa: E402
from tests.conftest import serve_site  # noqa: E402

WELFARE = str(Path(sys.executable).with_name("welfare"))
DAEMON = str(Path(sys.executable).with_name("dagster-daemon"))
KITA_FILE = SAMPLE_DIR / "ibasho_survey" / "令和6年度_北区_居場所.csv"
KITA = "271276"
LOADED = "取込済"
PATIENCE = 180  # seconds a sent file may take before the benchmark gives up on it


def environment(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "WELFARE_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "False",
    }


def corrected(n: int) -> bytes:
    """The clerk's file with one count corrected (a new file each time, same ward and year)."""
    header, first, *rest = KITA_FILE.read_text("utf-8-sig").splitlines()
    cells = first.split(",")
    cells[-1] = f"訂正{n}"
    return "\r\n".join([header, ",".join(cells), *rest, ""]).encode("utf-8")


def published_sample(work: Path) -> Path:
    home = work / "home"
    env = environment(home)
    subprocess.run([WELFARE, "load-sample"], env=env, check=True, capture_output=True)
    print("Running the whole sample once (the published warehouse every figure starts from) ...")
    timed([WELFARE, "run"], env)
    return home


def welfare_runs(home: Path) -> None:
    env = environment(home)
    landing = home / "landing" / "ibasho_survey"
    one, nothing = [], []
    for n in range(1, 4):
        (landing / f"令和6年度_北区_居場所_訂正{n}.csv").write_bytes(corrected(n))
        wall, _, output = timed([WELFARE, "run"], env)
        one.append(wall)
        stages = next((line for line in output.splitlines() if line.startswith("Time:")), "")
        nothing.append(timed([WELFARE, "run"], env)[0])
    print("\n`welfare run` from a new process on the published sample (median of three):")
    print(f"  one new small file   {statistics.median(one):6.1f} s   (goal: at most 10 s)")
    print(f"  nothing new          {statistics.median(nothing):6.1f} s   (goal: under 1 s)")
    print(f"  the last one-file run's own account: {stages}")


def runs_so_far(home: Path, trigger: str | None = None) -> int:
    """Warehouse runs in the home's Dagster history (those ``trigger`` started, if given); not
    the other jobs' (the reminders' schedule ticks at 09:00 JST, daemon or not)."""
    import dagster as dg

    from pipelines.defs.jobs import TRIGGER_TAG, WAREHOUSE_JOB

    tags = {TRIGGER_TAG: trigger} if trigger else {}
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        return instance.get_runs_count(filters=dg.RunsFilter(job_name=WAREHOUSE_JOB, tags=tags))


def row_of(page: str, file_name: str) -> str | None:
    """The table row of the clerk's page that names the file, if any."""
    for row in page.split("<tr")[1:]:
        if file_name in row:
            return row
    return None


def send_and_wait(browser: requests.Session, base: str, n: int) -> float:
    name = f"R6_北区_居場所_第{n}版_{time.time_ns()}.csv"
    verdict_url = upload(browser, base, corrected(time.time_ns()), name)
    page = wait_checked(browser, verdict_url)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    action = re.search(r'action="([^"]*/confirm)"', page).group(1)
    started = time.perf_counter()
    browser.post(base + action, data={"csrf_token": token})
    while time.perf_counter() - started < PATIENCE:
        row = row_of(browser.get(base + "/submissions").text, name)
        if row is not None and LOADED in row:
            return time.perf_counter() - started
        time.sleep(0.25)
    raise RuntimeError(f"{name} was not shown loaded within {PATIENCE} s")


def with_daemon(home: Path) -> None:
    settings = Settings(home).ensure()
    accounts = AccountStore(settings.web_dir / "accounts.sqlite")
    if not any(account.username == "kita" for account in accounts.all()):
        accounts.add("kita", PASSWORDS["kita"], KITA)
    env = environment(home)
    # As a service starts the daemon: the home's dagster.yaml written for this home (a home
    # kept from an earlier try may have been copied from another).
    subprocess.run([WELFARE, "prepare"], env=env, check=True, capture_output=True)
    before = runs_so_far(home)
    log = (home / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [DAEMON, "run", "-m", "pipelines.definitions"],
        env=env,
        cwd=PROJECT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    seconds: dict[str, list[float]] = {}
    started: dict[str, tuple[int, int]] = {}
    try:
        time.sleep(20)  # the daemon starts, its sensors tick a few times
        first_ticks = runs_so_far(home) - before
        # The page starting each run itself, then (for comparison) the sensor's ticks alone.
        for starts, label in (("1", "the page starts the run"), ("0", "the sensor's tick")):
            by_page, by_sensor = runs_so_far(home, PAGE), runs_so_far(home, SENSOR)
            with serve_site(settings, env={"WELFARE_WEB_START_RUNS": starts}) as base:
                browser = logged_in(base, "kita")
                seconds[label] = [send_and_wait(browser, base, n) for n in range(1, 6)]
            started[label] = (
                runs_so_far(home, PAGE) - by_page,
                runs_so_far(home, SENSOR) - by_sensor,
            )
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
        log.close()
    print("\nWith the Dagster daemon running and the submission page:")
    print(
        f"  runs started by the daemon's first ticks (files received before it started): "
        f"{first_ticks}   (goal: 0)"
    )
    for label, times in seconds.items():
        print(
            f"  confirmed on the page → shown 取込済 on the clerk's page, {label}: "
            + ", ".join(f"{s:.1f}" for s in times)
            + f" s; median {statistics.median(times):.1f} s   (goal: at most 20 s); runs "
            f"started by the page {started[label][0]}, by the sensor {started[label][1]}"
        )


def main() -> None:
    if len(sys.argv) > 1:  # a home kept from an earlier try: the daemon part again
        with_daemon(Path(sys.argv[1]))
        return
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    home = published_sample(work)
    welfare_runs(home)
    try:
        with_daemon(home)
    except RuntimeError:
        print(f"(the daemon's log and the home are kept in {work})")
        raise
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
