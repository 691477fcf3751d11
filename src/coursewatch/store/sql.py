"""The store in SQL, written once for SQLite and PostgreSQL: :class:`SqlStore`.

Every write is a function of a connection run by the one writer thread
(:mod:`coursewatch.store.writer`), in group commits; reads go through a second connection.
The SQL is the dialect both databases share (``?`` placeholders: the PostgreSQL store's
connection turns them into its own); each backend brings its connections and its schema
(:mod:`coursewatch.store.sqlite`, :mod:`coursewatch.store.postgres`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from coursewatch.incidents import REPLAYED
from coursewatch.store import (
    AlertRecord,
    FixArrays,
    FixRow,
    Incident,
    Outbox,
    RaceRecord,
    RunnerRecord,
    RunnerState,
    Saved,
    StoreError,
    Webhook,
)
from coursewatch.store.conn import Conn
from coursewatch.store.erase import Erase
from coursewatch.store.fixes import insert_fixes
from coursewatch.store.incidents import (
    EVENT_COLS,
    INCIDENT_COLS,
    event,
    fold,
    incident,
    upsert_event,
)
from coursewatch.store.outbox import SqlOutbox
from coursewatch.store.writer import Writer

_REPLAYED = "(" + ", ".join(f"'{k}'" for k in sorted(REPLAYED)) + ")"  # (incidents.py)
_COUNT_SQL = (
    "INSERT INTO counts VALUES (?,?,?) ON CONFLICT(race_id, reason) "
    "DO UPDATE SET n = counts.n + excluded.n"
)
UNKNOWN_DEVICES_MAX = 1000  # unknown device ids kept: the ones heard from last
_TRIM_UNKNOWN_SQL = (
    "DELETE FROM unknown_devices WHERE device_id IN (SELECT device_id FROM unknown_devices "
    "ORDER BY last_ts DESC LIMIT 1000000000 OFFSET ?)"
)
_RUNNER_SQL = (
    "INSERT INTO runners (race_id, bib, name, start_ts, dnf, finish_ts) VALUES (?,?,?,?,?,?) "
    "ON CONFLICT(race_id, bib) DO UPDATE SET name=excluded.name, start_ts=excluded.start_ts, "
    "dnf=excluded.dnf, finish_ts=excluded.finish_ts"
)
_STATE_SQL = (
    "INSERT INTO runner_states VALUES (?,?,?,?) ON CONFLICT(race_id, bib) "
    "DO UPDATE SET time_s=excluded.time_s, state=excluded.state"
)


class SqlStore(Erase):
    """The :class:`coursewatch.store.Store` on a SQL database: ``writer`` owns the writing
    connection, ``read()`` opens the reading one, ``init`` makes or migrates the schema (on
    the writer's connection, at start)."""

    def __init__(
        self, writer: Writer, read: Callable[[], Conn], init: Callable[[Conn], None]
    ) -> None:
        self._writer = writer
        self._open_read = read
        self._init = init
        self._read: Conn | None = None
        self._unknown_notes = 0
        self.outbox: Outbox = SqlOutbox(self._writer, lambda: self.db)

    async def start(self) -> None:
        self._writer.start(self._init)
        self._read = self._open_read()

    async def close(self) -> None:
        self._writer.stop()
        if self._read is not None:
            self._read.close()
            self._read = None

    @property
    def db(self) -> Conn:
        if self._read is None:
            raise RuntimeError("the store is not started: await store.start() first")
        if getattr(self._read, "broken", False):  # the server went away: a new connection
            self._read.close()
            self._read = self._open_read()  # StoreUnavailable while it is still away
        return self._read

    # -- meta -------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    async def set_meta(self, key: str, value: str) -> None:
        sql = "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value"
        await self._writer.submit(lambda c: c.execute(sql, (key, value)))

    # -- races and runners ------------------------------------------------------------------
    async def put_race(self, race: RaceRecord) -> None:
        def write(c: Conn) -> None:
            c.execute(
                "INSERT INTO races VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
                "name=excluded.name, race_text=excluded.race_text, "
                "race_suffix=excluded.race_suffix, course_bytes=excluded.course_bytes, "
                "course_suffix=excluded.course_suffix, start_ts=excluded.start_ts, "
                "ingest_token=excluded.ingest_token, public=excluded.public, "
                "created_ts=excluded.created_ts",
                (race.id, race.name, race.race_text, race.race_suffix, race.course_bytes,
                 race.course_suffix, race.start_ts, race.ingest_token, int(race.public),
                 race.created_ts),
            )  # fmt: skip

        await self._writer.submit(write)

    async def set_public(self, race_id: str, public: bool) -> None:
        sql = "UPDATE races SET public=? WHERE id=?"
        await self._writer.submit(lambda c: c.execute(sql, (int(public), race_id)))

    def race(self, race_id: str) -> RaceRecord | None:
        row = self.db.execute("SELECT * FROM races WHERE id=?", (race_id,)).fetchone()
        return None if row is None else _race(row)

    def races(self) -> list[RaceRecord]:
        return [_race(r) for r in self.db.execute("SELECT * FROM races ORDER BY created_ts")]

    async def put_runner(self, runner: RunnerRecord) -> None:
        def write(c: Conn) -> None:
            for device in runner.devices:
                row = c.execute(
                    "SELECT race_id, bib FROM devices WHERE device_id=?", (device,)
                ).fetchone()
                if row is not None and tuple(row) != (runner.race_id, runner.bib):
                    raise StoreError(
                        f"device {device!r} is already registered to bib {row[1]} of race "
                        f"{row[0]!r}: remove it there first, or give another device id"
                    )
            r = runner
            c.execute(_RUNNER_SQL, (r.race_id, r.bib, r.name, r.start_ts, int(r.dnf), r.finish_ts))
            c.execute("DELETE FROM devices WHERE race_id=? AND bib=?", (runner.race_id, runner.bib))
            c.executemany(
                "INSERT INTO devices VALUES (?,?,?)",
                [(d, runner.race_id, runner.bib) for d in runner.devices],
            )

        await self._writer.submit(write)

    def runners(self, race_id: str) -> list[RunnerRecord]:
        devices: dict[str, list[str]] = {}
        for d, bib in self.db.execute(
            "SELECT device_id, bib FROM devices WHERE race_id=? ORDER BY device_id", (race_id,)
        ):
            devices.setdefault(bib, []).append(d)
        rows = self.db.execute(
            "SELECT bib, name, start_ts, dnf, finish_ts FROM runners WHERE race_id=?", (race_id,)
        )
        return [
            RunnerRecord(race_id, bib, name, tuple(devices.get(bib, ())), start, bool(dnf), end)
            for bib, name, start, dnf, end in rows
        ]

    # -- fixes and alerts -------------------------------------------------------------------
    async def save(
        self,
        fixes: Sequence[FixRow],
        alerts: Sequence[AlertRecord],
        retract: Sequence[tuple[str, str, float]] = (),
        counts: Mapping[str, Mapping[str, int]] | None = None,
        states: Sequence[RunnerState] = (),
        keys: tuple[tuple[str, str, int], ...] = (),
    ) -> Saved:
        """Store fixes (duplicates ignored), alerts, counters and runner states (each
        replacing that runner's last), in one transaction. ``keys``: the runners (race, bib,
        epoch) the batch was made from (:meth:`coursewatch.store.writer.Writer.submit`).

        ``retract`` holds (race, bib, from_s): that runner's alerts raised at or after
        ``from_s`` are retracted first, then those raised again in ``alerts`` come back.
        """
        rows = list(fixes)  # FixRow is the row in column order
        count_rows = sorted(  # rows every worker updates: in one order (no deadlock)
            (race_id, k, n) for race_id, cs in (counts or {}).items() for k, n in cs.items() if n
        )

        def write(c: Conn) -> Saved:
            insert_fixes(c, rows)
            if count_rows:
                c.executemany(_COUNT_SQL, count_rows)
            if states:
                c.executemany(_STATE_SQL, [(s.race_id, s.bib, s.time_s, s.state) for s in states])
            was_live: set[int] = set()
            touched: set[tuple[str, str, str]] = set()
            for race_id, bib, from_s in retract:
                args = (race_id, bib, from_s)
                where = ("race_id=? AND bib=? AND raised_s>=? AND retracted=0"
                         f" AND kind IN {_REPLAYED}")  # fmt: skip
                live = c.execute(f"SELECT id, episode FROM alerts WHERE {where}", args)
                for i, episode in live:
                    was_live.add(int(i))
                    touched.add((race_id, bib, str(episode)))
                c.execute(f"UPDATE alerts SET retracted=1 WHERE {where}", args)
            out = Saved()
            for a in alerts:
                record, live_before = upsert_event(c, a, was_live)
                if live_before or record.id in was_live:
                    out.known.append(record)
                else:
                    out.new.append(record)
                was_live.discard(record.id)
                touched.add((a.race_id, a.bib, a.episode))
            out.retracted.extend(sorted(was_live))
            out.incidents.extend(i for key in sorted(touched) if (i := fold(c, key)))
            return out

        return await self._writer.submit(write, keys)

    def fixes(self, race_id: str, bib: str, since_s: float | None = None) -> FixArrays:
        rows = self.db.execute(
            "SELECT time_s, lat, lon, accuracy_m FROM fixes WHERE race_id=? AND bib=? "
            "AND time_s>=? ORDER BY time_s",
            (race_id, bib, -1e300 if since_s is None else since_s),
        ).fetchall()
        a = np.array(rows, dtype=np.float64).reshape(-1, 4)  # None -> nan
        return FixArrays(a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy(), a[:, 3].copy())

    def fix_rows(self, race_id: str, bib: str, after_s: float) -> list[FixRow]:
        rows = self.db.execute(
            "SELECT * FROM fixes WHERE race_id=? AND bib=? AND time_s>? ORDER BY time_s",
            (race_id, bib, after_s),
        )
        return [FixRow(*r) for r in rows]

    def runner_states(self, race_id: str) -> dict[str, RunnerState]:
        rows = self.db.execute("SELECT * FROM runner_states WHERE race_id=?", (race_id,))
        return {str(r[1]): _runner_state(r) for r in rows}

    def runner_state(self, race_id: str, bib: str) -> RunnerState | None:
        row = self.db.execute(
            "SELECT * FROM runner_states WHERE race_id=? AND bib=?", (race_id, bib)
        ).fetchone()
        return (
            None
            if row is None
            else RunnerState(str(row[0]), str(row[1]), float(row[2]), str(row[3]))
        )

    def fix_count(self, race_id: str) -> int:
        row = self.db.execute("SELECT count(*) FROM fixes WHERE race_id=?", (race_id,))
        return int(row.fetchone()[0])

    def alerts(
        self, race_id: str, after_id: int = 0, bib: str | None = None, limit: int = 1000
    ) -> list[AlertRecord]:
        rows = self._page("alerts", EVENT_COLS, race_id, after_id, {"bib": bib}, limit)
        return [event(r) for r in rows]

    def incidents(
        self,
        race_id: str,
        after_id: int = 0,
        bib: str | None = None,
        level: str | None = None,
        limit: int = 1000,
    ) -> list[Incident]:
        where = {"bib": bib, "level": level}
        rows = self._page("incidents", INCIDENT_COLS, race_id, after_id, where, limit)
        return [incident(r) for r in rows]

    def kind_incidents(self, race_id: str, kinds: Sequence[str]) -> list[Incident]:
        """A race's incidents of these kinds, open or not."""
        marks = ",".join("?" * len(kinds))
        sql = f"SELECT {INCIDENT_COLS} FROM incidents WHERE race_id=? AND kind IN"
        rows = self.db.execute(f"{sql} ({marks}) AND retracted=0", (race_id, *kinds))
        return [incident(r) for r in rows]

    def _page(
        self,
        table: str,
        cols: str,
        race_id: str,
        after_id: int,
        where: Mapping[str, object],
        limit: int,
    ) -> list[tuple[object, ...]]:
        """A race's rows of ``table`` after ``after_id``, by id, with the columns of ``where``
        equal to its values (None: any)."""
        sql = f"SELECT {cols} FROM {table} WHERE race_id=? AND id>?"
        args: list[object] = [race_id, after_id]
        for name, value in where.items():
            if value is not None:
                sql += f" AND {name}=?"
                args.append(value)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        return list(self.db.execute(sql, args))

    async def ack_incident(
        self, race_id: str, incident_id: int, by: str, at_ts: float
    ) -> Incident | None:
        """Acknowledge an incident; one acknowledged already keeps its first (who and when)."""

        def write(c: Conn) -> Incident | None:
            c.execute("UPDATE incidents SET ack_by=?, ack_ts=? WHERE race_id=? AND id=? AND "
                      "ack_ts IS NULL", (by, at_ts, race_id, incident_id))  # fmt: skip
            row = c.execute(
                f"SELECT {INCIDENT_COLS} FROM incidents WHERE race_id=? AND id=?",
                (race_id, incident_id),
            ).fetchone()
            return None if row is None else incident(row)

        return await self._writer.submit(write)

    async def withdraw(self, race_id: str, bib: str, kind: str) -> list[Incident]:
        """Take back a runner's events of ``kind`` (race HQ undid what raised them: a DNF);
        their incidents as they are without them (reopened as they were)."""

        def write(c: Conn) -> list[Incident]:
            where, args = "race_id=? AND bib=? AND kind=? AND retracted=0", (race_id, bib, kind)
            episodes = [str(e) for (e,) in c.execute(
                f"SELECT DISTINCT episode FROM alerts WHERE {where}", args)]  # fmt: skip
            c.execute(f"UPDATE alerts SET retracted=1 WHERE {where}", args)
            return [i for e in sorted(episodes) if (i := fold(c, (race_id, bib, e)))]

        return await self._writer.submit(write)

    # -- counters ---------------------------------------------------------------------------
    async def count(self, race_id: str, counts: Mapping[str, int]) -> None:
        rows = [(race_id, k, n) for k, n in counts.items() if n]
        if rows:
            await self._writer.submit(lambda c: c.executemany(_COUNT_SQL, rows))

    def counts(self, race_id: str) -> dict[str, int]:
        rows = self.db.execute("SELECT reason, n FROM counts WHERE race_id=?", (race_id,))
        return {str(k): int(n) for k, n in rows}

    async def note_unknown_device(self, device_id: str, protocol: str, at_ts: float) -> None:
        """Count a fix from a device nobody registered; the table keeps the
        ``UNKNOWN_DEVICES_MAX`` heard from last (a stranger can send any number of ids)."""
        sql = (
            "INSERT INTO unknown_devices VALUES (?,?,1,?) ON CONFLICT(device_id) "
            "DO UPDATE SET n = unknown_devices.n + 1, last_ts = excluded.last_ts, "
            "protocol = excluded.protocol"
        )
        self._unknown_notes += 1
        trim = self._unknown_notes % 100 == 0

        def write(c: Conn) -> None:
            c.execute(sql, (device_id, protocol, at_ts))
            if trim:
                c.execute(_TRIM_UNKNOWN_SQL, (UNKNOWN_DEVICES_MAX,))

        await self._writer.submit(write)

    def unknown_devices(self) -> list[tuple[str, str, int, float]]:
        rows = self.db.execute("SELECT * FROM unknown_devices ORDER BY last_ts DESC LIMIT 500")
        return [(str(d), str(p), int(n), float(t)) for d, p, n, t in rows]

    # -- webhooks ---------------------------------------------------------------------------
    async def add_webhook(self, race_id: str, url: str, secret: str) -> Webhook:
        def write(c: Conn) -> Webhook:
            cur = c.execute(
                "INSERT INTO webhooks (race_id, url, secret) VALUES (?,?,?) RETURNING id",
                (race_id, url, secret),
            )
            return Webhook(int(cur.fetchone()[0]), race_id, url, secret)

        return await self._writer.submit(write)

    async def delete_webhook(self, race_id: str, hook_id: int) -> bool:
        def write(c: Conn) -> bool:
            cur = c.execute("DELETE FROM webhooks WHERE race_id=? AND id=?", (race_id, hook_id))
            return cur.rowcount > 0

        return await self._writer.submit(write)

    def webhooks(self, race_id: str) -> list[Webhook]:
        rows = self.db.execute(
            "SELECT id, race_id, url, secret FROM webhooks WHERE race_id=?", (race_id,)
        )
        return [Webhook(int(i), str(r), str(u), str(s)) for i, r, u, s in rows]


def _runner_state(row: tuple[object, ...]) -> RunnerState:
    return RunnerState(str(row[0]), str(row[1]), float(row[2]), str(row[3]))  # type: ignore[arg-type]


def _race(row: tuple[object, ...]) -> RaceRecord:
    i, name, text, suffix, blob, csuffix, start, token, public, created = row
    return RaceRecord(
        str(i), str(name), str(text), str(suffix), bytes(blob), str(csuffix),  # type: ignore[call-overload]
        float(start), str(token), bool(public), float(created),  # type: ignore[arg-type]
    )  # fmt: skip
