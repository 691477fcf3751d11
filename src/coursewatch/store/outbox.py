"""The outbox in SQL: notifications and webhook calls waiting to leave, and what became of them.

Rows are written by the store's one writer; reads go through the store's reader. A delivery
is keyed by (incident, update, recipient): storing it again is a no-op, so whoever enqueues
(the live listener, the recovery scan at start) can do it twice without sending twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from coursewatch.store import Delivery
from coursewatch.store.conn import Conn
from coursewatch.store.writer import Writer

_COLS = (
    "race_id, incident_id, update_n, recipient, role, bib, url, title, body, priority, next_ts,"
    " created_ts, id, state, attempts, sent_ts, error"
)
_INSERT = (
    "INSERT INTO deliveries (race_id, incident_id, update_n, recipient, role, bib, url,"
    " title, body, priority, next_ts, created_ts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT DO NOTHING"
)


class SqlOutbox:
    """:class:`coursewatch.store.Outbox` in the store's database."""

    def __init__(self, writer: Writer, read: Callable[[], Conn]) -> None:
        self._writer = writer
        self._read = read

    async def add(self, rows: Sequence[Delivery]) -> int:
        values = [
            (d.race_id, d.incident_id, d.update_n, d.recipient, d.role, d.bib, d.url, d.title,
             d.body, d.priority, d.next_ts, d.created_ts)
            for d in rows
        ]  # fmt: skip

        def write(c: Conn) -> int:
            return sum(c.execute(_INSERT, v).rowcount for v in values)

        return await self._writer.submit(write) if values else 0

    def due(
        self, now_ts: float, limit: int = 100, roles: Sequence[str] | None = None,
        skip: Sequence[str] = (), priority_max: int | None = None,
    ) -> list[Delivery]:  # fmt: skip
        """Pending deliveries (of these ``roles``, to none of the recipients ``skip``, of
        priority at most ``priority_max``) whose time has come, the most urgent first."""
        where, roles_args = _roles(roles)
        args: list[object] = [*roles_args, *skip]
        if skip:
            where += f" AND recipient NOT IN ({','.join('?' * len(skip))})"
        if priority_max is not None:
            where += " AND priority<=?"
            args.append(priority_max)
        rows = self._read().execute(
            f"SELECT {_COLS} FROM deliveries WHERE state='pending' AND next_ts<=?{where}"
            " ORDER BY priority, next_ts, id LIMIT ?",
            (now_ts, *args, limit),
        )
        return [_delivery(r) for r in rows]

    def next_ts(self, roles: Sequence[str] | None = None) -> float | None:
        where, args = _roles(roles)
        sql = f"SELECT min(next_ts) FROM deliveries WHERE state='pending'{where}"
        row = self._read().execute(sql, args).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def pending(self, recipient: str, limit: int = 100) -> list[Delivery]:
        rows = self._read().execute(
            f"SELECT {_COLS} FROM deliveries WHERE recipient=? AND state='pending'"
            " ORDER BY id LIMIT ?",
            (recipient, limit),
        )
        return [_delivery(r) for r in rows]

    def pending_count(self, recipient: str) -> int:
        sql = "SELECT count(*) FROM deliveries WHERE recipient=? AND state='pending'"
        return int(self._read().execute(sql, (recipient,)).fetchone()[0])

    async def mark(
        self,
        delivery_ids: Sequence[int],
        state: str,
        attempts: int,
        next_ts: float,
        error: str,
        sent_ts: float | None,
    ) -> None:
        # a delivery cancelled meanwhile (its address taken out) stays cancelled
        sql = ("UPDATE deliveries SET state=?, attempts=?, next_ts=?, error=?, sent_ts=? "
               "WHERE id=? AND state != 'cancelled'")  # fmt: skip
        args = [(state, attempts, next_ts, error, sent_ts, i) for i in delivery_ids]
        await self._writer.submit(lambda c: c.executemany(sql, args))

    def deliveries(
        self, race_id: str, after_id: int = 0, limit: int = 1000, state: str | None = None
    ) -> list[Delivery]:
        sql = f"SELECT {_COLS} FROM deliveries WHERE race_id=? AND id>?"
        args: list[object] = [race_id, after_id]
        if state is not None:
            sql += " AND state=?"
            args.append(state)
        rows = self._read().execute(sql + " ORDER BY id LIMIT ?", (*args, limit))
        return [_delivery(r) for r in rows]

    def of_incident(self, race_id: str, incident_id: int) -> list[Delivery]:
        rows = self._read().execute(
            f"SELECT {_COLS} FROM deliveries WHERE race_id=? AND incident_id=? ORDER BY id",
            (race_id, incident_id),
        )
        return [_delivery(r) for r in rows]


def _roles(roles: Sequence[str] | None) -> tuple[str, tuple[str, ...]]:
    if roles is None:
        return "", ()
    return f" AND role IN ({','.join('?' * len(roles))})", tuple(roles)


def _delivery(row: tuple[object, ...]) -> Delivery:
    race, incident, n, recipient, role, bib, url, title, body, prio, next_ts, created = row[:12]
    i, state, attempts, sent, error = row[12:]
    return Delivery(
        str(race), int(incident), int(n), str(recipient), str(role), str(bib), str(url),  # type: ignore[call-overload]
        str(title), str(body), int(prio), float(next_ts), float(created), int(i),  # type: ignore[call-overload, arg-type]
        str(state), int(attempts), None if sent is None else float(sent), str(error),  # type: ignore[call-overload, arg-type]
    )  # fmt: skip
