"""The page's own SQLite database: accounts, login failures and uploads.

One file (``WELFARE_HOME/web/accounts.sqlite`` by default), created private
(:mod:`pipelines.web.private`) and in WAL mode, so the page's request threads and its check
workers (other processes) read while one of them writes. Its schema is migrated in place:
``PRAGMA user_version`` says which of :data:`MIGRATIONS` a database has had, and opening it
applies the rest, so a database made by an earlier version keeps its accounts and uploads.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipelines.web.private import private_file

BUSY_SECONDS = 30  # how long a write waits for another writer before it fails

MIGRATIONS: tuple[str, ...] = (
    # 1: accounts, failed logins, uploads awaiting their sender's confirmation
    """
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
    """,
    # 2: an upload is checked once (its verdict kept) and sent exactly once (its state moves
    # checking → checked → placing → sent, one transition at a time); a failed login records
    # the browser it came from (a trusted browser is not locked out by others' failures)
    """
    alter table uploads add column state text not null default 'checking';
    alter table uploads add column stored_name text;
    alter table uploads add column size_bytes integer not null default 0;
    alter table uploads add column check_stage text;
    alter table uploads add column checks integer not null default 0;
    alter table uploads add column verdict text;
    alter table uploads add column sendable integer;
    alter table uploads add column checked_at text;
    alter table uploads add column claimed_at text;
    update uploads set state = 'sent' where sent_at is not null;
    update uploads set stored_name = file_name where stored_name is null;
    create index if not exists uploads_by_account on uploads (username, state);
    alter table login_failures add column device text;
    create index if not exists login_failures_by_name on login_failures (username, failed_at);
    create index if not exists login_failures_by_address on login_failures (address, failed_at);
    """,
    # 3: an e-mail address per account, for reminders (pipelines.web.reminders)
    """
    alter table accounts add column email text;
    """,
)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        private_file(path)
        with self.write() as db:
            version = db.execute("pragma user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute(f"pragma user_version = {number}")
        with self._open() as db:
            db.execute("pragma journal_mode = wal")

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None)
        db.row_factory = sqlite3.Row
        return db

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        db = self._open()
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction that holds the write lock from its first statement (BEGIN
        IMMEDIATE): what it reads cannot change before it writes. Committed on success."""
        db = self._open()
        try:
            db.execute("begin immediate")
            try:
                yield db
            except BaseException:
                db.execute("rollback")
                raise
            db.execute("commit")
        finally:
            db.close()
