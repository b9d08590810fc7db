"""The pages: log in, send a file, see one's submissions; for council staff, every submitter.

Thin: checking uploads is :mod:`pipelines.web.checking` (worker processes), placing them
:mod:`pipelines.web.sending`, their states :mod:`pipelines.web.uploads`, failed logins
:mod:`pipelines.web.logins`, what the warehouse says :mod:`pipelines.web.status`. A submitter
reaches only its own uploads and submissions; another's answer "not found", as if they did
not exist.
"""

from __future__ import annotations

import datetime as dt
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

from pipelines.foundation.disk import STAFF_DISK_FULL, is_disk_error
from pipelines.foundation.hashing import sha256_of, sha256_of_bytes
from pipelines.ingest.closing import ClosingError, closed_years, reopen_year
from pipelines.ingest.contract import all_contracts
from pipelines.ingest.diff import diff_with_replaced
from pipelines.ingest.lake import Lake
from pipelines.ingest.lookup import NotFound
from pipelines.ingest.release import ReleaseError, release_submission
from pipelines.ingest.review import (
    DECISIONS,
    RETURNED,
    ReviewError,
    latest_review,
    review_submission,
)
from pipelines.intake.space import disk_full_message
from pipelines.reporting.overview import report_path
from pipelines.warehouse.publication import NotPublished
from pipelines.warehouse.vintages import VintageError, close_year
from pipelines.web import sending, status
from pipelines.web.accounts import MAX_USERNAME
from pipelines.web.checking import pending_file
from pipelines.web.logins import DEVICE_COOKIE, DEVICE_DAYS
from pipelines.web.passwords import MAX_LENGTH
from pipelines.web.reminders import tell_returned
from pipelines.web.session_user import SessionUser
from pipelines.web.submitters import all_submitters, sources_for, submitter
from pipelines.web.uploads import Upload, UploadRefused

pages = Blueprint("pages", __name__)


def _disk_full(error: OSError) -> str:
    """Staff get a plain sentence; the operator's one line goes to the server's log."""
    current_app.logger.error(disk_full_message(_site().settings, detail=str(error)))
    return STAFF_DISK_FULL


def _site():
    return current_app.extensions["welfare"]


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
        "timeliness_labels": status.TIMELINESS_LABELS,
        "stage_labels": status.STAGE_LABELS,
        "review_labels": {
            **{d: f"{ja} / {en}" for d, (ja, en) in DECISIONS.items()},
            "not_reviewed": "未確認 / not reviewed",
        },
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
    site = _site()
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if len(username) > MAX_USERNAME or len(password) > MAX_LENGTH:
        flash("ユーザー名またはパスワードが違います。 / Wrong user name or password.", "error")
        return render_template("login.html"), 401
    address = request.remote_addr or "unknown"
    device = site.logins.trusted_device(request.cookies.get(DEVICE_COOKIE), username)
    if refused := site.logins.refusal(username, address, device):
        flash(refused.message, "error")
        response = current_app.make_response(
            (render_template("login.html", username=username), refused.status)
        )
        response.headers["Retry-After"] = str(refused.retry_after)
        return response
    account = site.accounts.verify(username, password)
    if account is None:
        site.logins.failed(username, address, device)
        flash(
            "ユーザー名またはパスワードが違います。 / Wrong user name or password.",
            "error",
        )
        return render_template("login.html", username=username), 401
    site.logins.succeeded(username, device)
    session.clear()
    login_user(SessionUser(account))
    session.permanent = True  # expires after the idle lifetime (WELFARE_WEB_SESSION_MINUTES)
    target = request.args.get("next", "")
    if not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        target = url_for("pages.my_submissions")
    response = redirect(target)
    if device is None:  # this browser is trusted for this account from now on
        response.set_cookie(
            DEVICE_COOKIE,
            site.logins.trusted_cookie(username),
            max_age=DEVICE_DAYS * 86400,
            httponly=True,
            samesite="Lax",
            secure=site.web.secure_cookies,
        )
    return response


@pages.post("/logout")
@login_required
def logout():
    _site().accounts.end_sessions(_user().account.username)
    logout_user()
    session.clear()
    flash("ログアウトしました。 / You are logged out.", "info")
    return redirect(url_for("pages.login"))


# -- sending a file ---------------------------------------------------------------------------
def _send_form(sources, chosen, status_code: int = 200):
    page = render_template(
        "send.html",
        sources=sources,
        chosen=chosen,
        limit_mb=sending.MAX_UPLOAD_BYTES // 2**20,
        limit_bytes=sending.MAX_UPLOAD_BYTES,
        open_uploads=_site().uploads.open_for(_user().account.username),
    )
    return page, status_code


@pages.get("/send")
@login_required
def send_form():
    return _send_form(sources_for(_user().account.submitter_code), request.args.get("source"))


@pages.post("/send")
@login_required
def send_upload():
    site = _site()
    account = _user().account
    allowed = {c.key: c for c in sources_for(account.submitter_code)}
    source = request.form.get("source", "")
    if source not in allowed:
        flash(
            "送る調査を選んでください（このアカウントが送れるものだけ）。 / Choose one of the "
            "surveys this account sends.",
            "error",
        )
        return _send_form(list(allowed.values()), None, 400)
    upload_file = request.files.get("file")
    limit_mb = sending.MAX_UPLOAD_BYTES // 2**20
    try:
        name = sending.check_file_name(upload_file.filename if upload_file else "")
        data = upload_file.read(sending.MAX_UPLOAD_BYTES + 1) if upload_file else b""
        if len(data) > sending.MAX_UPLOAD_BYTES:
            raise sending.SendError(
                f"ファイルが大きすぎます（{limit_mb} MBまで）。 / The file is too large "
                f"(at most {limit_mb} MB)."
            )
        if not data:
            raise sending.SendError("ファイルが空です。 / The file is empty.")
    except sending.SendError as error:
        flash(str(error), "error")
        return _send_form(list(allowed.values()), source, 400)
    sending.forget_stale_uploads(site.settings, site.uploads)
    stored = sending.stored_name(name)
    try:
        upload = site.uploads.add(account, source, name, stored, sha256_of_bytes(data), len(data))
    except UploadRefused as error:
        flash(str(error), "error")
        return _send_form(list(allowed.values()), source, 429)
    try:
        sending.keep_upload(site.settings, upload.upload_id, stored, data)
    except OSError as error:
        site.uploads.close(upload.upload_id, "discarded")
        sending.discard_upload(site.settings, upload.upload_id)
        if not is_disk_error(error):
            raise
        flash(_disk_full(error), "error")
        return _send_form(list(allowed.values()), source, 507)
    site.checks.submit(site.settings, site.db, upload)
    return redirect(url_for("pages.verdict", upload_id=upload.upload_id))


def _own_upload(upload_id: str) -> Upload:
    upload = _site().uploads.get(upload_id)
    if upload is None or upload.username != _user().account.username:
        abort(404)
    return upload


def _sent_message(upload: Upload, again: bool) -> str:
    sent = _local_time(upload.sent_at)
    if again:
        return (
            f"「{upload.file_name}」は {sent} に送信済みです（二重送信は無視しました）。 / "
            f"'{upload.file_name}' was already sent at {sent}; the second submit changed nothing."
        )
    return (
        f"「{upload.file_name}」を {sent} に送信しました。次回の実行で集計に入ります。 / "
        f"'{upload.file_name}' was sent at {sent}; the next run takes it in."
    )


def _local_time(iso: str | None) -> str:
    """An ISO time as Japan's clock shows it (the page's users are in Osaka)."""
    if not iso:
        return ""
    moment = dt.datetime.fromisoformat(iso).astimezone(dt.timezone(dt.timedelta(hours=9)))
    return f"{moment:%Y-%m-%d %H:%M}"


@pages.get("/send/<upload_id>")
@login_required
def verdict(upload_id: str):
    site = _site()
    upload = _own_upload(upload_id)
    if upload.state == "sent":
        flash(_sent_message(upload, again=False), "info")
        return redirect(url_for("pages.my_submissions"))
    if upload.state not in ("checking", "checked", "placing"):
        abort(404)  # discarded, expired, or a duplicate of a file sent before
    if upload.state == "checking":
        site.checks.submit(site.settings, site.db, upload)  # e.g. after a restart
        waited = (
            dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(upload.uploaded_at)
        ).total_seconds()
        ahead = sum(1 for u in site.uploads.checking() if u.uploaded_at < upload.uploaded_at)
        return render_template("checking.html", upload=upload, waited=int(waited), ahead=ahead)
    return render_template("verdict.html", verdict=upload.verdict, upload=upload)


@pages.post("/send/<upload_id>/confirm")
@login_required
def confirm(upload_id: str):
    site = _site()
    upload = _own_upload(upload_id)
    while True:
        claim = site.uploads.claim(upload_id)
        if claim.outcome != "placing":
            break
        if site.uploads.settled(upload_id).state == "placing":
            break  # another request holds it: it answers for itself
    upload = claim.upload
    if claim.outcome in ("sent", "placing"):
        flash(_sent_message(upload, again=True), "info")
        return redirect(url_for("pages.my_submissions"))
    if claim.outcome == "duplicate":
        sending.discard_upload(site.settings, upload_id)
        earlier = claim.earlier
        flash(
            f"同じ内容のファイル（{earlier.file_name}）は"
            f" {_local_time(earlier.sent_at)} に送信済みです。 / "
            f"A file with exactly these contents ({earlier.file_name}) was sent already.",
            "info",
        )
        return redirect(url_for("pages.my_submissions"))
    if claim.outcome == "not_ready":
        if upload.state == "checking":
            return redirect(url_for("pages.verdict", upload_id=upload_id))
        if upload.state != "checked":
            abort(404)
        return render_template("verdict.html", verdict=upload.verdict, upload=upload), 409
    # Claimed: this request alone places the file. What was checked is what is sent.
    try:
        if sha256_of(pending_file(site.settings, upload)) != upload.verdict["sha256"]:
            raise RuntimeError(f"upload {upload_id} changed after it was checked")
        placed = sending.place_in_landing(site.settings, upload, _user().account.username)
    except BaseException as error:
        site.uploads.unclaim(upload_id)  # still pending, confirmable again
        if isinstance(error, OSError) and is_disk_error(error):
            flash(_disk_full(error), "error")
            return render_template("verdict.html", verdict=upload.verdict, upload=upload), 507
        raise
    upload = site.uploads.sent(upload_id, placed.relative_to(site.settings.landing).as_posix())
    sending.discard_upload(site.settings, upload_id)
    if site.web.start_runs:
        sending.start_run(site.settings)
    flash(_sent_message(upload, again=False), "info")
    return redirect(url_for("pages.my_submissions"))


@pages.post("/send/<upload_id>/discard")
@login_required
def discard(upload_id: str):
    site = _site()
    upload = _own_upload(upload_id)
    if site.uploads.close(upload_id, "discarded"):
        sending.discard_upload(site.settings, upload_id)
        flash(f"「{upload.file_name}」の送信を取り消しました。 / Not sent.", "info")
    elif upload.state in ("sent", "placing"):
        flash(
            f"「{upload.file_name}」は送信済みのため、取り消せません。 / '{upload.file_name}' "
            "was sent already and cannot be taken back.",
            "info",
        )
        return redirect(url_for("pages.my_submissions"))
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
    settings = _site().settings
    code = _visible_submitter()
    sent = _site().uploads.sent_uploads(code)
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
    settings = _site().settings
    found = status.submission(settings, sha256)
    if found is None or found.empty:
        abort(404)
    entry = found.iloc[0]
    own = _user().account.submitter_code
    sent_by_us = _site().uploads.sent_by(own, entry["source"], sha256) is not None
    if entry["submitter_code"] != own and not sent_by_us and not _user().is_admin:
        abort(404)
    lake = Lake(settings.lake)
    return render_template(
        "submission.html",
        entry=entry,
        rows=status.quarantined_rows(settings, sha256),
        review=latest_review(lake, sha256),  # from the records: shown before the next run
        diff=_diff(settings, sha256),
        is_admin=_user().is_admin,
    )


def _diff(settings, sha256: str):
    """What the file changes against the one it replaces (None: nothing to compare)."""
    try:
        return diff_with_replaced(settings, sha256)
    except (NotFound, OSError, ValueError):  # the earlier file's rows are not in the lake
        return None


# -- for the council --------------------------------------------------------------------------
@pages.get("/admin")
@admin_required
def council():
    settings = _site().settings
    overview = status.submission_status(settings, None)
    years = sorted(overview["fiscal_year"].unique(), reverse=True) if overview is not None else []
    # The latest year whose surveys of the year (due after it ended) have begun to come; a plan
    # sent in the spring of a year does not make that year the one to look at.
    with_files = (
        sorted(
            overview.loc[
                (overview["status"] != "missing") & (overview["due_on"] > overview["period_end"]),
                "fiscal_year",
            ].unique()
        )
        if overview is not None
        else []
    )
    default = with_files[-1] if with_files else (years[0] if years else None)
    year = request.args.get("year", type=int) or default
    shown = overview[overview["fiscal_year"] == year] if overview is not None else None
    received = status.submissions(settings, None)
    held = received[received["status"] == "held"] if received is not None else None
    late = received[received["status"] == "after_closing"] if received is not None else None
    return render_template(
        "council.html",
        years=years,
        year=year,
        shown=shown,
        held=held,
        late=late,
        closed=closed_years(Lake(settings.lake)),
        history=status.history_warnings(settings),
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
        done = release_submission(_site().settings, sha256, _user().account.username, reason)
    except ReleaseError as error:
        flash(str(error), "error")
    else:
        flash(
            f"「{done.file_name}」の確認待ちを解除しました。次回の実行で集計に入ります。 / "
            f"Released '{done.file_name}': the next run puts its figures in the marts.",
            "info",
        )
    return redirect(url_for("pages.council"))


@pages.post("/admin/review/<sha256>")
@admin_required
def review(sha256: str):
    decision = request.form.get("decision", "")
    comment = request.form.get("comment", "")
    try:
        done = review_submission(
            _site().settings, sha256, decision, _user().account.username, comment
        )
    except (ReviewError, NotFound) as error:
        flash(str(error), "error")
    else:
        ja, en = DECISIONS[done.decision]
        flash(
            f"「{done.file_name}」を{ja}としました。次回の実行で集計に反映します。 / "
            f"'{done.file_name}' {en}: the next run applies it.",
            "info",
        )
        if done.decision == RETURNED:
            try:
                told = tell_returned(_site().settings, done)
            except OSError:
                flash(
                    "送った人へのメールは送れませんでした（提出ページには表示されます）。 / The "
                    "e-mail to the sender could not be sent (their page shows the comment).",
                    "error",
                )
            else:
                if told:
                    flash(f"送った人にメールしました / E-mailed: {', '.join(told)}", "info")
    return redirect(url_for("pages.submission_detail", sha256=sha256))


@pages.post("/admin/close-year")
@admin_required
def close_fiscal_year():
    year = request.form.get("fiscal_year", type=int)
    reason = request.form.get("reason", "")
    by = _user().account.username
    try:
        if request.form.get("action") == "reopen":
            reopen_year(_site().settings, year, by, reason)
            flash(f"{year}年度を再開しました。 / FY{year} reopened.", "info")
        else:
            _, vintage = close_year(_site().settings, year, by, reason)
            flash(
                f"{year}年度を確定しました（保存版 {vintage.name}）。 / FY{year} closed; vintage "
                f"{vintage.name} kept.",
                "info",
            )
    except (ClosingError, VintageError, NotPublished) as error:
        flash(str(error), "error")
    return redirect(url_for("pages.council", year=year))


@pages.get("/admin/overview")
@admin_required
def overview_report():
    path = report_path(_site().settings)
    if not path.exists():
        abort(404)
    return send_file(path, mimetype="text/html")
