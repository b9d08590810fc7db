"""The submission page's rules, through the real Flask application (its test client), a real
accounts database and real files: who may log in, what a ward may send, and how bad input is
answered. The browser walk-through is tests/test_web_browser.py."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from pipelines.foundation.settings import SAMPLE_DIR, Settings, WebSettings
from pipelines.ingest.contract import load_contract
from pipelines.ingest.lake import Lake
from pipelines.intake.ingest import ingest_source
from pipelines.web.accounts import AccountError, AccountStore
from pipelines.web.app import create_app
from pipelines.web.logins import ACCOUNT_LOCK_AFTER, ACCOUNT_SLOW_AFTER, ADDRESS_SLOW_AFTER
from pipelines.web.passwords import password_problems
from pipelines.web.sending import MAX_UPLOAD_BYTES, SendError, check_file_name
from tests.conftest import welfare_cli, xlsx_bytes, zip_bomb_xlsx

KITA = "271276"  # 北区
KITA_FILE = SAMPLE_DIR / "ibasho_survey" / "令和6年度_北区_居場所.csv"
ABENO_FILE = SAMPLE_DIR / "ibasho_survey" / "令和6年度_阿倍野区_居場所.csv"
PASSWORD = "umeda-clerk-spring-2024"
COUNCIL_PASSWORD = "nakanoshima-office-2024"


def web_settings(home: Settings, session_minutes: float = 60) -> WebSettings:
    return WebSettings(
        accounts_db=home.web_dir / "accounts.sqlite",
        secret_key_file=home.web_dir / "secret_key",
        session_minutes=session_minutes,
        secure_cookies=False,
        start_runs=False,  # a test runs the pipeline when it means to
    )


@pytest.fixture
def site(home: Settings):
    web = web_settings(home)
    AccountStore(web.accounts_db).add("kita", PASSWORD, KITA, display_name="北区 担当")
    return home, create_app(home, web)


def csrf_token(client, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def log_in(client, username: str = "kita", password: str = PASSWORD):
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(client)},
    )


def upload(client, data: bytes, name: str, source: str = "ibasho_survey"):
    return client.post(
        "/send",
        data={
            "source": source,
            "csrf_token": csrf_token(client, "/send"),
            "file": (io.BytesIO(data), name),
        },
        content_type="multipart/form-data",
    )


def verdict_of(client, sent, limit: float = 120):
    """The verdict page of an upload, once its check (in a worker process) is done."""
    deadline = time.monotonic() + limit
    while True:
        page = client.get(sent.headers["Location"])
        if 'id="progress"' not in page.get_data(as_text=True):
            return page
        assert time.monotonic() < deadline, "the upload was not checked in time"
        time.sleep(0.1)


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def files_under(root: Path, skip: str = "web") -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).parts[0] != skip
    }


def test_passwords_are_kept_only_as_slow_salted_hashes(home):
    store = AccountStore(web_settings(home).accounts_db)
    store.add("a1", "the very same password", KITA)
    store.add("b1", "the very same password", KITA)
    with sqlite3.connect(store.path) as db:
        hashes = [r[0] for r in db.execute("select password_hash from accounts")]
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert hashes[0] != hashes[1]  # salted
    assert not any("the very same password" in h for h in hashes)
    assert store.verify("a1", "the very same password") is not None
    assert store.verify("a1", "not the password") is None


def test_a_password_is_refused_with_the_reason(home):
    """At least 12 characters, not mostly one character, not the account's name, not common
    or quick to guess: each refusal says which, in Japanese and English."""
    reasons = {
        "aaaaaaaaaa": "12文字以上",
        "aaaaaaaaaaaaaaaa": "同じ文字ばかり",
        "kita-office-2024": "ユーザー名を含む",
        "password1234": "よく使われている",
        "asdfghjkl;123": "推測されやすい",
    }
    for password, reason in reasons.items():
        problems = password_problems(password, "kita")
        assert problems and reason in problems[0], (password, problems)
        assert " / " in problems[0]  # English beside the Japanese
    assert password_problems(PASSWORD, "kita") == []
    store = AccountStore(web_settings(home).accounts_db)
    with pytest.raises(AccountError, match="12文字以上"):
        store.add("kita", "aaaaaaaaaa", KITA)
    refused = welfare_cli(
        home.home,
        "users",
        "add",
        "kita",
        "--submitter",
        KITA,
        "--password-stdin",
        stdin="aaaaaaaaaa\n",
    )
    assert refused.returncode == 2 and "12文字以上" in refused.stderr
    assert "Traceback" not in refused.stderr


def age_failed_logins(home: Settings, seconds: float) -> None:
    """As if the failed logins so far had happened ``seconds`` ago (time passing)."""
    with sqlite3.connect(web_settings(home).accounts_db) as db:
        db.execute("update login_failures set failed_at = ?", [_seconds_ago(seconds)])


def test_failed_logins_slow_then_lock_the_account_tried_and_no_other(site):
    home, app = site
    AccountStore(web_settings(home).accounts_db).add(
        "council", COUNCIL_PASSWORD, "planning_unit", "admin"
    )
    attacker = app.test_client()
    for _ in range(ACCOUNT_SLOW_AFTER):
        assert log_in(attacker, password="a wrong guess").status_code == 401
    slowed = log_in(attacker, password="another guess")  # too soon: not even checked
    assert slowed.status_code == 429 and "秒後にもう一度" in text(slowed)
    assert int(slowed.headers["Retry-After"]) >= 1
    for _ in range(ACCOUNT_LOCK_AFTER - ACCOUNT_SLOW_AFTER):
        age_failed_logins(home, 61)  # each wait over, still within the 15 minutes
        assert log_in(attacker, password="a wrong guess").status_code == 401
    age_failed_logins(home, 61)
    locked = log_in(attacker)  # the right password: refused while the account is locked
    assert locked.status_code == 429 and "分間ログインできません" in text(locked)
    assert attacker.get("/submissions").status_code == 302
    # Somebody else's account, from the same address, logs in as usual.
    assert log_in(app.test_client(), "council", COUNCIL_PASSWORD).status_code == 302
    age_failed_logins(home, 16 * 60)  # a quarter of an hour later the lock is over
    assert log_in(attacker).status_code == 302


def test_a_browser_that_logged_in_before_is_not_locked_out_by_others(site):
    home, app = site
    clerk = app.test_client()
    assert log_in(clerk).status_code == 302  # this browser is trusted for kita from now on
    clerk.post("/logout", data={"csrf_token": csrf_token(clerk, "/send")})
    attacker = app.test_client()
    for _ in range(ACCOUNT_LOCK_AFTER):
        age_failed_logins(home, 61)
        assert log_in(attacker, password="a wrong guess").status_code == 401
    assert log_in(attacker).status_code == 429  # locked for browsers it has not trusted
    assert log_in(clerk).status_code == 302  # the clerk's own browser still logs in


def test_an_address_that_tries_many_accounts_is_slowed_but_a_right_password_logs_in(site):
    home, app = site
    AccountStore(web_settings(home).accounts_db).add(
        "council", COUNCIL_PASSWORD, "planning_unit", "admin"
    )
    attacker = app.test_client()
    for n in range(ADDRESS_SLOW_AFTER):  # one proxy: failures over many accounts
        age_failed_logins(home, 61)
        assert log_in(attacker, f"ward{n % 7}", "a wrong guess").status_code == 401
    newcomer = app.test_client()  # the council, from the same address, a new browser
    slowed = log_in(newcomer, "council", COUNCIL_PASSWORD)
    assert slowed.status_code == 429 and "この場所（アドレス）から" in text(slowed)
    age_failed_logins(home, 6)  # five seconds later
    assert log_in(newcomer, "council", COUNCIL_PASSWORD).status_code == 302


def test_logging_out_ends_the_session_everywhere(site):
    _home, app = site
    browser, thief = app.test_client(), app.test_client()
    assert log_in(browser).status_code == 302
    cookie = browser.get_cookie("welfare_session")
    thief.set_cookie("welfare_session", cookie.value)
    assert thief.get("/submissions").status_code == 200  # a copied cookie works until ...
    browser.post("/logout", data={"csrf_token": csrf_token(browser, "/send")})
    assert browser.get("/submissions").status_code == 302
    assert thief.get("/submissions").status_code == 302  # ... the account logs out


def test_an_idle_session_expires(home):
    web = web_settings(home, session_minutes=1 / 60)  # one second
    AccountStore(web.accounts_db).add("kita", PASSWORD, KITA)
    client = create_app(home, web).test_client()
    assert log_in(client).status_code == 302
    time.sleep(2.5)  # the signature carries whole seconds
    expired = client.get("/submissions")
    assert expired.status_code == 302 and "/login" in expired.headers["Location"]


def test_unauthenticated_requests_get_nothing(site):
    _home, app = site
    client = app.test_client()
    for path in ("/submissions", "/send", "/admin", "/admin/overview", "/send/x", "/submissions/x"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    posted = client.post("/send", data={"source": "ibasho_survey"})
    assert posted.status_code == 400  # no CSRF token: refused before anything else


def test_a_forged_form_post_is_refused(site):
    home, app = site
    client = app.test_client()
    log_in(client)
    sent = upload(client, KITA_FILE.read_bytes(), KITA_FILE.name)
    forged = client.post(sent.headers["Location"] + "/confirm", data={})
    assert forged.status_code == 400
    assert "有効期限切れ" in text(forged) and "open the page again" in text(forged)
    assert files_under(home.landing) == {}


def test_a_ward_sends_its_own_file_once_and_intake_records_who_sent_it(site):
    home, app = site
    client = app.test_client()
    log_in(client)
    sent = upload(client, KITA_FILE.read_bytes(), KITA_FILE.name)
    assert sent.status_code == 302
    verdict = text(verdict_of(client, sent))
    assert "年度 Fiscal year 2024年度" in verdict and "提出者 Submitter 北区" in verdict
    assert "読込 read 110 = 取込 loaded 106 + 保留 quarantined 2 + 対象外 skipped 2" in verdict
    assert "カラオケ教室 not_in_code_list" in verdict
    assert files_under(home.landing) == {}  # nothing is sent before it is confirmed

    token = csrf_token(client, "/send")
    first = client.post(sent.headers["Location"] + "/confirm", data={"csrf_token": token})
    again = client.post(sent.headers["Location"] + "/confirm", data={"csrf_token": token})
    assert first.status_code == again.status_code == 302
    assert "二重送信は無視しました" in text(client.get("/submissions"))
    resent = upload(client, KITA_FILE.read_bytes(), KITA_FILE.name)  # the same bytes again
    verdict_of(client, resent)
    client.post(resent.headers["Location"] + "/confirm", data={"csrf_token": token})
    assert "同じ内容のファイル" in text(client.get("/submissions"))
    landed = [p for p in home.landing.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert [p.name for p in landed] == [KITA_FILE.name]
    assert landed[0].read_bytes() == KITA_FILE.read_bytes()
    assert "次回の実行待ち" in text(client.get("/submissions"))

    ingest_source(home, load_contract("ibasho_survey"))
    ledger = Lake(home.lake).ledger()
    assert ledger[["file_name", "sent_by", "status"]].values.tolist() == [
        [KITA_FILE.name, "kita", "loaded"]
    ]


def test_a_ward_sends_its_action_plan_and_sees_what_the_warehouse_makes_of_it(site):
    """The fifth source on the page as any other: a real .xlsx with a title block and ratings
    written A–E; the verdict counts its rows and names the wrong one; confirmed, it is taken in."""
    home, app = site
    client = app.test_client()
    log_in(client)
    header = ["年度", "区名", "基本目標", "推進項目", "取組テーマ", "目標値", "実績値", "自己評価"]
    sheet = [
        ["令和6年度 北区社会福祉協議会 実行計画（実績）"],
        [],
        header,
        ["R6", "北区", "地域づくり", "１－１", "サロンの立ち上げ", 3, 4, "A"],
        ["R6", "北区", "参加支援", "3-1", "相談からの参加支援", 10, 6, "C"],
        ["R6", "北区", "地域づくり", "2-1", "出張相談会", 12, 12, "B"],  # 2-1 is 相談支援
    ]
    name = "R6_北区_実行計画_実績.xlsx"
    sent = upload(client, xlsx_bytes({"データ": sheet}), name, source="ward_action_plans")
    assert sent.status_code == 302
    verdict = text(verdict_of(client, sent))
    assert "区社協 実行計画" in verdict and "提出者 Submitter 北区" in verdict
    assert "読込 read 3 = 取込 loaded 2 + 保留 quarantined 1 + 対象外 skipped 0" in verdict
    assert "disagrees_with_reference" in verdict and "基本目標" in verdict
    token = csrf_token(client, "/send")
    client.post(sent.headers["Location"] + "/confirm", data={"csrf_token": token})
    ingest_source(home, load_contract("ward_action_plans"))
    ledger = Lake(home.lake).ledger()
    assert ledger[["source", "file_name", "sent_by", "status", "rows_loaded"]].values.tolist() == [
        ["ward_action_plans", name, "kita", "loaded", 2]
    ]
    assert name in text(client.get("/submissions"))


def test_a_ward_cannot_send_or_see_another_wards_data(site):
    home, app = site
    client = app.test_client()
    log_in(client)
    sent = upload(client, ABENO_FILE.read_bytes(), ABENO_FILE.name)
    verdict = verdict_of(client, sent)
    assert "「阿倍野区」のもの" in text(verdict) and 'id="confirm"' not in verdict.get_data(
        as_text=True
    )
    assert "取り込めます" not in text(verdict)  # never the green "would load" when it cannot go
    token = csrf_token(client, "/send")
    refused = client.post(sent.headers["Location"] + "/confirm", data={"csrf_token": token})
    assert refused.status_code == 409
    assert upload(client, b"x", "c.csv", source="consultations").status_code == 400
    assert client.get("/submissions?submitter=271195").status_code == 404  # 阿倍野区's page
    assert client.get("/admin").status_code == 403
    assert files_under(home.landing) == {}


def test_bad_files_get_a_clear_answer_and_nothing_is_written_outside_the_upload_area(site):
    home, app = site
    client = app.test_client()
    log_in(client)
    before = files_under(home.home)
    header = KITA_FILE.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    refusals = {
        "too large": (b"x" * (MAX_UPLOAD_BYTES + 1), "R6_北区.csv", "大きすぎます"),
        "not csv/xlsx": (b"%PDF-1.4", "R6_北区.pdf", "Excel（.xlsx）と CSV（.csv）"),
        "a folder in the name": (b"a,b", "../../R6_北区.csv", "フォルダの区切り"),
        "a control character": (b"a,b", "R6_北区\x1b.csv", "制御文字"),
        "a hidden file": (b"a,b", ".R6_北区.csv", "隠しファイル"),
        "empty": (b"", "R6_北区.csv", "空です"),
    }
    for case, (data, name, message) in refusals.items():
        response = upload(client, data, name)
        assert response.status_code in (400, 413), case
        assert message in text(response), case
    forgotten = home.web_dir / "pending" / "an-upload-nobody-sent"
    forgotten.mkdir(parents=True)
    day_ago = time.time() - 25 * 3600
    os.utime(forgotten, (day_ago, day_ago))
    bomb = upload(client, zip_bomb_xlsx(header), "R6_北区_居場所.xlsx")
    assert not forgotten.exists()  # checked a day ago, neither sent nor discarded
    verdict = verdict_of(client, bomb)
    assert "受け付けられません" in text(verdict) and "too large" in text(verdict)
    assert 'id="confirm"' not in verdict.get_data(as_text=True)
    assert files_under(home.home) == before  # landing/, archive/, lake/: untouched
    # A backslash reaches the page only escaped in the form's header (a quoted string).
    with pytest.raises(SendError, match="フォルダの区切り"):
        check_file_name("C:\\Users\\x\\R6_北区.csv")


def test_the_volunteer_centre_sees_personal_columns_named_as_dropped_never_their_values(home):
    web = web_settings(home)
    AccountStore(web.accounts_db).add("centre", PASSWORD, "volunteer_centre")
    client = create_app(home, web).test_client()
    log_in(client, "centre")
    export = SAMPLE_DIR / "consultations" / "consultations_2024-05.csv"
    assert (
        upload(client, KITA_FILE.read_bytes(), KITA_FILE.name).status_code == 400
    )  # 居場所: not its survey
    sent = upload(client, export.read_bytes(), export.name, source="consultations")
    page = text(verdict_of(client, sent))
    assert "個人情報の列は読み込まず" in page
    for header in ("相談者氏名", "電話番号", "メールアドレス"):
        assert header in page
    raw = export.read_bytes()
    text_of_export = (
        raw.decode("utf-8-sig") if raw.startswith(b"\xef\xbb\xbf") else raw.decode("cp932")
    )
    for value in ("山本 花子", "06-6056-7710", "user385@example.jp"):
        assert value in text_of_export and value not in page


def _seconds_ago(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).isoformat()


def test_an_upload_is_checked_once_and_its_verdict_kept(site):
    home, app = site
    client = app.test_client()
    log_in(client)
    sent = upload(client, KITA_FILE.read_bytes(), KITA_FILE.name)
    first = text(verdict_of(client, sent))
    for _ in range(3):  # reloads show the verdict kept with the upload
        assert text(client.get(sent.headers["Location"])) == first
    confirmed = client.post(
        sent.headers["Location"] + "/confirm", data={"csrf_token": csrf_token(client, "/send")}
    )
    assert confirmed.status_code == 302
    with sqlite3.connect(web_settings(home).accounts_db) as db:
        assert db.execute("select checks, state from uploads").fetchall() == [(1, "sent")]


def test_a_long_japanese_file_name_is_kept_and_a_name_too_long_for_windows_refused(site):
    home, app = site
    client = app.test_client()
    log_in(client)
    data = KITA_FILE.read_bytes()
    names = []
    for length in (82, 100):
        name = "令和6年度_北区_居場所_" + "修正版" * ((length - 17) // 3) + ".csv"
        name = name[: length - 4] + ".csv"
        assert len(name) == length and len(name.encode("utf-8")) > 200
        names.append(name)
        sent = upload(client, data + b"\n" * length, name)  # other bytes: not a duplicate
        assert sent.status_code == 302
        assert "年度 Fiscal year 2024年度" in text(verdict_of(client, sent))
        confirmed = client.post(
            sent.headers["Location"] + "/confirm",
            data={"csrf_token": csrf_token(client, "/send")},
        )
        assert confirmed.status_code == 302, text(confirmed)
        assert name in text(client.get("/submissions"))
    landed = [p for p in home.landing.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert len(landed) == 2
    assert all(len(p.name.encode("utf-8")) <= 120 for p in landed)
    assert all(p.name.startswith("令和6年度_北区_居場所_修正版") for p in landed)
    ingest_source(home, load_contract("ibasho_survey"))
    ledger = Lake(home.lake).ledger()
    assert sorted(ledger["file_name"]) == sorted(names)  # the names as sent
    assert set(ledger["status"]) == {"loaded"} and set(ledger["fiscal_year"]) == {2024}
    refused = upload(client, data, "居" * 252 + ".csv")  # over Windows' 255 characters
    assert refused.status_code == 400 and "ファイル名が長すぎます" in text(refused)


def test_every_error_page_is_the_sites_own_in_japanese_and_english(site):
    _home, app = site

    @app.get("/boom")
    def boom():
        raise RuntimeError("a fault in the page's code")

    client = app.test_client()
    log_in(client)
    answers = {
        400: client.post("/send", data={"source": "ibasho_survey"}),  # no CSRF token
        403: client.get("/admin"),
        404: client.get("/no-such-page"),
        405: client.get("/logout"),
        413: client.post(
            "/send",
            data={
                "csrf_token": csrf_token(client, "/send"),
                "file": (io.BytesIO(b"x" * (23 * 2**20)), "a.csv"),
            },
            content_type="multipart/form-data",
        ),
        500: client.get("/boom"),
    }
    for _ in range(ACCOUNT_SLOW_AFTER):
        log_in(app.test_client(), password="a wrong guess")
    answers[429] = log_in(app.test_client())
    for code, response in answers.items():
        assert response.status_code == code
        page = text(response)
        assert "データ提出窓口" in page, code  # the site's own page ...
        assert re.search(r"[ぁ-んァ-ン一-龥]", page.split("Submissions")[-1]), code  # Japanese
        assert re.search(r" / [A-Z][a-z]+", page), code  # ... with English beside it
        assert "Traceback" not in page and "RuntimeError" not in page
    assert "送ったファイルは失われていません" in text(answers[500])
    proxy = client.get("/error/413")  # what nginx shows for its own body limit
    assert proxy.status_code == 413 and "大きすぎます" in text(proxy)


@pytest.mark.skipif(os.geteuid() != 0, reason="a file system of its own needs root (tmpfs)")
def test_a_disk_gone_read_only_or_full_gets_the_sites_own_answer(tmp_path):
    """The accounts' database lives under WELFARE_HOME: on a disk remounted read-only, or full,
    loading the logged-in account fails, and with it the page's frame that names it. The
    answer is still the site's, in Japanese: never the framework's English one."""
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)], check=True)
    try:
        home = Settings(disk / "welfare_home").ensure()
        web = web_settings(home)
        AccountStore(web.accounts_db).add("kita", PASSWORD, KITA, display_name="北区 担当")
        client = create_app(home, web).test_client()
        log_in(client)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        answers = [client.get("/submissions"), client.get("/send")]
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
        filler = disk / "filler"
        free = shutil.disk_usage(disk).free
        subprocess.run(["fallocate", "-l", str(free), str(filler)], check=True)
        answers.append(client.get("/submissions"))
        for answer in answers:
            page = text(answer)
            assert answer.status_code == 507, answer.status_code
            assert "Internal Server Error" not in page and "Traceback" not in page
            assert "保存領域に問題" in page and "disk is full or failing" in page, page
        filler.unlink()
        assert client.get("/submissions").status_code == 200  # and back once there is room
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_uploads_waiting_for_confirmation_are_bounded_per_account(site):
    from pipelines.web.database import Database
    from pipelines.web.uploads import (
        MAX_CHECKING_PER_ACCOUNT,
        MAX_OPEN_PER_ACCOUNT,
        UploadRefused,
        UploadStore,
    )

    home, app = site
    web = web_settings(home)
    store, account = (
        UploadStore(Database(web.accounts_db)),
        AccountStore(web.accounts_db).get("kita"),
    )
    for n in range(MAX_CHECKING_PER_ACCOUNT):
        store.add(account, "ibasho_survey", f"{n}.csv", "upload.csv", f"{n:064x}", 10)
    with pytest.raises(UploadRefused, match="確認中のファイルが"):
        store.add(account, "ibasho_survey", "x.csv", "upload.csv", "f" * 64, 10)
    with sqlite3.connect(web.accounts_db) as db:
        db.execute("update uploads set state = 'checked'")
    for n in range(MAX_CHECKING_PER_ACCOUNT, MAX_OPEN_PER_ACCOUNT):
        store.add(account, "ibasho_survey", f"{n}.csv", "upload.csv", f"{n:064x}", 10)
        with sqlite3.connect(web.accounts_db) as db:
            db.execute("update uploads set state = 'checked'")
    client = app.test_client()
    log_in(client)
    refused = upload(client, KITA_FILE.read_bytes(), KITA_FILE.name)
    assert refused.status_code == 429 and "送信待ちのファイルが多すぎます" in text(refused)
    with sqlite3.connect(web.accounts_db) as db:
        db.execute("update uploads set state = 'discarded'")
    assert upload(client, KITA_FILE.read_bytes(), KITA_FILE.name).status_code == 302


def test_the_pages_secrets_are_private_whatever_the_umask_and_serve_refuses_otherwise(home):
    previous = os.umask(0)
    try:
        web = web_settings(home)
        create_app(home, web)
    finally:
        os.umask(previous)
    modes = {
        path.name: path.stat().st_mode & 0o777
        for path in (home.web_dir, web.accounts_db, web.secret_key_file, home.web_dir / "pending")
    }
    assert modes == {"web": 0o700, "accounts.sqlite": 0o600, "secret_key": 0o600, "pending": 0o700}
    web.accounts_db.chmod(0o644)
    refused = welfare_cli(home.home, "serve", "--port", "1", timeout=60)
    assert refused.returncode == 2
    [line] = refused.stderr.strip().splitlines()
    assert "accounts.sqlite (mode 0644)" in line and "REFUSED" in line


def test_a_confirmation_that_fails_half_way_leaves_the_upload_to_confirm_again(site):
    home, app = site
    client = app.test_client()
    log_in(client)
    sent = upload(client, KITA_FILE.read_bytes(), KITA_FILE.name)
    verdict_of(client, sent)
    blocker = home.landing_for("ibasho_survey") / "sent"
    blocker.write_text("a file where the page's folder should be")  # placing cannot succeed
    failed = client.post(
        sent.headers["Location"] + "/confirm", data={"csrf_token": csrf_token(client, "/send")}
    )
    assert failed.status_code == 500 and "失われていません" in text(failed)
    assert files_under(home.landing) == {"ibasho_survey/sent": blocker.read_bytes()}
    assert 'id="confirm"' in verdict_of(client, sent).get_data(as_text=True)  # still pending
    blocker.unlink()
    again = client.post(
        sent.headers["Location"] + "/confirm", data={"csrf_token": csrf_token(client, "/send")}
    )
    assert again.status_code == 302
    landed = [p for p in home.landing.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert [p.read_bytes() for p in landed] == [KITA_FILE.read_bytes()]


def test_names_and_logins_past_their_bounds_are_refused_before_anything_is_kept(site):
    home, app = site
    client = app.test_client()
    huge = log_in(client, username="x" * 100_000)
    assert huge.status_code == 401 and len(huge.get_data()) < 100_000  # not echoed back
    with sqlite3.connect(web_settings(home).accounts_db) as db:
        assert db.execute("select count(*) from login_failures").fetchone() == (0,)
    assert check_file_name("令和6年度_北区_👨\u200d👩\u200d👧.csv")  # joiners make emoji
    for name, reason in (("CON.csv", "Windows"), ("R6_北区\u202e.csv", "制御文字")):
        with pytest.raises(SendError, match=reason):
            check_file_name(name)
