"""The submission page as a Flask application: ward staff send files and see what became of them.

Flask (sessions in a signed, expiring cookie), Flask-Login (who is logged in; a session holds
the account's session token, so logging out ends it everywhere), Flask-WTF's CSRFProtect
(every form post carries a token), Jinja2 templates (autoescaped), argon2-cffi (passwords).
The routes are in :mod:`pipelines.web.views`; this module only assembles the application and
answers every error with the site's own page, in Japanese with English beside it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from flask import Flask, render_template, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError

from pipelines.foundation.disk import (
    STAFF_DISK_FULL,
    STAFF_DISK_TROUBLE,
    disk_trouble,
    read_only,
)
from pipelines.foundation.settings import Settings, WebSettings
from pipelines.intake.space import disk_full_message
from pipelines.web.accounts import AccountStore
from pipelines.web.checking import CheckWorkers, check_workers
from pipelines.web.database import Database
from pipelines.web.logins import LoginGuard
from pipelines.web.private import PRIVATE_FILE, open_to_others, private_dir, private_file
from pipelines.web.sending import MAX_UPLOAD_BYTES
from pipelines.web.session_user import SessionUser
from pipelines.web.uploads import UploadStore
from pipelines.web.views import pages

FORM_OVERHEAD = 2**20  # the form's other fields and multipart boundaries
log = logging.getLogger("welfare.web")

# The site's answer to each error a request can meet (the 413's is the upload limit's).
ERROR_MESSAGES: dict[int, str] = {
    400: "リクエストを処理できませんでした。ページを開き直して、もう一度操作してください。 / "
    "The request could not be understood: open the page again and repeat what you did.",
    403: "このページを見る権限がありません。 / You may not open this page.",
    404: "ページが見つかりません。 / There is no such page.",
    405: "この操作はこのページではできません。メニューから開き直してください。 / This action is "
    "not possible on this page: open it again from the menu.",
    413: f"ファイルが大きすぎます（{MAX_UPLOAD_BYTES // 2**20} MBまで）。月ごとなどに分けて送って"
    f"ください。 / The file is too large (at most {MAX_UPLOAD_BYTES // 2**20} MB): send it in "
    "parts, e.g. one per month.",
    429: "操作が多すぎます。少し待ってから、もう一度試してください。 / Too many requests: wait a "
    "moment and try again.",
    500: "サーバーで問題が起きたため、完了できませんでした。送ったファイルは失われていません。"
    "しばらくしてからもう一度試し、続くときは市社協に連絡してください。 / Something went wrong on "
    "the server and this was not completed; nothing you sent is lost. Try again in a while and "
    "tell the council if it repeats.",
    503: "ただいま混み合っています。しばらくしてから、もう一度試してください。 / The page is busy: "
    "try again in a while.",
}
# The error page without the site's frame, for when drawing the frame is what failed (it names
# the account logged in, read from a database the disk may have lost).
# Not a template: rendering one loads the account for the templates' context as well.
BARE_ERROR_PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>{code}</title></head>
<body><h1>{code}</h1><p role="alert" id="error">{message}</p>
<p><a href="/">最初のページへ / Back to the start</a></p></body></html>"""
CSRF_MESSAGE = (
    "このフォームは使えなくなりました（ページの有効期限切れ、またはログインし直した後）。"
    "ページを開き直して、もう一度操作してください。 / This form has expired or was not "
    "sent from this site: open the page again and repeat what you did."
)


@dataclass(frozen=True)
class Site:
    """What the views use: the settings and the page's stores (``app.extensions["welfare"]``)."""

    settings: Settings
    web: WebSettings
    db: Database
    accounts: AccountStore
    uploads: UploadStore
    logins: LoginGuard
    checks: CheckWorkers


def secret_key(web: WebSettings) -> str:
    """WELFARE_WEB_SECRET_KEY, or a random key kept (0600) beside the accounts database."""
    if key := os.environ.get("WELFARE_WEB_SECRET_KEY"):
        return key
    path = web.secret_key_file
    if not path.exists() or not path.read_text().strip():
        private_file(path)
        with path.open("w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()


def private_paths(settings: Settings, web: WebSettings) -> list[Path]:
    """What must stay the server's alone: the page's folder, the accounts database (and the
    journal files SQLite keeps beside it), the session key, the uploads waiting."""
    db = web.accounts_db
    return [
        settings.web_dir,
        db,
        db.with_name(db.name + "-wal"),
        db.with_name(db.name + "-shm"),
        db.with_name(db.name + "-journal"),
        web.secret_key_file,
        settings.web_dir / "pending",
    ]


def refuse_if_not_private(settings: Settings, web: WebSettings) -> str | None:
    """One line for the operator when a secret of the page is open to other users."""
    found = open_to_others(private_paths(settings, web))
    if not found:
        return None
    return (
        "REFUSED: the submission page's secrets are readable by other users: "
        + "; ".join(found)
        + f". Make them private (chmod 700 for folders, {PRIVATE_FILE:o} for files), then "
        "start `welfare serve` again."
    )


def create_app(settings: Settings, web: WebSettings | None = None) -> Flask:
    web = web or WebSettings.from_env(settings)
    settings.ensure()
    private_dir(settings.web_dir)
    private_dir(settings.web_dir / "pending")
    app = Flask(
        __name__,
        template_folder=str(Path(__file__).with_name("templates")),
        static_folder=str(Path(__file__).with_name("static")),
    )
    app.config.update(
        SECRET_KEY=secret_key(web),
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES + FORM_OVERHEAD,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=web.session_minutes),
        SESSION_REFRESH_EACH_REQUEST=True,  # the lifetime is idle time
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=web.secure_cookies,
        SESSION_COOKIE_NAME="welfare_session",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    db = Database(web.accounts_db)
    site = Site(
        settings=settings,
        web=web,
        db=db,
        accounts=AccountStore(db),
        uploads=UploadStore(db),
        logins=LoginGuard(db, app.config["SECRET_KEY"]),
        checks=check_workers(web.check_workers),
    )
    app.extensions["welfare"] = site
    site.checks.warm_up(wait=False)
    site.checks.submit(settings, db)  # uploads a stopped server left unchecked: checked now

    CSRFProtect(app)
    login = LoginManager(app)
    login.login_view = "pages.login"
    login.login_message = (
        "ログインしてください（しばらく操作がないと、自動的にログアウトします）。 / Please log "
        "in (a session ends after a while without use)."
    )
    login.session_protection = "basic"

    @login.user_loader
    def load_user(session_id: str) -> SessionUser | None:
        username, _, token = session_id.rpartition(":")
        account = site.accounts.get(username)
        if account is None or not account.active or account.session_token != token:
            return None  # logged out elsewhere, password changed, or account disabled
        return SessionUser(account)

    app.register_blueprint(pages)

    @app.template_filter("figure")
    def figure(value) -> str:
        """A count as people read it (1,234); blank where there is none (NULL, NaN, NA)."""
        return "" if value is None or pd.isna(value) else f"{int(value):,}"

    @app.template_filter("blank")
    def blank(value) -> str:
        """A text cell: empty where the warehouse has NULL (pandas gives None or NaN)."""
        return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else value

    def error_page(code: int, message: str, retry_after: int | None = None):
        try:
            page = render_template("error.html", code=code, message=message)
        except Exception as error:  # the page names who is logged in: their account may be
            # what failed (a disk gone bad: already in the log, once per request)
            log.warning("error page %s drawn bare: %s: %s", code, type(error).__name__, error)
            page = BARE_ERROR_PAGE.format(code=code, message=escape(message))
        response = app.make_response((page, code))
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError):
        return error_page(400, CSRF_MESSAGE)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        code = error.code or 500
        message = ERROR_MESSAGES.get(code) or ERROR_MESSAGES[400 if code < 500 else 500]
        return error_page(code, message)

    @app.errorhandler(Exception)
    def server_error(error: Exception):
        if isinstance(error, HTTPException):
            return http_error(error)
        # The accounts' database on a full or read-only disk (SQLite: 'unable to open').
        if disk_trouble(error, site.settings.home) or read_only(site.settings.home):
            log.error(disk_full_message(site.settings, detail=f"{type(error).__name__}: {error}"))
            sending = request.method == "POST" and request.path.startswith("/send")
            return error_page(507, STAFF_DISK_FULL if sending else STAFF_DISK_TROUBLE)
        log.exception("error answering %s %s", request.method, request.path)
        return error_page(500, ERROR_MESSAGES[500])

    app.register_error_handler(InternalServerError, http_error)

    @app.get("/error/<int:code>")
    def error_for_proxy(code: int):
        """The site's page for an error a reverse proxy answers itself (nginx's
        ``error_page 413 /error/413``): the same words as the page's own."""
        if code not in ERROR_MESSAGES:
            code = 404
        return error_page(code, ERROR_MESSAGES[code])

    @app.after_request
    def security_headers(response):
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; frame-ancestors 'none'; form-action 'self'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
