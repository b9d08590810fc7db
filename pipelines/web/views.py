"""The pages: log in, send a file, see one's submissions; for council staff, every submitter.

Thin: reading, checking and placing files is in :mod:`pipelines.web.sending`, what the
warehouse says in :mod:`pipelines.web.status`. A submitter reaches only its own uploads and
submissions; another's answer "not found", as if they did not exist.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from pipelines.ingest.contract import all_contracts, load_contract
from pipelines.ingest.release import ReleaseError, release_submission
from pipelines.operations.disk import disk_message, is_disk_error
from pipelines.reporting.overview import report_path
from pipelines.settings import Settings
from pipelines.web import sending, status
from pipelines.web.accounts import AccountStore, Upload
from pipelines.web.session_user import SessionUser
from pipelines.web.submitters import all_submitters, sources_for, submitter

pages = Blueprint("pages", __name__)

DISK_FULL = (
    "サーバーの保存領域が足りないため、受け付けられませんでした。"
    "社協の担当者に連絡してください。 / "
    "The server is out of disk space and could not take the file: please tell the council."
)


def _disk_full(error: OSError) -> str:
    """Staff get a plain sentence; the operator's one line goes to the server's log."""
    current_app.logger.error(disk_message(_settings(), detail=str(error)))
    return DISK_FULL


def _settings() -> Settings:
    return current_app.extensions["welfare_settings"]


def _accounts() -> AccountStore:
    return current_app.extensions["welfare_accounts"]


def _user() -> SessionUser:
    return current_user  # type: ignore[return-value]


def admin_required(view):
    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not _user().is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


@pages.app_context_processor
def labels() -> dict:
    return {
        "status_labels": status.STATUS_LABELS,
        "source_labels": {c.key: c.label_ja for c in all_contracts()},
    }


# -- logging in -------------------------------------------------------------------------------
@pages.get("/")
def home():
    if current_user.is_authenticated:
        return redirect(url_for("pages.my_submissions"))
    return redirect(url_for("pages.login"))


@pages.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    address = request.remote_addr or "unknown"
    accounts = _accounts()
    if accounts.locked(username, address):
        flash(
            "ログインの失敗が続いたため、15分間ログインできません。 / Too many failed logins: "
            "try again in 15 minutes, or ask the council to reset your password.",
            "error",
        )
        return render_template("login.html", username=username), 429
    account = accounts.authenticate(username, password, address)
    if account is None:
        flash(
            "ユーザー名またはパスワードが違います。 / Wrong user name or password.",
            "error",
        )
        return render_template("login.html", username=username), 401
    session.clear()
    login_user(SessionUser(account))
    session.permanent = True  # expires after the idle lifetime (WELFARE_WEB_SESSION_MINUTES)
    target = request.args.get("next", "")
    if not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        target = url_for("pages.my_submissions")
    return redirect(target)


@pages.post("/logout")
@login_required
def logout():
    _accounts().end_sessions(_user().account.username)
    logout_user()
    session.clear()
    flash("ログアウトしました。 / You are logged out.", "info")
    return redirect(url_for("pages.login"))


# -- sending a file ---------------------------------------------------------------------------
@pages.get("/send")
@login_required
def send_form():
    sources = sources_for(_user().account.submitter_code)
    chosen = request.args.get("source")
    return render_template(
        "send.html",
        sources=sources,
        chosen=chosen,
        limit_mb=sending.MAX_UPLOAD_BYTES // 2**20,
    )


@pages.post("/send")
@login_required
def send_upload():
    account = _user().account
    allowed = {c.key: c for c in sources_for(account.submitter_code)}
    source = request.form.get("source", "")
    limit_mb = sending.MAX_UPLOAD_BYTES // 2**20
    if source not in allowed:
        flash(
            "送る調査を選んでください（このアカウントが送れるものだけ）。 / Choose one of the "
            "surveys this account sends.",
            "error",
        )
        return render_template(
            "send.html", sources=list(allowed.values()), chosen=None, limit_mb=limit_mb
        ), 400
    upload_file = request.files.get("file")
    try:
        name = sending.check_file_name(upload_file.filename if upload_file else "")
        data = upload_file.read() if upload_file else b""
        if len(data) > sending.MAX_UPLOAD_BYTES:
            raise sending.SendError(
                f"ファイルが大きすぎます（{limit_mb} MBまで）。 / The file is too large "
                f"(at most {limit_mb} MB)."
            )
        if not data:
            raise sending.SendError("ファイルが空です。 / The file is empty.")
    except sending.SendError as error:
        flash(str(error), "error")
        return render_template(
            "send.html", sources=list(allowed.values()), chosen=source, limit_mb=limit_mb
        ), 400
    sending.forget_stale_uploads(_settings())
    upload = _accounts().add_upload(account, source, name, sending.sha256_hex(data))
    try:
        sending.keep_upload(_settings(), upload, data)
    except OSError as error:
        if not is_disk_error(error):
            raise
        flash(_disk_full(error), "error")
        return render_template(
            "send.html", sources=list(allowed.values()), chosen=source, limit_mb=limit_mb
        ), 507
    return redirect(url_for("pages.verdict", upload_id=upload.upload_id))


def _own_upload(upload_id: str) -> Upload:
    upload = _accounts().upload(upload_id)
    if upload is None or upload.username != _user().account.username:
        abort(404)
    return upload


@pages.get("/send/<upload_id>")
@login_required
def verdict(upload_id: str):
    upload = _own_upload(upload_id)
    if upload.sent_at:
        flash(f"「{upload.file_name}」は送信済みです。 / '{upload.file_name}' was sent.", "info")
        return redirect(url_for("pages.my_submissions"))
    if not (sending.pending_dir(_settings(), upload_id) / upload.file_name).exists():
        abort(404)
    judged = sending.judge(_settings(), _user().account, upload, load_contract(upload.source))
    return render_template("verdict.html", verdict=judged, upload=upload)


@pages.post("/send/<upload_id>/confirm")
@login_required
def confirm(upload_id: str):
    settings, accounts = _settings(), _accounts()
    upload = _own_upload(upload_id)
    if upload.sent_at:
        flash(
            f"「{upload.file_name}」は既に送信済みです（二重送信は無視しました）。 / "
            f"'{upload.file_name}' was already sent; the second submit changed nothing.",
            "info",
        )
        return redirect(url_for("pages.my_submissions"))
    if not (sending.pending_dir(settings, upload_id) / upload.file_name).exists():
        abort(404)
    account = _user().account
    judged = sending.judge(settings, account, upload, load_contract(upload.source))
    if not judged.sendable:
        return render_template("verdict.html", verdict=judged, upload=upload), 409
    earlier = accounts.already_sent(account.submitter_code, upload.source, upload.sha256)
    if earlier is not None:
        sending.discard_upload(settings, upload_id)
        flash(
            f"同じ内容のファイル（{earlier.file_name}）は"
            f" {earlier.sent_at[:16]} に送信済みです。 / "
            f"A file with exactly these contents ({earlier.file_name}) was sent already.",
            "info",
        )
        return redirect(url_for("pages.my_submissions"))
    if not accounts.mark_sent(upload_id, "(placing)"):  # claimed once: a double submit stops here
        return redirect(url_for("pages.my_submissions"))
    try:
        placed = sending.place_in_landing(settings, upload, account.username)
    except OSError as error:
        accounts.unmark_sent(upload_id)
        if not is_disk_error(error):
            raise
        flash(_disk_full(error), "error")
        return render_template("verdict.html", verdict=judged, upload=upload), 507
    accounts.set_landing_path(upload_id, placed.relative_to(settings.landing).as_posix())
    flash(
        f"「{upload.file_name}」を送信しました。次回の実行（毎晩）で集計に入ります。 / "
        f"'{upload.file_name}' was sent; the nightly run takes it in.",
        "info",
    )
    return redirect(url_for("pages.my_submissions"))


@pages.post("/send/<upload_id>/discard")
@login_required
def discard(upload_id: str):
    upload = _own_upload(upload_id)
    if not upload.sent_at:
        sending.discard_upload(_settings(), upload_id)
        flash(f"「{upload.file_name}」の送信を取り消しました。 / Not sent.", "info")
    return redirect(url_for("pages.send_form", source=upload.source))


# -- what became of it ------------------------------------------------------------------------
def _visible_submitter() -> str:
    """The submitter whose page this is: one's own; council staff may look at anyone's."""
    own = _user().account.submitter_code
    asked = request.args.get("submitter", own)
    if asked != own and not _user().is_admin:
        abort(404)
    return asked


@pages.get("/submissions")
@login_required
def my_submissions():
    settings = _settings()
    code = _visible_submitter()
    sent = _accounts().sent_uploads(code)
    received = status.submissions(settings, code, [u.sha256 for u in sent])
    known = set(received["sha256"]) if received is not None else set()
    waiting = [u for u in sent if u.sha256 not in known]
    return render_template(
        "submissions.html",
        submitter=submitter(code),
        received=received,
        waiting=waiting,
        expected=status.submission_status(settings, code),
        published_at=status.published_at(settings),
    )


@pages.get("/submissions/<sha256>")
@login_required
def submission_detail(sha256: str):
    settings = _settings()
    found = status.submission(settings, sha256)
    if found is None or found.empty:
        abort(404)
    entry = found.iloc[0]
    own = _user().account.submitter_code
    sent_by_us = _accounts().already_sent(own, entry["source"], sha256) is not None
    if entry["submitter_code"] != own and not sent_by_us and not _user().is_admin:
        abort(404)
    return render_template(
        "submission.html", entry=entry, rows=status.quarantined_rows(settings, sha256)
    )


# -- for the council --------------------------------------------------------------------------
@pages.get("/admin")
@admin_required
def council():
    settings = _settings()
    overview = status.submission_status(settings, None)
    years = sorted(overview["fiscal_year"].unique(), reverse=True) if overview is not None else []
    year = request.args.get("year", type=int) or (years[0] if years else None)
    shown = overview[overview["fiscal_year"] == year] if overview is not None else None
    received = status.submissions(settings, None)
    held = received[received["status"] == "held"] if received is not None else None
    return render_template(
        "council.html",
        years=years,
        year=year,
        shown=shown,
        held=held,
        submitters={s.code: s.name for s in all_submitters()},
        report_ready=report_path(settings).exists(),
        published_at=status.published_at(settings),
    )


@pages.post("/admin/release")
@admin_required
def release():
    sha256 = request.form.get("sha256", "")
    reason = request.form.get("reason", "")
    try:
        done = release_submission(_settings(), sha256, _user().account.username, reason)
    except ReleaseError as error:
        flash(str(error), "error")
    else:
        flash(
            f"「{done.file_name}」の確認待ちを解除しました。次回の実行で集計に入ります。 / "
            f"Released '{done.file_name}': the next run puts its figures in the marts.",
            "info",
        )
    return redirect(url_for("pages.council"))


@pages.get("/admin/overview")
@admin_required
def overview_report():
    path = report_path(_settings())
    if not path.exists():
        abort(404)
    return send_file(path, mimetype="text/html")
