"""Fixes into SQL, many rows a statement (the hot path of ingest)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

from coursewatch.store import FixRow
from coursewatch.store.conn import Conn

_FIX_SQL = "INSERT INTO fixes VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING"
# Fixes go in by this many rows a statement: the sqlite3 module lets go of the GIL around each
# statement step, and the writer thread waits for it back (up to the switch interval) while the
# event loop is busy, so one step per row would make a batch's write wait on the loop.
_FIX_CHUNK = 500
_FIX_CHUNK_SQL = (
    "INSERT INTO fixes VALUES "
    + ",".join(["(?,?,?,?,?,?,?,?,?,?,?,?)"] * _FIX_CHUNK)
    + " ON CONFLICT DO NOTHING"
)


def insert_fixes(c: Conn, rows: Sequence[FixRow]) -> None:
    """Insert (or ignore, the first kept) in order, many rows a statement."""
    whole = len(rows) - len(rows) % _FIX_CHUNK
    for i in range(0, whole, _FIX_CHUNK):
        c.execute(_FIX_CHUNK_SQL, list(chain.from_iterable(rows[i : i + _FIX_CHUNK])))
    if whole < len(rows):
        c.executemany(_FIX_SQL, rows[whole:])
