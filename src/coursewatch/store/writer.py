"""The one writer: every write to the database goes through one thread, in group commits.

Callers submit a function of the connection and await its result. The thread takes everything
queued, runs each function in its own savepoint (a failing one rolls back alone and gets its
exception), commits once, and only then resolves the callers' futures: a result means the data
is durable (SQLite: in the WAL file; PostgreSQL: committed) and survives the process being
killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from coursewatch.store import StoreUnavailable
from coursewatch.store.conn import Conn

T = TypeVar("T")
MAX_GROUP = 2000

# (race, bib, epoch): whose in-memory state a write was made from (see Writer.submit)
Key = tuple[str, str, int]
_Job = tuple[
    Callable[[Conn], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]", tuple[Key, ...]
]


class Writer:
    """A thread owning the only writing connection (``connect()``, in autocommit mode:
    transactions are explicit, opened with ``begin``)."""

    def __init__(self, connect: Callable[[], Conn], begin: str = "BEGIN") -> None:
        self.connect = connect
        self.begin = begin
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.commits = 0
        self._failed: dict[tuple[str, str], int] = {}  # (race, bib) -> epoch not stored

    def start(self, init: Callable[[Conn], None]) -> None:
        conn = self.connect()
        init(conn)
        self._thread = threading.Thread(
            target=self._run, args=(conn,), name="coursewatch-writer", daemon=True
        )
        self._thread.start()

    def submit(self, fn: Callable[[Conn], T], keys: tuple[Key, ...] = ()) -> asyncio.Future[T]:
        """``keys``: the runners (race, bib, epoch) whose in-memory state the write was made
        from. A write of a runner that follows a write of theirs that failed, made from the
        same epoch (before they were put back to what the store holds), fails too: it holds
        what was not stored (a fix sent again and taken for a duplicate, say)."""
        if self._thread is None:
            raise RuntimeError("the store is not started: await store.start() first")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, loop, fut, keys))
        return fut

    def stop(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None

    def _run(self, conn: Conn) -> None:
        try:
            while True:
                first = self._jobs.get()
                if first is None:
                    return
                jobs = [first]
                stop = False
                while len(jobs) < MAX_GROUP:
                    try:
                        nxt = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    jobs.append(nxt)
                self._group(conn, jobs)
                if getattr(conn, "broken", False):  # the server went away: a new connection
                    conn = self._reconnect(conn)
                if stop:
                    return
        finally:
            conn.close()

    def _reconnect(self, conn: Conn) -> Conn:
        """A new connection for the next group (this one kept, broken, if none can be made
        yet: that group fails at once and the caller's request is answered 503)."""
        try:
            fresh = self.connect()
        except Exception:
            return conn
        with contextlib.suppress(Exception):
            conn.close()
        return fresh

    def _group(self, conn: Conn, jobs: list[_Job]) -> None:
        results: list[tuple[bool, Any]] = []
        try:
            conn.execute(self.begin)
            for fn, _, _, keys in jobs:
                if self._after_failed(keys):
                    results.append((False, StoreUnavailable(AFTER_FAILED)))
                    continue
                conn.execute("SAVEPOINT job")
                try:
                    results.append((True, _kept_here(fn(conn))))
                    conn.execute("RELEASE SAVEPOINT job")
                except Exception as exc:  # one bad write must not sink the group
                    conn.execute("ROLLBACK TO SAVEPOINT job")
                    conn.execute("RELEASE SAVEPOINT job")
                    results.append((False, _away(exc)))
                    self._fail(keys)
            conn.execute("COMMIT")
            self.commits += 1
        except Exception as exc:  # the database refused the transaction (or went away)
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            if getattr(conn, "broken", False) and not isinstance(exc, StoreUnavailable):
                exc = StoreUnavailable(f"the database went away ({exc}): send again in a moment")
            results = [(False, _away(exc))] * len(jobs)
            for _, _, _, keys in jobs:
                self._fail(keys)
        for (_, loop, fut, _), (ok, value) in zip(jobs, results, strict=True):
            # A closed loop means nobody waits for this result.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, fut, ok, value)

    def _after_failed(self, keys: tuple[Key, ...]) -> bool:
        """Whether a write follows a failed one of one of its runners, from the same epoch
        (a later epoch: that runner was put back since, the failure is forgotten)."""
        hit = False
        for race_id, bib, epoch in keys:
            failed = self._failed.get((race_id, bib))
            if failed is None:
                continue
            if epoch == failed:
                hit = True
            elif epoch > failed:
                del self._failed[race_id, bib]
        if hit:
            self._fail(keys)  # (what it holds was not stored either)
        return hit

    def _fail(self, keys: tuple[Key, ...]) -> None:
        for race_id, bib, epoch in keys:
            self._failed[race_id, bib] = epoch


AFTER_FAILED = ("a batch of these runners before this one was not stored: send again in a "
                "moment (they are put back to what the store holds first)")  # fmt: skip


def _away(exc: Exception) -> Exception:
    """SQLite's disk full, I/O error or read-only file as StoreUnavailable (503: the tracker
    sends again); any other error as it is."""
    said = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and any(w in said for w in _DISK_WORDS):
        return StoreUnavailable(f"the database refused the write ({said}): send again later")
    return exc


_DISK_WORDS = ("disk", "full", "I/O", "readonly", "locked")


def _kept_here(value: Any) -> Any:
    """A cursor never leaves the writer's thread: closed here, and None to the caller. Dropped
    later by the event loop's thread, it would reset its statement while this thread runs the
    same cached statement for another write (SQLite: "bad parameter or other API misuse")."""
    if hasattr(value, "fetchone"):  # (sqlite3's or psycopg's)
        value.close()
        return None
    return value


def _resolve(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.cancelled():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)
