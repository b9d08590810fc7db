"""Accounts of the submission page: who may log in, for which submitter, with which role.

Kept in the page's database (:mod:`pipelines.web.database`). Passwords are kept only as
Argon2id hashes (argon2-cffi: salted, slow, memory-hard) and must pass
:func:`pipelines.web.passwords.password_problems`. Each account carries a session token: a
session is valid only while its token is the account's current one, so logging out (or a new
password, or a disabled account) ends every session of that account. How failed logins are
slowed and locked is :mod:`pipelines.web.logins`.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from pipelines.web.database import Database, iso, now
from pipelines.web.passwords import password_problems

ROLES = ("submitter", "admin")
MAX_USERNAME = 64

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
    email: str | None = None  # where reminders go

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class AccountStore:
    def __init__(self, path: Path | Database) -> None:
        self.db = path if isinstance(path, Database) else Database(path)
        self.path = self.db.path

    # -- accounts -----------------------------------------------------------------------
    def add(
        self,
        username: str,
        password: str,
        submitter_code: str,
        role: str = "submitter",
        display_name: str | None = None,
        email: str | None = None,
    ) -> Account:
        username = username.strip()
        if not username or any(c.isspace() or not c.isprintable() for c in username):
            raise AccountError("username: letters, digits and symbols, no spaces")
        if len(username) > MAX_USERNAME:
            raise AccountError(f"username: at most {MAX_USERNAME} characters")
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        _check_password(password, username, display_name or "")
        email = _checked_email(email)
        token = secrets.token_urlsafe(24)
        try:
            with self.db.write() as db:
                db.execute(
                    "insert into accounts (username, display_name, submitter_code, role, "
                    "password_hash, session_token, active, created_at, email) "
                    "values (?, ?, ?, ?, ?, ?, 1, ?, ?)",
                    (
                        username,
                        display_name or username,
                        submitter_code,
                        role,
                        _hasher.hash(password),
                        token,
                        iso(now()),
                        email,
                    ),
                )
        except sqlite3.IntegrityError as error:
            raise AccountError(f"account '{username}' exists already") from error
        account = self.get(username)
        assert account is not None
        return account

    def get(self, username: str) -> Account | None:
        with self.db.read() as db:
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
            row["email"],
        )

    def all(self) -> list[Account]:
        with self.db.read() as db:
            names = [r[0] for r in db.execute("select username from accounts order by username")]
        return [a for a in map(self.get, names) if a is not None]

    def set_password(self, username: str, password: str) -> None:
        account = self.get(username)
        _check_password(password, username, account.display_name if account else "")
        self._update(
            username,
            "password_hash = ?, session_token = ?",
            (_hasher.hash(password), secrets.token_urlsafe(24)),
        )

    def set_email(self, username: str, email: str | None) -> None:
        """Where the account's reminders go (None or "": none)."""
        self._update(username, "email = ?", (_checked_email(email),))

    def set_active(self, username: str, active: bool) -> None:
        self._update(
            username, "active = ?, session_token = ?", (int(active), secrets.token_urlsafe(24))
        )

    def end_sessions(self, username: str) -> None:
        """Every session of the account ends (logout ends them all: a cookie copied from
        this browser is worth nothing afterwards)."""
        self._update(username, "session_token = ?", (secrets.token_urlsafe(24),))

    def _update(self, username: str, assignments: str, values: tuple) -> None:
        with self.db.write() as db:
            changed = db.execute(
                f"update accounts set {assignments} where username = ?", (*values, username)
            ).rowcount
        if not changed:
            raise AccountError(f"no account '{username}'")

    # -- logging in ---------------------------------------------------------------------
    def verify(self, username: str, password: str) -> Account | None:
        """The account, when it exists, is active and the password is its own; else None.
        An unknown name costs the same time as a known one. (Whether this attempt may be
        made at all, and counting failures, is :class:`pipelines.web.logins.LoginGuard`.)"""
        with self.db.read() as db:
            row = db.execute(
                "select password_hash, active from accounts where username = ?", (username,)
            ).fetchone()
        stored = row["password_hash"] if row else _dummy_hash()
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or not row["active"]:
            return None
        if _hasher.check_needs_rehash(stored):
            self._update(username, "password_hash = ?", (_hasher.hash(password),))
        return self.get(username)


EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")


def _checked_email(email: str | None) -> str | None:
    email = (email or "").strip()
    if not email:
        return None
    if len(email) > 254 or not EMAIL.fullmatch(email):
        raise AccountError(f"e-mail: '{email}' is not an address (name@example.org)")
    return email


def _check_password(password: str, username: str, display_name: str) -> None:
    if problems := password_problems(password, username, display_name):
        raise AccountError(" ".join(problems))


@cache
def _dummy_hash() -> str:
    """Verified against for an unknown name, so it takes as long as a known one."""
    return _hasher.hash(secrets.token_urlsafe(16))
