"""The submission page's rules, through the real Flask application (its test client), a real
accounts database and real files: who may log in, what a ward may send, and how bad input is
answered. The browser walk-through is tests/test_web_browser.py."""

from __future__ import annotations

import io
import os
import re
import sqlite3
import time
from pathlib import Path

import pytest

from pipelines.ingest.contract import load_contract
from pipelines.ingest.intake import ingest_source
from pipelines.ingest.lake import Lake
from pipelines.settings import SAMPLE_DIR, Settings, WebSettings
from pipelines.web.accounts import MAX_FAILURES, AccountStore
from pipelines.web.app import create_app
from pipelines.web.sending import MAX_UPLOAD_BYTES, SendError, check_file_name
from tests.conftest import zip_bomb_xlsx

KITA = "271276"  # 北区
KITA_FILE = SAMPLE_DIR / "ibasho_survey" / "令和6年度_北区_居場所.csv"
ABENO_FILE = SAMPLE_DIR / "ibasho_survey" / "令和6年度_阿倍野区_居場所.csv"
PASSWORD = "kita-password-1"


def web_settings(home: Settings, session_minutes: float = 60) -> WebSettings:
    return WebSettings(
        accounts_db=home.web_dir / "accounts.sqlite",
        secret_key_file=home.web_dir / "secret_key",
        session_minutes=session_minutes,
        secure_cookies=False,
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
    store.add("a", "the same password", KITA)
    store.add("b", "the same password", KITA)
    with sqlite3.connect(store.path) as db:
        hashes = [r[0] for r in db.execute("select password_hash from accounts")]
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert hashes[0] != hashes[1]  # salted
    assert not any("the same password" in h for h in hashes)
    assert store.authenticate("a", "the same password", "127.0.0.1") is not None
    assert store.authenticate("a", "not the password", "127.0.0.1") is None


def test_failed_logins_are_limited_even_for_the_right_password(site):
    _home, app = site
    client = app.test_client()
    for _ in range(MAX_FAILURES):
        assert log_in(client, password="a wrong guess").status_code == 401
    refused = log_in(client)
    assert refused.status_code == 429
    assert "15分間ログインできません" in text(refused)
    assert client.get("/submissions").status_code == 302  # still not logged in


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
    verdict = text(client.get(sent.headers["Location"]))
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


def test_a_ward_cannot_send_or_see_another_wards_data(site):
    home, app = site
    client = app.test_client()
    log_in(client)
    sent = upload(client, ABENO_FILE.read_bytes(), ABENO_FILE.name)
    verdict = client.get(sent.headers["Location"])
    assert "「阿倍野区」のもの" in text(verdict) and 'id="confirm"' not in verdict.get_data(
        as_text=True
    )
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
    verdict = client.get(bomb.headers["Location"])
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
    page = text(client.get(sent.headers["Location"]))
    assert "個人情報の列は読み込まず" in page
    for header in ("相談者氏名", "電話番号", "メールアドレス"):
        assert header in page
    raw = export.read_bytes()
    text_of_export = (
        raw.decode("utf-8-sig") if raw.startswith(b"\xef\xbb\xbf") else raw.decode("cp932")
    )
    for value in ("山本 花子", "06-6056-7710", "user385@example.jp"):
        assert value in text_of_export and value not in page
