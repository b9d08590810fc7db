"""The submission page as a Flask application: ward staff send files and see what became of them.

Flask (sessions in a signed, expiring cookie), Flask-Login (who is logged in; a session holds
the account's session token, so logging out ends it everywhere), Flask-WTF's CSRFProtect
(every form post carries a token), Jinja2 templates (autoescaped), argon2-cffi (passwords).
The routes are in :mod:`pipelines.web.views`; this module only assembles the application.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

import pandas as pd
from flask import Flask, render_template
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from pipelines.settings import Settings, WebSettings
from pipelines.web.accounts import AccountStore
from pipelines.web.sending import MAX_UPLOAD_BYTES
from pipelines.web.session_user import SessionUser

FORM_OVERHEAD = 2**20  # the form's other fields and multipart boundaries


def secret_key(web: WebSettings) -> str:
    """WELFARE_WEB_SECRET_KEY, or a random key kept (0600) beside the accounts database."""
    if key := os.environ.get("WELFARE_WEB_SECRET_KEY"):
        return key
    path = web.secret_key_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()


def create_app(settings: Settings, web: WebSettings | None = None) -> Flask:
    web = web or WebSettings.from_env(settings)
    settings.ensure()
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
    app.extensions["welfare_settings"] = settings
    app.extensions["welfare_accounts"] = AccountStore(web.accounts_db)

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
        account = app.extensions["welfare_accounts"].get(username)
        if account is None or not account.active or account.session_token != token:
            return None  # logged out elsewhere, password changed, or account disabled
        return SessionUser(account)

    from pipelines.web.views import pages

    app.register_blueprint(pages)

    @app.template_filter("figure")
    def figure(value) -> str:
        """A count as people read it (1,234); blank where there is none (NULL, NaN, NA)."""
        return "" if value is None or pd.isna(value) else f"{int(value):,}"

    @app.template_filter("blank")
    def blank(value) -> str:
        """A text cell: empty where the warehouse has NULL (pandas gives None or NaN)."""
        return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else value

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError):
        message = (
            "このフォームは使えなくなりました（ページの有効期限切れ、またはログインし直した後）。"
            "ページを開き直して、もう一度操作してください。 / This form has expired or was not "
            "sent from this site: open the page again and repeat what you did."
        )
        return render_template("error.html", code=400, message=message), 400

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error: RequestEntityTooLarge):
        limit = MAX_UPLOAD_BYTES // 2**20
        message = (
            f"ファイルが大きすぎます（{limit} MBまで）。月ごとなどに分けて送ってください。 / "
            f"The file is too large (at most {limit} MB): send it in parts, e.g. one per month."
        )
        return render_template("error.html", code=413, message=message), 413

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        messages = {
            403: "このページを見る権限がありません。 / You may not open this page.",
            404: "ページが見つかりません。 / There is no such page.",
        }
        message = messages.get(error.code or 0, error.description or "")
        return render_template("error.html", code=error.code, message=message), error.code

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
