"""The event log of a WELFARE_HOME's Dagster instance: Dagster's SQLite storage, with each
database's connection kept open between events instead of opened for each.

Dagster's SQLite event log makes a new SQLAlchemy engine and connection for every statement
batch it writes, about three per event, and closing a database's last connection checkpoints
its write-ahead log. A small `welfare run` stores about 250 events: over a second of the run's
time went to connections alone (profiled; README.md, "Performance"). Here each process keeps
one connection per database it writes, at most
:data:`KEPT` of them (the index, the run going, a few the UI reads), used one statement batch at
a time under the storage's own lock, as Dagster's is.

The files, their schema and their locking are Dagster's: the daemon, the UI and a `welfare run`
share them as before, and a home written without this class reads the same. A connection is
opened again when its file was replaced or removed (a wiped event log) and after a fork.

Loaded by name from the instance's dagster.yaml (pipelines.defs.instance), so by every process
that opens the instance: it imports only Dagster's storage. It overrides one private method and
uses three more; pipelines.defs.dagster_adapter.private_api_changes checks they are still there.
"""

from __future__ import annotations

import contextlib
import os
from collections import OrderedDict
from collections.abc import Iterator

import sqlalchemy as db
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from sqlalchemy.pool import StaticPool

KEPT = 4  # connections one process keeps open at most (least recently used closed first)
# A database's write-ahead log is folded into it every 100 pages (SQLite's default: 1,000) and
# cut back to 1 MB after: a kept connection is not the last to close, which would delete it,
# and a run's logs would otherwise hold ~4 MB each while it runs (or after a kill). A commit
# is not synced to disk one by one (SQLite's NORMAL in write-ahead mode: synced at each fold):
# a run stores ~250 events, each its own commit, and a sync each was ~0.1 s of a small run; a
# process killed loses nothing, a power cut may lose the last events, never the database.
WAL_PRAGMAS = (
    "pragma wal_autocheckpoint = 100",
    "pragma journal_size_limit = 1048576",
    "pragma synchronous = NORMAL",
)
# SqliteEventLogStorage's, used here: every statement batch goes through _connect.
PRIVATE_METHODS = ("_connect", "_initdb", "path_for_shard", "conn_string_for_shard")


def missing_private_methods() -> list[str]:
    """Those of :data:`PRIVATE_METHODS` the installed Dagster no longer has."""
    return [
        name for name in PRIVATE_METHODS if not callable(getattr(SqliteEventLogStorage, name, None))
    ]


def _identity(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


def _limit_the_log(connection, _record) -> None:
    for pragma in WAL_PRAGMAS:
        connection.execute(pragma)


class KeptConnectionsEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage whose connections stay open (see the module's docstring)."""

    def __init__(self, base_dir: str, inst_data=None):
        self._kept: OrderedDict[str, tuple[db.Engine, tuple[int, int] | None]] = OrderedDict()
        self._kept_pid = os.getpid()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> KeptConnectionsEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator[db.Connection]:
        with self._db_lock:
            engine = self._engine_for(shard)
            with engine.connect() as connection, connection.begin():
                yield connection

    def _engine_for(self, shard: str) -> db.Engine:
        """The shard's kept engine (one connection), made or made again when needed; called
        holding the storage's lock."""
        if os.getpid() != self._kept_pid:
            # A forked child never uses its parent's SQLite connections (nor closes them).
            self._kept, self._kept_pid = OrderedDict(), os.getpid()
            self._initialized_dbs = set()
        path = self.path_for_shard(shard)
        kept = self._kept.get(shard)
        if kept is not None:
            engine, identity = kept
            if identity is not None and _identity(path) == identity:
                self._kept.move_to_end(shard)
                return engine
            del self._kept[shard]  # its file was replaced or removed
            engine.dispose()
            self._initialized_dbs.discard(shard)
        engine = db.create_engine(
            self.conn_string_for_shard(shard),
            poolclass=StaticPool,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        db.event.listen(engine, "connect", _limit_the_log)
        if shard not in self._initialized_dbs or not os.path.exists(path):
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        self._kept[shard] = (engine, _identity(path))
        while len(self._kept) > KEPT:
            _, (oldest, _) = self._kept.popitem(last=False)
            oldest.dispose()
        return engine

    def dispose(self) -> None:
        super().dispose()
        with self._db_lock:
            while self._kept:
                _, (engine, _) = self._kept.popitem()
                if self._kept_pid == os.getpid():
                    engine.dispose()
