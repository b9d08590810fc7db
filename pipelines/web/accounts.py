"""Accounts of the submission page: who may log in, for which submitter, with which role.

An embedded SQLite database (``WELFARE_HOME/web/accounts.sqlite`` by default). Passwords are
kept only as Argon2id hashes (argon2-cffi: salted, slow, memory-hard). Each account carries a
session token: a session is valid only while its token is the account's current one, so
logging out (or a new password, or a disabled account) ends every session of that account.
Failed logins are counted per account and per address; past the limit, logins are refused for
a while whatever the password.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ROLES = ("submitter", "admin")
MAX_FAILURES = 5  # failed logins per account (or per address) ...
FAILURE_WINDOW = dt.timedelta(minutes=15)  # ... within this window lock logins for as long
MIN_PASSWORD_LENGTH = 10

SCHEMA = """
create table if not exists accounts (
    username text primary key,
    display_name text not null,
    submitter_code text not null,
    role text not null check (role in ('submitter', 'admin')),
    password_hash text not null,
    session_token text not null,
    active integer not null default 1,
    created_at text not null
);
create table if not exists login_failures (
    username text not null,
    address text not null,
    failed_at text not null
);
create index if not exists login_failures_at on login_failures (failed_at);
create table if not exists uploads (
    upload_id text primary key,
    username text not null,
    submitter_code text not null,
    source text not null,
    file_name text not null,
    sha256 text not null,
    uploaded_at text not null,
    sent_at text,
    landing_path text
);
"""

_hasher = PasswordHasher()


class AccountError(ValueError):
    """An account cannot be created or changed as asked (the message says why)."""


@dataclass(frozen=True)
class Account:
    username: str
    display_name: str
    submitter_code: str
    role: str
    session_token: str
    active: bool

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class Upload:
    upload_id: str
    username: str
    submitter_code: str
    source: str
    file_name: str
    sha256: str
    uploaded_at: str
    sent_at: str | None
    landing_path: str | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AccountStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            with db:  # one transaction: committed on success, rolled back on error
                yield db
        finally:
            db.close()

    # -- accounts -----------------------------------------------------------------------
    def add(
        self,
        username: str,
        password: str,
        submitter_code: str,
        role: str = "submitter",
        display_name: str | None = None,
    ) -> Account:
        username = username.strip()
        if not username or any(c.isspace() or not c.isprintable() for c in username):
            raise AccountError("username: letters, digits and symbols, no spaces")
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        _check_password(password)
        token = secrets.token_urlsafe(24)
        try:
            with self._connect() as db:
                db.execute(
                    "insert into accounts values (?, ?, ?, ?, ?, ?, 1, ?)",
                    (
                        username,
                        display_name or username,
                        submitter_code,
                        role,
                        _hasher.hash(password),
                        token,
                        _now().isoformat(),
                    ),
                )
        except sqlite3.IntegrityError as error:
            raise AccountError(f"account '{username}' exists already") from error
        account = self.get(username)
        assert account is not None
        return account

    def get(self, username: str) -> Account | None:
        with self._connect() as db:
            row = db.execute("select * from accounts where username = ?", (username,)).fetchone()
        if row is None:
            return None
        return Account(
            row["username"],
            row["display_name"],
            row["submitter_code"],
            row["role"],
            row["session_token"],
            bool(row["active"]),
        )

    def all(self) -> list[Account]:
        with self._connect() as db:
            names = [r[0] for r in db.execute("select username from accounts order by username")]
        return [a for a in map(self.get, names) if a is not None]

    def set_password(self, username: str, password: str) -> None:
        _check_password(password)
        self._update(
            username,
            "password_hash = ?, session_token = ?",
            (_hasher.hash(password), secrets.token_urlsafe(24)),
        )

    def set_active(self, username: str, active: bool) -> None:
        self._update(
            username, "active = ?, session_token = ?", (int(active), secrets.token_urlsafe(24))
        )

    def end_sessions(self, username: str) -> None:
        """Every session of the account ends (logout ends them all: a cookie copied from
        this browser is worth nothing afterwards)."""
        self._update(username, "session_token = ?", (secrets.token_urlsafe(24),))

    def _update(self, username: str, assignments: str, values: tuple) -> None:
        with self._connect() as db:
            changed = db.execute(
                f"update accounts set {assignments} where username = ?", (*values, username)
            ).rowcount
        if not changed:
            raise AccountError(f"no account '{username}'")

    # -- logging in ---------------------------------------------------------------------
    def locked(self, username: str, address: str) -> bool:
        since = (_now() - FAILURE_WINDOW).isoformat()
        with self._connect() as db:
            db.execute("delete from login_failures where failed_at < ?", (since,))
            by_name = db.execute(
                "select count(*) from login_failures where username = ? and failed_at >= ?",
                (username, since),
            ).fetchone()[0]
            by_address = db.execute(
                "select count(*) from login_failures where address = ? and failed_at >= ?",
                (address, since),
            ).fetchone()[0]
        return by_name >= MAX_FAILURES or by_address >= MAX_FAILURES * 4

    def authenticate(self, username: str, password: str, address: str) -> Account | None:
        """The account, when the password is right and logins are not locked; else None
        (and the failure is counted). The same time is spent for an unknown name."""
        with self._connect() as db:
            row = db.execute(
                "select password_hash, active from accounts where username = ?", (username,)
            ).fetchone()
        stored = row["password_hash"] if row else _dummy_hash()
        try:
            _hasher.verify(stored, password)
            ok = row is not None and bool(row["active"])
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            with self._connect() as db:
                db.execute(
                    "insert into login_failures values (?, ?, ?)",
                    (username, address, _now().isoformat()),
                )
            return None
        with self._connect() as db:
            db.execute("delete from login_failures where username = ?", (username,))
            if _hasher.check_needs_rehash(stored):
                db.execute(
                    "update accounts set password_hash = ? where username = ?",
                    (_hasher.hash(password), username),
                )
        return self.get(username)

    # -- uploads ------------------------------------------------------------------------
    def add_upload(self, account: Account, source: str, file_name: str, sha256: str) -> Upload:
        upload_id = secrets.token_urlsafe(18)
        with self._connect() as db:
            db.execute(
                "insert into uploads values (?, ?, ?, ?, ?, ?, ?, null, null)",
                (
                    upload_id,
                    account.username,
                    account.submitter_code,
                    source,
                    file_name,
                    sha256,
                    _now().isoformat(),
                ),
            )
        upload = self.upload(upload_id)
        assert upload is not None
        return upload

    def upload(self, upload_id: str) -> Upload | None:
        with self._connect() as db:
            row = db.execute("select * from uploads where upload_id = ?", (upload_id,)).fetchone()
        return Upload(**dict(row)) if row else None

    def mark_sent(self, upload_id: str, landing_path: str) -> bool:
        """True the first time only: a second confirmation of the same upload changes nothing."""
        with self._connect() as db:
            changed = db.execute(
                "update uploads set sent_at = ?, landing_path = ? "
                "where upload_id = ? and sent_at is null",
                (_now().isoformat(), landing_path, upload_id),
            ).rowcount
        return changed == 1

    def unmark_sent(self, upload_id: str) -> None:
        """The file could not be placed after all: it may be confirmed again."""
        with self._connect() as db:
            db.execute(
                "update uploads set sent_at = null, landing_path = null where upload_id = ?",
                (upload_id,),
            )

    def set_landing_path(self, upload_id: str, landing_path: str) -> None:
        with self._connect() as db:
            db.execute(
                "update uploads set landing_path = ? where upload_id = ?",
                (landing_path, upload_id),
            )

    def sent_uploads(self, submitter_code: str | None = None) -> list[Upload]:
        query = "select * from uploads where sent_at is not null"
        values: tuple = ()
        if submitter_code is not None:
            query += " and submitter_code = ?"
            values = (submitter_code,)
        with self._connect() as db:
            rows = db.execute(query + " order by sent_at desc", values).fetchall()
        return [Upload(**dict(r)) for r in rows]

    def already_sent(self, submitter_code: str, source: str, sha256: str) -> Upload | None:
        with self._connect() as db:
            row = db.execute(
                "select * from uploads where submitter_code = ? and source = ? and sha256 = ? "
                "and sent_at is not null order by sent_at limit 1",
                (submitter_code, source, sha256),
            ).fetchone()
        return Upload(**dict(row)) if row else None


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


@cache
def _dummy_hash() -> str:
    """Verified against for an unknown name, so it takes as long as a known one."""
    return _hasher.hash(secrets.token_urlsafe(16))
