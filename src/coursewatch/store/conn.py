"""What the SQL store needs of a database connection: the DB-API calls both backends have.

SQL is written once, with ``?`` placeholders, in the dialect SQLite and PostgreSQL share
(``INSERT ... ON CONFLICT``, ``RETURNING``). :mod:`coursewatch.store.sqlite` hands over
``sqlite3`` connections as they are; :mod:`coursewatch.store.postgres` wraps psycopg's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor: ...
    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...
    def close(self) -> None: ...
