"""The default store: one SQLite file in WAL mode, written by one thread, read by anyone.

>>> import asyncio, tempfile, pathlib
>>> async def demo() -> int:
...     with tempfile.TemporaryDirectory() as d:
...         store = SqliteStore(pathlib.Path(d) / "race.db")
...         await store.start()
...         await store.set_meta("k", "v")
...         n = len(store.races())
...         await store.close()
...         return n
>>> asyncio.run(demo())
0
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from coursewatch.store import StoreError
from coursewatch.store.conn import Conn
from coursewatch.store.incidents import migrate_events
from coursewatch.store.schema import SCHEMA
from coursewatch.store.sql import UNKNOWN_DEVICES_MAX, SqlStore
from coursewatch.store.writer import Writer

__all__ = ["UNKNOWN_DEVICES_MAX", "SqliteStore", "connect"]


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, NORMAL sync."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL: a commit is in the WAL before it returns; only a power cut can lose the last ones,
    # a killed process cannot.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _init(conn: Conn) -> None:
    """The tables, made when missing; a database from before incidents, or before race HQ
    recorded finishes, migrated."""
    assert isinstance(conn, sqlite3.Connection)
    conn.executescript(SCHEMA)
    conn.execute("BEGIN IMMEDIATE")  # all of the migration or none (a kill midway, say)
    try:
        if "finish_ts" not in {str(r[1]) for r in conn.execute("PRAGMA table_info(runners)")}:
            conn.execute("ALTER TABLE runners ADD COLUMN finish_ts REAL")
        migrate_events(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class SqliteStore(SqlStore):
    """The :class:`coursewatch.store.Store` on one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        super().__init__(
            Writer(lambda: connect(self.path), begin="BEGIN IMMEDIATE"),
            lambda: connect(self.path),
            _init,
        )

    async def start(self) -> None:
        if self.path.parent and not self.path.parent.exists():
            raise StoreError(f"{self.path.parent}: no such folder for the database: create it")
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a folder: give --db a file (a new name makes a "
                             "new database)")  # fmt: skip
        try:
            await super().start()
        except sqlite3.DatabaseError as exc:  # not a database, or one that cannot be opened
            raise StoreError(
                f"{self.path}: cannot open it as race HQ's database ({exc}): give "
                "--db the file `coursewatch serve` made, or a new name"
            ) from None
