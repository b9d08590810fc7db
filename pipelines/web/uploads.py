"""Uploads awaiting their sender's confirmation, and what became of them.

An upload moves through these states, each move one transaction of the page's database, so
two requests (a double click, two tabs) can never both make the same move:

    checking ──▶ checked ──(confirm claims it)──▶ placing ──▶ sent
        │            │  ◀──(placing failed: confirmable again)──┘
        └────────────┴──▶ discarded / expired / duplicate

``checking``: its file waits in ``web/pending/`` for a check worker; ``checked``: the verdict
is kept with it (shown on every reload, used on confirmation: never computed twice);
``placing``: one confirmation is putting it in ``landing/``; ``sent``: it is there.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from pipelines.web.accounts import Account
from pipelines.web.database import Database, iso, now

OPEN_STATES = ("checking", "checked", "placing")  # still in web/pending/
MAX_CHECKING_PER_ACCOUNT = 2  # checks queued or running for one account at a time
MAX_OPEN_PER_ACCOUNT = 10  # uploads awaiting confirmation, per account ...
MAX_OPEN_BYTES_PER_ACCOUNT = 100 * 2**20  # ... and their bytes
MAX_CHECKING = 24  # checks queued or running for everybody
PLACING_TIMEOUT = dt.timedelta(minutes=2)  # a claim older than this was left by a dead process


@dataclass(frozen=True)
class Upload:
    upload_id: str
    username: str
    submitter_code: str
    source: str
    file_name: str  # as the sender's computer named it
    stored_name: str  # its name in web/pending/<upload_id>/
    sha256: str
    size_bytes: int
    uploaded_at: str
    state: str
    check_stage: str | None
    checks: int  # how many times it was checked (once)
    verdict: dict[str, Any] | None
    sendable: bool
    checked_at: str | None
    claimed_at: str | None
    sent_at: str | None
    landing_path: str | None

    @classmethod
    def of(cls, row) -> Upload:
        data = dict(row)
        data["verdict"] = json.loads(data["verdict"]) if data["verdict"] else None
        data["sendable"] = bool(data["sendable"])
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


class UploadRefused(ValueError):
    """The account may not upload another file now (the message says why, in both languages)."""


@dataclass(frozen=True)
class Claim:
    """What a confirmation found: ``claimed`` (this request places the file), ``placing``
    (another request is placing it now), ``sent`` (another request did: ``upload`` says
    where), ``duplicate`` (the same bytes were sent before: ``earlier``), or ``not_ready``
    (still being checked, discarded, or not sendable)."""

    outcome: str
    upload: Upload
    earlier: Upload | None = None


class UploadStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _get(self, db, upload_id: str) -> Upload | None:
        row = db.execute("select * from uploads where upload_id = ?", (upload_id,)).fetchone()
        return Upload.of(row) if row else None

    def get(self, upload_id: str) -> Upload | None:
        with self.db.read() as db:
            return self._get(db, upload_id)

    def add(
        self,
        account: Account,
        source: str,
        file_name: str,
        stored_name: str,
        sha256: str,
        size: int,
    ) -> Upload:
        """A new upload, to be checked; refused past the account's and the page's bounds."""
        upload_id = secrets.token_urlsafe(18)
        with self.db.write() as db:
            open_count, open_bytes, checking = db.execute(
                "select count(*), coalesce(sum(size_bytes), 0), "
                "coalesce(sum(state = 'checking'), 0) "
                "from uploads where username = ? and state in ('checking', 'checked', 'placing')",
                (account.username,),
            ).fetchone()
            everybody = db.execute(
                "select count(*) from uploads where state = 'checking'"
            ).fetchone()[0]
            _within_bounds(open_count, open_bytes + size, checking, everybody)
            db.execute(
                "insert into uploads (upload_id, username, submitter_code, source, file_name, "
                "stored_name, sha256, size_bytes, uploaded_at, state, check_stage) "
                "values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'checking', 'queued')",
                (
                    upload_id,
                    account.username,
                    account.submitter_code,
                    source,
                    file_name,
                    stored_name,
                    sha256,
                    size,
                    iso(now()),
                ),
            )
            return self._get(db, upload_id)  # type: ignore[return-value]

    # -- checking -------------------------------------------------------------------------------
    def set_stage(self, upload_id: str, stage: str) -> None:
        with self.db.write() as db:
            db.execute(
                "update uploads set check_stage = ? where upload_id = ? and state = 'checking'",
                (stage, upload_id),
            )

    def save_verdict(self, upload_id: str, verdict: dict[str, Any], sendable: bool) -> bool:
        """Keep the verdict with the upload (once: a second check of it changes nothing)."""
        with self.db.write() as db:
            return (
                db.execute(
                    "update uploads set state = 'checked', verdict = ?, sendable = ?, "
                    "checked_at = ?, check_stage = null, checks = checks + 1 "
                    "where upload_id = ? and state = 'checking'",
                    (json.dumps(verdict, ensure_ascii=False), int(sendable), iso(now()), upload_id),
                ).rowcount
                == 1
            )

    def open_for(self, username: str) -> list[Upload]:
        """The account's uploads being checked or awaiting its confirmation, newest first."""
        with self.db.read() as db:
            rows = db.execute(
                "select * from uploads where username = ? and state in ('checking', 'checked') "
                "order by uploaded_at desc",
                (username,),
            ).fetchall()
        return [Upload.of(r) for r in rows]

    def checking(self) -> list[Upload]:
        with self.db.read() as db:
            rows = db.execute(
                "select * from uploads where state = 'checking' order by uploaded_at"
            ).fetchall()
        return [Upload.of(r) for r in rows]

    # -- sending ----------------------------------------------------------------------------
    def claim(self, upload_id: str) -> Claim:
        """Take the one right to place a checked, sendable upload in landing/."""
        with self.db.write() as db:
            upload = self._get(db, upload_id)
            assert upload is not None
            if upload.state == "placing" and _claim_expired(upload):
                upload = _with(db, self, upload_id, "update uploads set state = 'checked'")
            if upload.state in ("sent", "placing"):
                return Claim(upload.state, upload)
            if upload.state != "checked" or not upload.sendable:
                return Claim("not_ready", upload)
            earlier = db.execute(
                "select * from uploads where submitter_code = ? and source = ? and sha256 = ? "
                "and state in ('sent', 'placing') and upload_id <> ? order by sent_at limit 1",
                (upload.submitter_code, upload.source, upload.sha256, upload_id),
            ).fetchone()
            if earlier is not None:
                upload = _with(db, self, upload_id, "update uploads set state = 'duplicate'")
                return Claim("duplicate", upload, Upload.of(earlier))
            upload = _with(
                db,
                self,
                upload_id,
                "update uploads set state = 'placing', claimed_at = ?",
                (iso(now()),),
            )
            return Claim("claimed", upload)

    def sent(self, upload_id: str, landing_path: str) -> Upload:
        with self.db.write() as db:
            return _with(
                db,
                self,
                upload_id,
                "update uploads set state = 'sent', sent_at = ?, landing_path = ?",
                (iso(now()), landing_path),
            )

    def unclaim(self, upload_id: str) -> None:
        """Placing failed half-way: the upload is checked, and confirmable, again."""
        with self.db.write() as db:
            db.execute(
                "update uploads set state = 'checked', claimed_at = null "
                "where upload_id = ? and state = 'placing'",
                (upload_id,),
            )

    def settled(self, upload_id: str) -> Upload:
        """The upload once no confirmation is placing it (a concurrent one is waited for:
        its outcome is the truth to tell)."""
        deadline = now() + PLACING_TIMEOUT
        while True:
            upload = self.get(upload_id)
            assert upload is not None
            if upload.state != "placing" or now() > deadline:
                return upload
            time.sleep(0.05)

    def close(self, upload_id: str, state: str) -> bool:
        """Discarded by its sender, or expired: from an open state only."""
        with self.db.write() as db:
            return (
                db.execute(
                    "update uploads set state = ? where upload_id = ? "
                    "and state in ('checking', 'checked')",
                    (state, upload_id),
                ).rowcount
                == 1
            )

    def expired(self, older_than: dt.timedelta) -> list[str]:
        """Uploads checked (or being checked) but neither sent nor discarded for too long."""
        with self.db.read() as db:
            rows = db.execute(
                "select upload_id from uploads where state in ('checking', 'checked') "
                "and uploaded_at < ?",
                (iso(now() - older_than),),
            ).fetchall()
        return [r[0] for r in rows]

    # -- what was sent ----------------------------------------------------------------------
    def sent_uploads(self, submitter_code: str | None = None) -> list[Upload]:
        query = "select * from uploads where state = 'sent'"
        values: tuple = ()
        if submitter_code is not None:
            query += " and submitter_code = ?"
            values = (submitter_code,)
        with self.db.read() as db:
            rows = db.execute(query + " order by sent_at desc", values).fetchall()
        return [Upload.of(r) for r in rows]

    def sent_by(self, submitter_code: str, source: str, sha256: str) -> Upload | None:
        """The first upload of these bytes the submitter sent for this survey."""
        with self.db.read() as db:
            row = db.execute(
                "select * from uploads where submitter_code = ? and source = ? and sha256 = ? "
                "and state = 'sent' order by sent_at limit 1",
                (submitter_code, source, sha256),
            ).fetchone()
        return Upload.of(row) if row else None


def _with(db, store: UploadStore, upload_id: str, update: str, values: tuple = ()) -> Upload:
    db.execute(f"{update} where upload_id = ?", (*values, upload_id))
    return store._get(db, upload_id)  # type: ignore[return-value]


def _claim_expired(upload: Upload) -> bool:
    return upload.claimed_at is None or (
        now() - dt.datetime.fromisoformat(upload.claimed_at) > PLACING_TIMEOUT
    )


def _within_bounds(open_count: int, open_bytes: int, checking: int, everybody: int) -> None:
    if checking >= MAX_CHECKING_PER_ACCOUNT:
        raise UploadRefused(
            f"確認中のファイルが{checking}件あります。確認が終わってから次のファイルを送ってください。"
            f" / {checking} of your files are still being checked: send the next one when they "
            "are done."
        )
    if open_count >= MAX_OPEN_PER_ACCOUNT or open_bytes > MAX_OPEN_BYTES_PER_ACCOUNT:
        raise UploadRefused(
            f"送信待ちのファイルが多すぎます（{MAX_OPEN_PER_ACCOUNT}件・"
            f"{MAX_OPEN_BYTES_PER_ACCOUNT // 2**20}MBまで）。確認済みのファイルを送信するか、"
            "取り消してから送ってください。 / Too many files wait for your confirmation (at most "
            f"{MAX_OPEN_PER_ACCOUNT} files, {MAX_OPEN_BYTES_PER_ACCOUNT // 2**20} MB): send or "
            "discard those first."
        )
    if everybody >= MAX_CHECKING:
        raise UploadRefused(
            "いま確認を待っているファイルが多いため、受け付けられません。数分後にもう一度送って"
            "ください。 / Many files are waiting to be checked: send yours again in a few minutes."
        )
