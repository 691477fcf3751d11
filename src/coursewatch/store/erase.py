"""Race HQ takes a runner or a whole race out of the store: every row of theirs, in one
transaction (a rehearsal's race and its trackers, a runner registered by mistake, a race's
tracks after the event). What was removed is counted by table, for race HQ to see.

>>> import sqlite3
>>> from coursewatch.store.schema import SCHEMA
>>> c = sqlite3.connect(":memory:")
>>> _ = c.executescript(SCHEMA)
>>> _ = c.execute("INSERT INTO races VALUES ('r', '', '', '', x'', '', 0, 't', 0, 0)")
>>> _ = c.execute("INSERT INTO runners (race_id, bib, name) VALUES ('r', '7', '')")
>>> _ = c.execute("INSERT INTO devices VALUES ('dev-7', 'r', '7')")
>>> erase_race(c, "r", ["privacy/r"])["devices"]
1
"""

from __future__ import annotations

from collections.abc import Sequence

from coursewatch.store.conn import Conn
from coursewatch.store.writer import Writer

# a runner's rows (devices first: they refer to the runner's row, which goes last)
RUNNER_TABLES = ("devices", "fixes", "alerts", "incidents", "deliveries", "runner_states")
RACE_TABLES = ("counts", "webhooks")  # the race's own, beside its runners'


def erase_runner(c: Conn, race_id: str, bib: str) -> dict[str, int]:
    """Delete a runner's rows; returns how many went from each table."""
    where = "WHERE race_id=? AND bib=?"
    gone = {t: c.execute(f"DELETE FROM {t} {where}", (race_id, bib)).rowcount
            for t in (*RUNNER_TABLES, "runners")}  # fmt: skip
    return {t: max(n, 0) for t, n in gone.items()}


def erase_race(c: Conn, race_id: str, meta_keys: Sequence[str]) -> dict[str, int]:
    """Delete a race's rows, its runners' and the ``meta_keys`` of its settings kept beside
    them (privacy, contacts, history); returns how many went from each table."""
    gone = {t: c.execute(f"DELETE FROM {t} WHERE race_id=?", (race_id,)).rowcount
            for t in (*RUNNER_TABLES, "runners", *RACE_TABLES)}  # fmt: skip
    gone["races"] = c.execute("DELETE FROM races WHERE id=?", (race_id,)).rowcount
    c.executemany("DELETE FROM meta WHERE key=?", [(k,) for k in meta_keys])
    return {t: max(n, 0) for t, n in gone.items()}


class Erase:
    """The :class:`coursewatch.store.Store` methods of this module, for the SQL store."""

    _writer: Writer

    async def delete_runner(self, race_id: str, bib: str) -> dict[str, int]:
        return await self._writer.submit(lambda c: erase_runner(c, race_id, bib))

    async def delete_race(self, race_id: str, meta_keys: Sequence[str]) -> dict[str, int]:
        return await self._writer.submit(lambda c: erase_race(c, race_id, meta_keys))
