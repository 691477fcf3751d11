"""The one writer: every write to the SQLite file goes through one thread, in group commits.

Callers submit a function of the connection and await its result. The thread takes everything
queued, runs each function in its own savepoint (a failing one rolls back alone and gets its
exception), commits once, and only then resolves the callers' futures: a result means the data
is in the WAL file, and survives the process being killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
MAX_GROUP = 2000


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, NORMAL sync."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL: a commit is in the WAL before it returns; only a power cut can lose the last ones,
    # a killed process cannot.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


_Job = tuple[Callable[[sqlite3.Connection], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class Writer:
    """A thread owning the only writing connection."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.commits = 0

    def start(self, init: Callable[[sqlite3.Connection], None]) -> None:
        conn = connect(self.path)
        init(conn)
        self._thread = threading.Thread(
            target=self._run, args=(conn,), name="coursewatch-writer", daemon=True
        )
        self._thread.start()

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        if self._thread is None:
            raise RuntimeError("the store is not started: await store.start() first")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, loop, fut))
        return fut

    def stop(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None

    def _run(self, conn: sqlite3.Connection) -> None:
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
                if stop:
                    return
        finally:
            conn.close()

    def _group(self, conn: sqlite3.Connection, jobs: list[_Job]) -> None:
        results: list[tuple[bool, Any]] = []
        conn.execute("BEGIN IMMEDIATE")
        for fn, _, _ in jobs:
            conn.execute("SAVEPOINT job")
            try:
                results.append((True, fn(conn)))
                conn.execute("RELEASE job")
            except Exception as exc:  # one bad write must not sink the group
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                results.append((False, exc))
        try:
            conn.execute("COMMIT")
            self.commits += 1
        except Exception as exc:
            conn.rollback()
            results = [(False, exc)] * len(jobs)
        for (_, loop, fut), (ok, value) in zip(jobs, results, strict=True):
            # A closed loop means nobody waits for this result.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, fut, ok, value)


def _resolve(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.cancelled():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)
