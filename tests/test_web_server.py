"""The submission page under concurrent use, against the real server (`welfare serve`, waitress,
its check workers): two confirmations of one upload at the same moment place it exactly once
and both answer the truth; checks run off the request threads, so other people's pages answer
while files are being checked."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from pipelines.foundation.settings import SAMPLE_DIR, Settings
from pipelines.web.accounts import AccountStore
from tests.conftest import ARTIFACTS, serve_site

pytestmark = [pytest.mark.slow, pytest.mark.background]

KITA, ABENO = "271276", "271195"
PASSWORDS = {"kita": "umeda-clerk-spring-2024", "abeno": "tennoji-clerk-autumn-2024"}
KITA_FILE = SAMPLE_DIR / "ibasho_survey" / "令和6年度_北区_居場所.csv"


@pytest.fixture
def site(home: Settings):
    store = AccountStore(home.web_dir / "accounts.sqlite")
    store.add("kita", PASSWORDS["kita"], KITA)
    store.add("abeno", PASSWORDS["abeno"], ABENO)
    with serve_site(home) as base:
        yield home, base


def token(browser: requests.Session, url: str) -> str:
    page = browser.get(url).text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def logged_in(base: str, username: str) -> requests.Session:
    browser = requests.Session()
    answer = browser.post(
        base + "/login",
        data={
            "username": username,
            "password": PASSWORDS[username],
            "csrf_token": token(browser, base + "/login"),
        },
        allow_redirects=False,
    )
    assert answer.status_code == 302
    return browser


def send(browser: requests.Session, base: str, data: bytes, name: str) -> str:
    """Upload a file; the URL of its verdict page."""
    answer = browser.post(
        base + "/send",
        data={"source": "ibasho_survey", "csrf_token": token(browser, base + "/send")},
        files={"file": (name, data, "text/csv")},
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text
    return base + answer.headers["Location"]


def checked(browser: requests.Session, url: str) -> None:
    deadline = time.monotonic() + 120
    while 'id="progress"' in browser.get(url).text:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def flashes(home: Settings, response: requests.Response) -> list[str]:
    """The messages the page left for the browser in its session cookie (what it shows next)."""
    app = Flask("reader")
    app.secret_key = (home.web_dir / "secret_key").read_text().strip()
    cookie = response.cookies.get("welfare_session")
    session = SecureCookieSessionInterface().get_signing_serializer(app).loads(cookie)
    return [message for _category, message in session.get("_flashes", [])]


def test_two_confirmations_at_the_same_moment_send_the_file_exactly_once(site):
    home, base = site
    kita = logged_in(base, "kita")
    for trial in range(10):
        data = KITA_FILE.read_bytes() + b"\r\n" * (trial + 1)  # a new file each time
        url = send(kita, base, data, KITA_FILE.name)
        checked(kita, url)
        csrf = token(kita, url)
        start = threading.Barrier(2)
        answers: list[requests.Response] = []

        def confirm(csrf=csrf, url=url, start=start, answers=answers):
            start.wait()
            answers.append(
                kita.post(url + "/confirm", data={"csrf_token": csrf}, allow_redirects=False)
            )

        both = [threading.Thread(target=confirm) for _ in range(2)]
        for thread in both:
            thread.start()
        for thread in both:
            thread.join()
        assert [a.status_code for a in answers] == [302, 302], trial
        told = sorted(m for a in answers for m in flashes(home, a))
        assert len(told) == 2
        assert "送信済みです（二重送信は無視しました）" in told[0] + told[1]
        assert any("を" in m and "送信しました" in m for m in told), told
        upload_id = url.rsplit("/", 1)[-1]
        placed = [
            p
            for p in home.landing.rglob("*")
            if p.is_file() and upload_id[:8] in p.parent.name and not p.name.startswith(".")
        ]
        assert [p.read_bytes() for p in placed] == [data], trial
        with sqlite3.connect(home.web_dir / "accounts.sqlite") as db:
            state, sent_at, landing = db.execute(
                "select state, sent_at, landing_path from uploads where upload_id = ?",
                [upload_id],
            ).fetchone()
        assert state == "sent" and sent_at and landing.endswith(KITA_FILE.name)
        assert not (home.web_dir / "pending" / upload_id).exists()
    sent = home.landing_for("ibasho_survey") / "sent"
    assert not [p for p in sent.rglob("*") if p.is_dir() and not any(p.iterdir())]


def test_files_are_checked_off_the_request_threads(site):
    """Four sizeable files checked at once (two accounts, two each): while they are checked,
    another person's login and pages answer. (Latency under four 20 MiB checks: make
    benchmark.)"""
    home, base = site
    export = (SAMPLE_DIR / "ibasho_survey" / "令和6年度_北区_居場所.csv").read_text("utf-8-sig")
    header, *rows = export.splitlines()
    body = "\r\n".join([header, *(rows * 600)]).encode("utf-8")  # about 9 MB, 60,000 rows
    senders = {"kita": logged_in(base, "kita"), "abeno": logged_in(base, "abeno")}
    started = time.monotonic()
    for n in range(2):
        for name, browser in senders.items():
            send(
                browser,
                base,
                body + b"\r\n" * n,
                f"R6_{'北区' if name == 'kita' else '阿倍野区'}_{n}.csv",
            )
    answered: dict[str, float] = {}
    other = requests.Session()
    for page in ("/login", "/login", "/login"):
        began = time.monotonic()
        assert other.get(base + page).status_code == 200
        answered[page] = time.monotonic() - began
    began = time.monotonic()
    assert senders["kita"].get(base + "/submissions").status_code == 200
    answered["/submissions"] = time.monotonic() - began
    with sqlite3.connect(home.web_dir / "accounts.sqlite") as db:
        still = db.execute("select count(*) from uploads where state = 'checking'").fetchone()[0]
    assert still >= 1, "the checks were over before the pages were asked for: use larger files"
    for browser in senders.values():
        for url in re.findall(r'href="(/send/[\w-]+)"', browser.get(base + "/send").text):
            checked(browser, base + url)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "web-latency-while-checking.txt").write_text(
        "\n".join(f"{page}: {seconds * 1000:.0f} ms" for page, seconds in answered.items())
        + f"\nfour checks of {len(body) / 2**20:.1f} MB done in {time.monotonic() - started:.1f} s\n"
    )
    with sqlite3.connect(home.web_dir / "accounts.sqlite") as db:
        assert db.execute("select state, checks from uploads").fetchall() == [("checked", 1)] * 4


def _forkserver_children(home: Settings) -> list[int]:
    """The check processes of this home's server: children of the process they start from,
    with the server's WELFARE_HOME (other tests' servers run beside this one)."""
    found = []
    ours = f"WELFARE_HOME={home.home}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            parent = int(re.search(r"PPid:\s+(\d+)", status).group(1))
            parent_command = Path(f"/proc/{parent}/cmdline").read_bytes()
            environment = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, AttributeError):
            continue
        if b"multiprocessing.forkserver" in parent_command and ours in environment:
            found.append(int(entry.name))
    return found


def _state(home: Settings, upload_url: str) -> tuple:
    with sqlite3.connect(home.web_dir / "accounts.sqlite") as db:
        return db.execute(
            "select state, check_stage, verdict from uploads where upload_id = ?",
            [upload_url.rsplit("/", 1)[-1]],
        ).fetchone()


def _large(rows: int = 600) -> bytes:
    export = (SAMPLE_DIR / "ibasho_survey" / "令和6年度_北区_居場所.csv").read_text("utf-8-sig")
    header, *lines = export.splitlines()
    return "\r\n".join([header, *(lines * rows)]).encode("utf-8")


@pytest.fixture
def one_worker(home: Settings):
    """The page with one check process, so that which check runs when is known."""
    store = AccountStore(home.web_dir / "accounts.sqlite")
    store.add("kita", PASSWORDS["kita"], KITA)
    store.add("abeno", PASSWORDS["abeno"], ABENO)
    with serve_site(home, env={"WELFARE_WEB_CHECK_WORKERS": "1"}) as base:
        yield home, base


def test_a_check_that_dies_fails_its_own_upload_and_no_other(one_worker):
    """A check's process killed (as the out-of-memory killer would) tells that upload it could
    not be checked; the upload queued behind it is checked as usual."""
    home, base = one_worker
    kita, abeno = logged_in(base, "kita"), logged_in(base, "abeno")
    doomed = send(kita, base, _large(), "R6_北区_大.csv")
    waiting = send(
        abeno,
        base,
        (SAMPLE_DIR / "ibasho_survey" / "令和6年度_阿倍野区_居場所.csv").read_bytes(),
        "令和6年度_阿倍野区_居場所.csv",
    )
    deadline = time.monotonic() + 60
    while not (_state(home, doomed)[1] == "reading" and _forkserver_children(home)):
        assert time.monotonic() < deadline, "the check did not start"
        time.sleep(0.05)
    for pid in _forkserver_children(home):
        os.kill(pid, signal.SIGKILL)
    checked(kita, doomed)
    checked(abeno, waiting)
    assert "could not be checked" in kita.get(doomed).text
    assert 'id="confirm"' in abeno.get(waiting).text


def test_accounts_take_turns_and_checks_left_by_a_stopped_server_are_done_by_the_next(
    home: Settings,
):
    """One account's several files do not keep another's waiting; uploads a killed server
    left unchecked are checked when the next server starts, without anyone looking."""
    store = AccountStore(home.web_dir / "accounts.sqlite")
    store.add("kita", PASSWORDS["kita"], KITA)
    store.add("abeno", PASSWORDS["abeno"], ABENO)
    env = {"WELFARE_WEB_CHECK_WORKERS": "1"}
    with serve_site(home, env=env) as base:
        kita, abeno = logged_in(base, "kita"), logged_in(base, "abeno")
        first = send(kita, base, _large(), "R6_北区_1.csv")
        second = send(kita, base, _large() + b"\r\n", "R6_北区_2.csv")
        other = send(abeno, base, b"x" * 10 + _large(50)[10:], "R6_阿倍野区.csv")
        checked(abeno, other)
        assert _state(home, second)[0] == "checking"  # abeno's turn came before kita's second
        checked(kita, first)
    with sqlite3.connect(home.web_dir / "accounts.sqlite") as db:  # as if killed while checking
        db.execute("update uploads set state = 'checking', check_stage = 'reading', verdict = null")
    with serve_site(home, env=env):
        deadline = time.monotonic() + 120
        while any(_state(home, url)[0] == "checking" for url in (first, second, other)):
            assert time.monotonic() < deadline, "the checks left behind were not done"
            time.sleep(0.2)
