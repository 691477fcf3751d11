"""Events and the incidents they fold into, in SQL: the rows, and the fold.

Every event a detector raised is a row of ``alerts`` (kept, retracted when a replay no
longer raises it); each runner episode's live events fold into one row of ``incidents``,
updated in place (:mod:`coursewatch.incidents` says what each event does to it). Called
inside the one writer's transactions (:mod:`coursewatch.store.sql`).
"""

from __future__ import annotations

import json

from coursewatch.incidents import ALERT, rule
from coursewatch.store import AlertRecord, Incident
from coursewatch.store.conn import Conn

EVENT_COLS = (
    "id, race_id, bib, kind, time_s, lat, lon, course_m, offset_m, sentence, detail, raised_s, "
    "ack_by, ack_ts, retracted, episode, level, closes, names"
)
INCIDENT_COLS = (
    "id, race_id, bib, episode, kind, level, open, opened_s, updated_s, closed_s, lat, lon, "
    "course_m, offset_m, sentence, updates, ack_by, ack_ts, retracted"
)
_SAME = "incidents.level=excluded.level AND (incidents.kind=excluded.kind OR excluded.open=0)"
# events of a database made before incidents: one incident each (the columns they lack)
EVENT_COLUMNS = (
    ("episode", "TEXT NOT NULL DEFAULT ''"), ("level", "TEXT NOT NULL DEFAULT 'flag'"),
    ("closes", "INTEGER NOT NULL DEFAULT 0"), ("names", "TEXT"),
)  # fmt: skip


def upsert_event(c: Conn, a: AlertRecord, kept: set[int]) -> tuple[AlertRecord, bool]:
    """Insert an alert, or revive the one of the same runner, kind and time.

    Also says whether that one existed, unretracted, before. ``kept``: the events this
    transaction retracted (a replay raising them again keeps them); one retracted by an
    earlier one comes back as a new event, with a new id: whoever was told it was withdrawn
    (a message, an event stream's cursor) is told it is back.
    """
    key = (a.race_id, a.bib, a.kind, a.time_s)
    where = "race_id=? AND bib=? AND kind=? AND time_s=?"
    existed = c.execute(f"SELECT id, retracted FROM alerts WHERE {where}", key).fetchone()
    if existed is not None and existed[1] and int(existed[0]) not in kept:
        c.execute("DELETE FROM alerts WHERE id=?", (existed[0],))
        existed = None
    c.execute(
        "INSERT INTO alerts (race_id, bib, kind, time_s, lat, lon, course_m, offset_m, sentence,"
        " detail, raised_s, episode, level, closes, names) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(race_id, bib, kind, time_s)"
        " DO UPDATE SET retracted=0, lat=excluded.lat, lon=excluded.lon,"
        " course_m=excluded.course_m, offset_m=excluded.offset_m, sentence=excluded.sentence,"
        " detail=excluded.detail, raised_s=excluded.raised_s, episode=excluded.episode,"
        " level=excluded.level, closes=excluded.closes, names=excluded.names",
        (*key, a.lat, a.lon, a.course_m, a.offset_m, a.sentence, json.dumps(dict(a.detail)),
         a.raised_s, a.episode, a.level, int(a.closes), a.names),
    )  # fmt: skip
    row = c.execute(f"SELECT {EVENT_COLS} FROM alerts WHERE {where}", key).fetchone()
    return event(row), existed is not None and existed[1] == 0


def event(row: tuple[object, ...]) -> AlertRecord:
    i, race, bib, kind, t, lat, lon, s, off, sentence, detail, raised, by, ack, retracted = row[:15]
    episode, level, closes, names = row[15:]
    return AlertRecord(
        race_id=str(race),
        bib=str(bib),
        kind=str(kind),
        time_s=float(t),  # type: ignore[arg-type]
        lat=float(lat),  # type: ignore[arg-type]
        lon=float(lon),  # type: ignore[arg-type]
        course_m=None if s is None else float(s),  # type: ignore[arg-type]
        offset_m=None if off is None else float(off),  # type: ignore[arg-type]
        sentence=str(sentence),
        detail=json.loads(str(detail)),
        raised_s=float(raised),  # type: ignore[arg-type]
        id=int(i),  # type: ignore[call-overload]
        ack_by=None if by is None else str(by),
        ack_ts=None if ack is None else float(ack),  # type: ignore[arg-type]
        retracted=bool(retracted),
        episode=str(episode),
        level=str(level),
        closes=bool(closes),
        names=None if names is None else str(names),
    )


def fold(c: Conn, key: tuple[str, str, str]) -> Incident | None:
    """Fold an episode's live events into its incident (made, updated in place, or gone when
    a replay took every event back); returns it, None when it never existed."""
    rows = c.execute(
        f"SELECT {EVENT_COLS} FROM alerts WHERE race_id=? AND bib=? AND episode=? "
        "AND retracted=0 ORDER BY time_s, id",
        key,
    ).fetchall()
    where = "race_id=? AND bib=? AND episode=?"
    if not rows:
        c.execute(f"UPDATE incidents SET retracted=1 WHERE {where}", key)
        gone = c.execute(f"SELECT {INCIDENT_COLS} FROM incidents WHERE {where}", key).fetchone()
        return None if gone is None else incident(gone)
    events = [event(r) for r in rows]
    first, last = events[0], events[-1]
    names = [e.names for e in events if e.names]
    kind = names[-1] if names else first.kind
    level = ALERT if any(e.level == ALERT for e in events) else events[0].level
    updates = [update(e) for e in events]
    closing = next((e for e in events if e.closes), None)  # an episode ended stays ended
    c.execute(
        "INSERT INTO incidents (race_id, bib, episode, kind, level, open, opened_s, updated_s,"
        " closed_s, lat, lon, course_m, offset_m, sentence, updates)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(race_id, bib, episode) DO UPDATE SET"
        # what was acknowledged is not what it became: raised to race HQ, or renamed while
        # still open (silent, then overdue): told again
        # withdrawn and back, likewise
        f" ack_by=CASE WHEN {_SAME} AND incidents.retracted=0 THEN incidents.ack_by END,"
        f" ack_ts=CASE WHEN {_SAME} AND incidents.retracted=0 THEN incidents.ack_ts END,"
        " kind=excluded.kind, level=excluded.level, open=excluded.open,"
        " opened_s=excluded.opened_s, updated_s=excluded.updated_s, closed_s=excluded.closed_s,"
        " lat=excluded.lat, lon=excluded.lon, course_m=excluded.course_m,"
        " offset_m=excluded.offset_m, sentence=excluded.sentence, updates=excluded.updates,"
        " retracted=0",
        (*key, kind, level, int(closing is None), first.time_s, last.time_s,
         None if closing is None else closing.time_s, last.lat, last.lon, last.course_m,
         last.offset_m, last.sentence, json.dumps(updates)),
    )  # fmt: skip
    row = c.execute(f"SELECT {INCIDENT_COLS} FROM incidents WHERE {where}", key).fetchone()
    return incident(row)


def update(e: AlertRecord) -> dict[str, object]:
    """An event as its incident lists it; where the runner left the course, when it says."""
    out: dict[str, object] = {"id": e.id, "kind": e.kind, "time_s": e.time_s, "level": e.level,
                              "sentence": e.sentence}  # fmt: skip
    left = e.detail.get("left")
    if isinstance(left, dict):
        out["left"] = {k: left.get(k) for k in ("lat", "lon", "course_m", "time_s")}
    if e.detail.get("station"):  # the station a runner's news says they passed
        out["station"] = e.detail["station"]
    out.update((k, e.detail[k]) for k in ("next_m", "eta_s") if k in e.detail)  # (its ETA)
    return out


def incident(row: tuple[object, ...]) -> Incident:
    (i, race, bib, episode, kind, level, is_open, opened, updated, closed, lat, lon, s, off,
     sentence, updates, by, ack, retracted) = row  # fmt: skip
    return Incident(
        id=int(i),  # type: ignore[call-overload]
        race_id=str(race),
        bib=str(bib),
        episode=str(episode),
        kind=str(kind),
        level=str(level),
        open=bool(is_open),
        opened_s=float(opened),  # type: ignore[arg-type]
        updated_s=float(updated),  # type: ignore[arg-type]
        closed_s=None if closed is None else float(closed),  # type: ignore[arg-type]
        lat=float(lat),  # type: ignore[arg-type]
        lon=float(lon),  # type: ignore[arg-type]
        course_m=None if s is None else float(s),  # type: ignore[arg-type]
        offset_m=None if off is None else float(off),  # type: ignore[arg-type]
        sentence=str(sentence),
        updates=tuple(json.loads(str(updates))),
        ack_by=None if by is None else str(by),
        ack_ts=None if ack is None else float(ack),  # type: ignore[arg-type]
        retracted=bool(retracted),
    )


def migrate_events(conn: Conn) -> None:
    """A database made before incidents: its events gain their columns, and each becomes one
    incident, as race HQ saw it then: history now (closed), acknowledged as it was."""
    have = {str(r[1]) for r in conn.execute("PRAGMA table_info(alerts)")}
    missing = [(name, decl) for name, decl in EVENT_COLUMNS if name not in have]
    for name, decl in missing:
        conn.execute(f"ALTER TABLE alerts ADD COLUMN {name} {decl}")
    if not missing:
        return
    for (kind,) in conn.execute("SELECT DISTINCT kind FROM alerts").fetchall():
        conn.execute(
            "UPDATE alerts SET episode = 'legacy:' || id, level = ?, closes = 1, names = ?"
            " WHERE kind = ? AND episode = ''",
            (ALERT, rule(str(kind)).names, kind),
        )
    keys = conn.execute(
        "SELECT race_id, bib, episode FROM alerts GROUP BY race_id, bib, episode ORDER BY min(id)"
    ).fetchall()
    for race_id, bib, episode in keys:
        fold(conn, (str(race_id), str(bib), str(episode)))
    conn.execute(
        "UPDATE incidents SET (ack_by, ack_ts) = (SELECT ack_by, ack_ts FROM alerts"
        " WHERE alerts.race_id = incidents.race_id AND alerts.bib = incidents.bib"
        " AND alerts.episode = incidents.episode) WHERE episode LIKE 'legacy:%'"
    )
