"""Benchmark (not a test): the submission page and the reader under hostile and heavy input.

    uv run python tests/benchmarks/bench_web.py          (also run by `make benchmark`)

Prints, on this machine:

* zip bombs: a workbook of 1 MiB whose docProps/core.xml unpacks to 1 GiB, and one of 4 MiB
  that unpacks to 4 GiB — wall time and peak memory of refusing each in `welfare validate`,
  in the page's check (the server and its check workers, by their peak resident memory),
  and in `welfare run` with the file in landing/ (the goal: under 1 GiB whatever the
  declared sizes);
* four checks of 20 MiB CSVs at once on the page: how long other people's pages (the login
  page, a login, "my submissions") take to answer meanwhile (the goal: under 1 s).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT))

import requests  # noqa: E402

from pipelines.foundation.settings import SAMPLE_DIR, Settings  # noqa: E402
from pipelines.web.accounts import AccountStore  # noqa: E402
from tests.benchmarks.bench_job import timed  # noqa: E402
from tests.conftest import serve_site, xlsx_bytes  # noqa: E402

WELFARE = str(Path(sys.executable).with_name("welfare"))
PASSWORDS = {"kita": "umeda-clerk-spring-2024", "abeno": "tennoji-clerk-autumn-2024"}
HEADER = ["年度", "区名", "地域名", "活動名称", "活動種別"]


def docprops_bomb(gibibytes: int) -> bytes:
    template = zipfile.ZipFile(io.BytesIO(xlsx_bytes({"データ": [HEADER]})))
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for item in template.infolist():
            if item.filename != "docProps/core.xml":
                target.writestr(item, template.read(item))
        with target.open("docProps/core.xml", "w", force_zip64=True) as part:
            part.write(b'<?xml version="1.0"?><cp:coreProperties xmlns:cp="urn:x"><x>')
            block = b"A" * 2**24
            for _ in range(gibibytes * 64):
                part.write(block)
            part.write(b"</x></cp:coreProperties>")
    return bomb.getvalue()


def peak_of_tree(pid: int) -> tuple[float, float]:
    """(the process's, the largest descendant's) peak resident memory in MiB (VmHWM)."""

    def hwm(p: int) -> float:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            return 0.0
        found = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(found.group(1)) / 1024 if found else 0.0

    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int(re.search(r"PPid:\s+(\d+)", (entry / "status").read_text()).group(1))
            except (OSError, AttributeError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    below, stack = [], list(children.get(pid, []))
    while stack:
        p = stack.pop()
        below.append(p)
        stack.extend(children.get(p, []))
    return hwm(pid), max((hwm(p) for p in below), default=0.0)


def logged_in(base: str, username: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(base + "/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    browser.post(
        base + "/login",
        data={"username": username, "password": PASSWORDS[username], "csrf_token": token},
    )
    return browser


def upload(browser: requests.Session, base: str, data: bytes, name: str) -> str:
    page = browser.get(base + "/send").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    sent = browser.post(
        base + "/send",
        data={"source": "ibasho_survey", "csrf_token": token},
        files={"file": (name, data)},
        allow_redirects=False,
    )
    return base + sent.headers["Location"]


def wait_checked(browser: requests.Session, url: str) -> str:
    while 'id="progress"' in (page := browser.get(url).text):
        time.sleep(0.2)
    return page


def server_pid(home: Path) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            ours = b"serve" in command and f"WELFARE_HOME={home}".encode() in environ
            if ours and any(part.endswith(b"welfare") for part in command[:2]):
                return int(entry.name)
    raise RuntimeError("the server's process was not found")


def bombs(work: Path) -> None:
    print("Zip bombs (docProps/core.xml), refused:")
    print(f"  {'file':<22} {'where':<28} {'wall':>8} {'peak memory':>14}")
    for gib in (1, 4):
        path = work / f"R6_北区_bomb{gib}.xlsx"
        path.write_bytes(docprops_bomb(gib))
        label = f"{path.stat().st_size / 2**20:.1f} MiB → {gib} GiB"
        wall, peak, output = timed([WELFARE, "validate", str(path)], check=False)
        assert "docProps/core.xml" in output, output
        print(f"  {label:<22} {'welfare validate':<28} {wall:>7.1f}s {peak:>10,.0f} MiB")

        home = Settings(work / f"home-run-{gib}")
        home.landing_for("ibasho_survey").mkdir(parents=True)
        shutil.copy(path, home.landing_for("ibasho_survey") / path.name)
        env = {**os.environ, "WELFARE_HOME": str(home.home), "DAGSTER_HOME": str(home.dagster_home)}
        wall, peak, output = timed([WELFARE, "run"], env=env, check=False)
        assert "docProps/core.xml" in output, output[-2000:]
        print(f"  {label:<22} {'welfare run (new home)':<28} {wall:>7.1f}s {peak:>10,.0f} MiB")

        home = Settings(work / f"home-web-{gib}").ensure()
        AccountStore(home.web_dir / "accounts.sqlite").add("kita", PASSWORDS["kita"], "271276")
        with serve_site(home) as base:
            browser = logged_in(base, "kita")
            began = time.perf_counter()
            page = wait_checked(browser, upload(browser, base, path.read_bytes(), path.name))
            wall = time.perf_counter() - began
            assert "docProps/core.xml" in page
            server, workers = peak_of_tree(server_pid(home.home))
        print(
            f"  {label:<22} {'the page (server / worker)':<28} {wall:>7.1f}s "
            f"{server:>5,.0f} / {workers:,.0f} MiB"
        )


def hostile_files(work: Path) -> None:
    """Files within every size limit that cost the most to refuse: a 20 MB CSV whose 700,000
    rows are all wrong, and a workbook of 1.4 MB whose sheet holds ten million elements."""
    print("\nHostile files within the size limits, refused:")
    header = "年度,区名,地域名,活動ID,活動名称,活動種別,主な対象,運営主体,開催頻度,年間開催回数,延べ参加者数,担い手数,開始年,備考"
    wrong = work / "R6_北区_wrong.csv"
    with wrong.open("w", encoding="utf-8") as handle:
        handle.write(header + "\r\n")
        handle.write("2024,北区,,,a,,,,,x,x,x,x,\r\n" * 696_666)
    elements = work / "R6_北区_elements.xlsx"
    template = zipfile.ZipFile(io.BytesIO(xlsx_bytes({"データ": [HEADER]})))
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for item in template.infolist():
            if item.filename != "xl/worksheets/sheet1.xml":
                target.writestr(item, template.read(item))
        with target.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(b"<worksheet><sheetData></sheetData>")
            for _ in range(100):
                sheet.write(b"<x/>" * 100_000)
            sheet.write(b"</worksheet>")
    elements.write_bytes(bomb.getvalue())
    for path in (wrong, elements):
        wall, peak, _output = timed([WELFARE, "validate", str(path)], check=False)
        size = path.stat().st_size / 2**20
        print(
            f"  {path.name:<26} {size:>6.1f} MiB  welfare validate {wall:>6.1f}s {peak:>8,.0f} MiB"
        )


def busy_page(work: Path) -> None:
    home = Settings(work / "home-busy").ensure()
    store = AccountStore(home.web_dir / "accounts.sqlite")
    store.add("kita", PASSWORDS["kita"], "271276")
    store.add("abeno", PASSWORDS["abeno"], "271195")
    text = (SAMPLE_DIR / "ibasho_survey" / "令和6年度_北区_居場所.csv").read_text("utf-8-sig")
    header, *rows = text.splitlines()
    body = "\r\n".join([header, *rows * 1400]).encode("utf-8")[: 20 * 2**20 - 1]
    body = body[: body.rfind(b"\r\n")]
    with serve_site(home) as base:
        senders = [logged_in(base, "kita"), logged_in(base, "abeno")]
        began = time.perf_counter()
        urls = [
            upload(
                browser, base, body + b"\r\n" * n, f"R6_{'北区' if i == 0 else '阿倍野区'}_{n}.csv"
            )
            for n in range(2)
            for i, browser in enumerate(senders)
        ]
        latencies: dict[str, list[float]] = {
            "GET /login": [],
            "POST /login": [],
            "GET /submissions": [],
        }
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                visitor = requests.Session()
                for label, call in (
                    ("GET /login", lambda visitor=visitor: visitor.get(base + "/login")),
                    ("POST /login", lambda: logged_in(base, "kita")),
                    ("GET /submissions", lambda: senders[1].get(base + "/submissions")),
                ):
                    t = time.perf_counter()
                    call()
                    latencies[label].append(time.perf_counter() - t)
                time.sleep(0.2)

        watcher = threading.Thread(target=watch)
        watcher.start()
        for n, url in enumerate(urls):
            wait_checked(senders[n % 2], url)
        done.set()
        watcher.join()
        checks = time.perf_counter() - began
    print(f"\nFour checks of {len(body) / 2**20:.0f} MiB CSVs at once: all done in {checks:.1f} s")
    print(f"  {'page':<18} {'answers':>8} {'median':>8} {'slowest':>8}")
    for label, seconds in latencies.items():
        print(
            f"  {label:<18} {len(seconds):>8} {statistics.median(seconds) * 1000:>6.0f}ms "
            f"{max(seconds) * 1000:>6.0f}ms"
        )


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-web-"))
    try:
        bombs(work)
        hostile_files(work)
        busy_page(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
