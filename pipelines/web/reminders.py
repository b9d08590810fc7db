"""Reminders by e-mail to submitters whose expected submission has not come
(docs/submissions.md, "The survey calendar").

For each expected submission that is not received (``marts.submission_status``: its due date,
what is missing), the calendar's steps are 14 and 3 days before the due date, the due date,
and every 7 days after it while it stays missing. On a given day the step due is the latest
one on or before today; it is sent once per submitter, survey and period however often
``welfare remind`` runs (a record per mail sent: ``archive/records/reminders/``, shown as
``audit.reminders``); a step passed while no reminder ran is never sent late; a submitter
whose file has come (even after the last publish: the ledger says so) gets no more.

Addresses are the submitter's active accounts' (``welfare users email``); the server and the
page's address are ``notifications.yml``'s (``email: {smtp_host, smtp_port, from}``,
``base_url``). "Today" is :func:`pipelines.foundation.settings.today`.
"""

from __future__ import annotations

import datetime as dt
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.foundation.clock import utc_now
from pipelines.foundation.notifications import notification_config
from pipelines.foundation.settings import Settings, WebSettings, today
from pipelines.ingest.archive import keep_record
from pipelines.ingest.contract import load_contract, reference_rows
from pipelines.ingest.lake import Lake, read_records
from pipelines.ingest.lake_tables import REMINDER_SCHEMA, REMINDERS
from pipelines.ingest.messages import SUBMISSION_STAGE
from pipelines.warehouse.engine import open_published
from pipelines.web.accounts import AccountStore

DAYS_BEFORE = (14, 3)
OVERDUE_EVERY = 7
NOT_RECEIVED = ("missing", "rejected", "returned")
STEP_LABELS = {"before": "締切{n}日前", "due": "締切日", "overdue": "締切から{n}日経過"}


@dataclass(frozen=True)
class Reminder:
    source: str
    stage: str | None  # plan / results (a source expected twice a period), else None
    submitter_code: str
    submitter_name: str
    fiscal_year: int
    period_start: dt.date
    period_end: dt.date
    due_on: dt.date
    step: str  # before-14, before-3, due, overdue-7, overdue-14, ...
    status: str
    to: tuple[str, ...]

    @property
    def key(self) -> str:
        return _key(self.source, self.submitter_code, self.period_start, self.due_on, self.step)


def _key(source: str, submitter: str, start: dt.date, due_on: dt.date, step: str) -> str:
    """A reminder's identity: its submission's stage is told apart by its due date."""
    return f"{source}|{submitter}|{start}|{due_on}|{step}"


def step_on(due_on: dt.date, day: dt.date) -> str | None:
    """The calendar's latest step on or before ``day`` for a submission due on ``due_on``."""
    if day > due_on:
        weeks = (day - due_on).days // OVERDUE_EVERY
        return f"overdue-{weeks * OVERDUE_EVERY}" if weeks else "due"
    if day == due_on:
        return "due"
    passed = [n for n in DAYS_BEFORE if day >= due_on - dt.timedelta(days=n)]
    return f"before-{min(passed)}" if passed else None


def _step_label(step: str) -> str:
    kind, _, n = step.partition("-")
    return STEP_LABELS[kind].format(n=n)


def sent_reminders(settings: Settings) -> pd.DataFrame:
    return read_records(Lake(settings.lake), REMINDERS)


def _after_period_stages() -> set[tuple[str, str]]:
    """The stages only a file sent after its period ended answers (the calendar's
    ``after_period_only``: the results of an action plan)."""
    return {
        (row["source"], row["stage"])
        for row in reference_rows("submission_calendar")
        if row["stage"] and row["after_period_only"].strip().lower() == "true"
    }


def _any_filled(lake: Lake, source: str, sha256: str, columns: tuple[str, ...]) -> bool:
    """Whether a file's rows in the lake fill in any of ``columns``."""
    try:
        rows = pq.read_table(lake.table_dir(source) / f"{sha256}.parquet", columns=list(columns))
    except (OSError, KeyError, pa.ArrowInvalid):  # damaged or missing: the next run repairs it
        return False
    return any(rows[c].null_count < rows.num_rows for c in columns)


def _received_since(
    lake: Lake, ledger: pd.DataFrame, source: str, stage: str | None, submitter: str, start, end
) -> bool:
    """A file for this submission was taken in (perhaps after the last publish)."""
    ledger = ledger[
        (ledger["source"] == source)
        & (ledger["submitter_code"] == submitter)
        & ledger["status"].isin(["loaded", "held"])
    ]
    if source == "consultations":
        starts = pd.to_datetime(ledger["period_start"]).dt.date
        ends = pd.to_datetime(ledger["period_end"]).dt.date
        ledger = ledger[(starts <= end) & (ends >= start)]
    else:
        ledger = ledger[ledger["fiscal_year"] == start.year - (start.month < 4)]
    if stage and (source, stage) in _after_period_stages():
        sent = ledger["sent_at"].fillna(ledger["file_modified_at"])
        sent = sent.where(sent < ledger["received_at"], ledger["received_at"])
        sent_on = (pd.to_datetime(sent, utc=True) + pd.Timedelta(hours=9)).dt.date
        ledger = ledger[sent_on > end]
    filled = load_contract(source).stage_filled.get(stage or "", ())
    if filled:  # only a file whose rows answer the stage (an action plan with results)
        return any(_any_filled(lake, source, sha, filled) for sha in ledger["sha256"])
    return not ledger.empty


def due_reminders(
    settings: Settings, day: dt.date | None = None
) -> tuple[list[Reminder], list[str]]:
    """The reminders to send today, and the submitters who should get one but have no
    address."""
    day = day or today()
    lake = Lake(settings.lake)
    ledger = lake.ledger()  # read once: every expected submission asks it
    with open_published(settings, ["marts.submission_status"]) as connection:
        expected = connection.execute(
            "select source, stage, submitter_code, submitter_name, fiscal_year, period_start, "
            "period_end, due_on, status from marts.submission_status "
            "where due_on is not null and status in ? order by due_on, source, submitter_code",
            [list(NOT_RECEIVED)],
        ).fetchall()
    done = sent_reminders(settings)
    done_keys = {
        _key(r.source, r.submitter_code, r.period_start, r.due_on, r.step)
        for r in done.itertuples()
    }
    addresses = _addresses(settings)
    reminders, unreachable = [], []
    for source, stage, code, name, year, start, end, due_on, status in expected:
        step = step_on(due_on, day)
        if step is None or _received_since(lake, ledger, source, stage, code, start, end):
            continue
        reminder = Reminder(
            source, stage, code, name, year, start, end, due_on, step, status,
            tuple(addresses.get(code, ())),
        )  # fmt: skip
        if reminder.key in done_keys:
            continue
        if reminder.to:
            reminders.append(reminder)
        else:
            unreachable.append(f"{name} ({code})")
    return reminders, sorted(set(unreachable))


def _addresses(settings: Settings) -> dict[str, list[str]]:
    store = AccountStore(WebSettings.from_env(settings).accounts_db)
    found: dict[str, list[str]] = {}
    for account in store.all():
        if account.active and account.email and not account.is_admin:
            found.setdefault(account.submitter_code, []).append(account.email)
    return found


def _period_ja(reminder: Reminder) -> str:
    if reminder.source == "consultations":
        return f"{reminder.period_start.year}年{reminder.period_start.month}月分"
    stage = f"・{SUBMISSION_STAGE[reminder.stage][0]}" if reminder.stage else ""
    return f"{reminder.fiscal_year}年度（令和{reminder.fiscal_year - 2018}年度）{stage}"


def _period_en(reminder: Reminder) -> str:
    if reminder.source == "consultations":
        return f"{reminder.period_start:%B %Y}"
    stage = f" ({SUBMISSION_STAGE[reminder.stage][1]})" if reminder.stage else ""
    return f"fiscal year {reminder.fiscal_year}{stage}"


def message(reminder: Reminder, sender: str, base_url: str) -> EmailMessage:
    """The e-mail: Japanese, then English beneath."""
    contract = load_contract(reminder.source)
    missing_ja = {
        "missing": "まだ届いていません",
        "rejected": "届いたファイルは受け付けられませんでした（理由は提出ページにあります）",
        "returned": "市社協から差し戻しています（コメントは提出ページにあります）",
    }[reminder.status]
    missing_en = {
        "missing": "has not arrived yet",
        "rejected": "was not accepted (the reason is on the submission page)",
        "returned": "was returned by the council (its comment is on the submission page)",
    }[reminder.status]
    overdue = reminder.step.startswith("overdue") or reminder.step == "due"
    subject = (
        f"【{'提出期限' if overdue else 'ご提出のお願い'}】"
        f"{contract.label_ja} {_period_ja(reminder)}（締切 {reminder.due_on:%Y-%m-%d}） / "
        f"Reminder: {contract.label_en}, "
        f"{_period_en(reminder)}, due {reminder.due_on:%Y-%m-%d}"
    )
    body = f"""{reminder.submitter_name} ご担当者様

{contract.label_ja}（{_period_ja(reminder)}）のファイルが{missing_ja}。
提出の締切は {reminder.due_on:%Y年%m月%d日} です（{_step_label(reminder.step)}のお知らせ）。
提出ページからお送りください: {base_url}

大阪市社会福祉協議会（welfare-warehouse からの自動送信です）

----
To {reminder.submitter_name}:

The file of the {contract.label_en} for {_period_en(reminder)} {missing_en}.
It is due on {reminder.due_on:%Y-%m-%d} (step: {reminder.step}).
Please send it on the submission page: {base_url}

Osaka City Council of Social Welfare (sent automatically by welfare-warehouse)
"""
    mail = EmailMessage()
    mail["Subject"] = subject
    mail["From"] = sender
    mail["To"] = ", ".join(reminder.to)
    mail.set_content(body)
    return mail


@dataclass(frozen=True)
class RemindResult:
    sent: list[Reminder]
    failed: list[tuple[Reminder, str]]
    unreachable: list[str]


def send_reminders(
    settings: Settings, dry_run: bool = False, day: dt.date | None = None
) -> RemindResult:
    """Send (or with ``dry_run`` only list) the reminders due today; each sent is recorded."""
    reminders, unreachable = due_reminders(settings, day)
    if dry_run or not reminders:
        return RemindResult(reminders, [], unreachable)
    config = notification_config(settings)
    email = config.get("email") or {}
    if not email.get("smtp_host") or not email.get("from"):
        raise ValueError(
            "notifications.yml に email: {smtp_host, from} がありません。 / Reminders need "
            "email: {smtp_host, smtp_port, from} in $WELFARE_HOME/notifications.yml."
        )
    base_url = config.get("base_url", "http://127.0.0.1:8000")
    sender = formataddr(("大阪市社会福祉協議会", email["from"]))
    sent, failed = [], []
    with smtplib.SMTP(email["smtp_host"], int(email.get("smtp_port", 25)), timeout=30) as smtp:
        for reminder in reminders:
            try:
                smtp.send_message(message(reminder, sender, base_url))
            except smtplib.SMTPException as error:
                failed.append((reminder, str(error)))
                continue
            _record(settings, reminder)
            sent.append(reminder)
    return RemindResult(sent, failed, unreachable)


def _record(settings: Settings, reminder: Reminder) -> None:
    at = utc_now()
    row = {
        "reminder_id": f"{reminder.key}|{at:%Y%m%dT%H%M%S%fZ}",
        "source": reminder.source,
        "submitter_code": reminder.submitter_code,
        "fiscal_year": reminder.fiscal_year,
        "period_start": reminder.period_start,
        "period_end": reminder.period_end,
        "due_on": reminder.due_on,
        "step": reminder.step,
        "sent_at": at,
        "sent_to": ", ".join(reminder.to),
    }
    name = row["reminder_id"].replace("|", "__").replace(":", "")
    keep_record(
        settings.archive,
        settings.lake,
        REMINDERS,
        name,
        pa.table({k: [v] for k, v in row.items()}, schema=REMINDER_SCHEMA),
    )


def tell_returned(settings: Settings, review) -> list[str]:
    """E-mail the sender of a returned file the council's comment (to its submitter's
    accounts' addresses, where notifications.yml configures e-mail); the addresses sent to."""
    email = notification_config(settings).get("email") or {}
    to = tuple(_addresses(settings).get(review.submitter_code or "", ()))
    if not to or not email.get("smtp_host") or not email.get("from"):
        return []
    contract = load_contract(review.source)
    base_url = notification_config(settings).get("base_url", "http://127.0.0.1:8000")
    mail = EmailMessage()
    mail["Subject"] = (
        f"【差し戻し】{contract.label_ja} {review.file_name} / Returned: {review.file_name}"
    )
    mail["From"] = formataddr(("大阪市社会福祉協議会", email["from"]))
    mail["To"] = ", ".join(to)
    mail.set_content(
        f"""送っていただいたファイル「{review.file_name}」（{contract.label_ja}）を差し戻しました。
市社協のコメント: {review.comment}
直したファイルを提出ページからお送りください: {base_url}
（{review.reviewed_by}、大阪市社会福祉協議会。welfare-warehouse からの自動送信です）

----
The council returned your file '{review.file_name}' ({contract.label_en}).
Its comment: {review.comment}
Please send a corrected file on the submission page: {base_url}
"""
    )
    with smtplib.SMTP(email["smtp_host"], int(email.get("smtp_port", 25)), timeout=30) as smtp:
        smtp.send_message(mail)
    return list(to)


def describe(result: RemindResult, dry_run: bool) -> Iterable[str]:
    verb = "would send" if dry_run else "sent"
    for r in result.sent:
        yield (
            f"  {verb}: {r.submitter_name} — {r.source} {r.period_start}..{r.period_end} "
            f"due {r.due_on} ({r.step}) to {', '.join(r.to)}"
        )
    for r, error in result.failed:
        yield f"  FAILED: {r.submitter_name} {r.source} ({r.step}): {error}"
    if result.unreachable:
        yield "  no e-mail address (welfare users email NAME ADDRESS): " + ", ".join(
            result.unreachable
        )
