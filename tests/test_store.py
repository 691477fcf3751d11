"""The store, on SQLite and on PostgreSQL: one writer with group commits, idempotent fixes,
events raised again, one incident per runner episode, runner states."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from coursewatch.incidents import rule
from coursewatch.store import (
    AlertRecord,
    FixRow,
    RaceRecord,
    RunnerRecord,
    RunnerState,
    Store,
    StoreError,
    open_store,
)
from coursewatch.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio


def _fix(t: float, bib: str = "7") -> FixRow:
    return FixRow("r", bib, t, 45.0, 6.0, None, None, None, None, None, 0.0, "test")


def _alert(kind: str, t: float, raised: float) -> AlertRecord:
    return AlertRecord("r", "7", kind, t, 45.0, 6.0, 100.0, 60.0, "sentence", {}, raised)


async def _store(tmp_path: Path, url: str = "") -> Store:
    store = open_store(url, tmp_path / "s.db")
    await store.start()
    await store.put_race(RaceRecord("r", "R", "x", ".yaml", b"c", ".gpx", 0.0, "tok"))
    await store.put_runner(RunnerRecord("r", "7", "Ann", ("d7",)))
    return store


async def test_fixes_are_idempotent_and_durable(tmp_path: Path, store_url: str) -> None:
    store = await _store(tmp_path, store_url)
    await store.save([_fix(1.0), _fix(2.0)], [])
    await store.save([_fix(2.0), _fix(3.0)], [])
    assert store.fixes("r", "7").time_s.tolist() == [1.0, 2.0, 3.0]
    # A second connection (another process) sees every acknowledged write.
    if store_url:
        import psycopg

        with psycopg.connect(store_url) as pg:
            assert pg.execute("SELECT count(*) FROM fixes").fetchone() == (3,)
    else:
        with sqlite3.connect(tmp_path / "s.db") as other:
            assert other.execute("SELECT count(*) FROM fixes").fetchone()[0] == 3
            assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    await store.close()


async def test_a_big_batch_keeps_the_first_of_a_repeated_time(
    tmp_path: Path, store_url: str
) -> None:
    store = await _store(tmp_path, store_url)
    rows = [_fix(float(i)) for i in range(1234)]  # several many-row statements and the rest
    rows.insert(700, FixRow("r", "7", 3.0, 46.0, 7.0, None, None, None, None, None, 0.0, "x"))
    rows.append(FixRow("r", "7", 1200.0, 46.0, 7.0, None, None, None, None, None, 0.0, "x"))
    await store.save(rows, [])
    got = store.fixes("r", "7")
    assert got.time_s.tolist() == [float(i) for i in range(1234)]
    assert set(got.lat.tolist()) == {45.0}
    await store.close()


async def test_concurrent_writes_are_grouped_and_one_failure_stays_alone(
    tmp_path: Path, store_url: str
) -> None:
    store = await _store(tmp_path, store_url)
    commits = store._writer.commits
    bad = RunnerRecord("r", "8", "Ben", ("d7",))  # d7 belongs to bib 7
    results = await asyncio.gather(
        *(store.save([_fix(float(i))], []) for i in range(50)),
        store.put_runner(bad),
        return_exceptions=True,
    )
    assert isinstance(results[-1], StoreError)
    assert not any(isinstance(r, Exception) for r in results[:-1])
    assert store.fix_count("r") == 50
    assert store._writer.commits - commits < 51  # grouped
    assert [(r.bib, r.devices) for r in store.runners("r")] == [("7", ("d7",))]
    await store.close()


async def test_a_write_that_returns_a_cursor_never_hands_it_to_the_event_loop(
    tmp_path: Path, store_url: str
) -> None:
    """Four webhooks marking their calls with the same statement: a cursor dropped on the event
    loop's thread reset that cached statement while the writer ran it ("bad parameter or other
    API misuse", a failed write, CI of stop 39)."""
    store = await _store(tmp_path, store_url)
    sql = "UPDATE meta SET value=? WHERE key=?"
    await store.set_meta("k", "0")

    async def marks(k: int) -> list[object]:
        rows = [(str(k), "k")] * 2
        return [await store._writer.submit(lambda c: c.executemany(sql, rows)) for _ in range(250)]

    results = await asyncio.gather(*(marks(k) for k in range(8)), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)]
    assert {x for r in results if isinstance(r, list) for x in r} == {None}
    await store.close()


def _event(kind: str, t: float, episode: str = "course:10") -> AlertRecord:
    does = rule(kind)
    return AlertRecord(
        "r", "7", kind, t, 45.0, 6.0, 100.0, 60.0, f"{kind} at {t:g}", {}, t,
        episode=episode, level=does.level, closes=does.closes, names=does.names,
    )  # fmt: skip


async def test_retracted_alerts_come_back_when_raised_again(tmp_path: Path, store_url: str) -> None:
    store = await _store(tmp_path, store_url)
    first = await store.save([], [_alert("off_course", 10.0, 12.0), _alert("shortcut", 20, 22)])
    assert len(first.new) == 2
    # A replay from t=11 raises the off-course alert again but not the shortcut.
    again = await store.save([], [_alert("off_course", 10.0, 12.0)], [("r", "7", 11.0)])
    assert again.new == [] and [a.kind for a in again.known] == ["off_course"]
    assert again.retracted == [first.new[1].id]
    live = [a.kind for a in store.alerts("r") if not a.retracted]
    assert live == ["off_course"]
    await store.close()


async def test_one_incident_per_episode_updated_in_place_and_acknowledged_once(
    tmp_path: Path,
) -> None:
    store = await _store(tmp_path)
    flagged = await store.save([], [_event("off_course", 10.0)])
    (inc,) = flagged.incidents
    assert (inc.kind, inc.level, inc.open) == ("off_course", "flag", True)
    assert store.incidents("r", level="alert") == []
    confirmed = await store.save([], [_event("alert", 30.0)])
    assert [(i.id, i.level, i.kind) for i in confirmed.incidents] == [
        (inc.id, "alert", "off_course")
    ]
    acked = await store.ack_incident("r", inc.id, "Zoe", 40.0)
    assert acked is not None and acked.ack_by == "Zoe"
    # renamed while open (far from the course, on its own rule): race HQ is told again
    far = await store.save([], [_event("far_from_course", 45.0)])
    assert [(i.id, i.kind, i.ack_by) for i in far.incidents] == [(inc.id, "far_from_course", None)]
    await store.ack_incident("r", inc.id, "Zoe", 46.0)
    # the shortcut renames it and closes it; the acknowledgement stays
    done = await store.save([], [_event("shortcut", 50.0)])
    (closed,) = done.incidents
    assert (closed.id, closed.kind, closed.open, closed.closed_s) == (
        inc.id,
        "shortcut",
        False,
        50.0,
    )
    assert closed.ack_by == "Zoe" and [u["kind"] for u in closed.updates] == [
        "off_course", "alert", "far_from_course", "shortcut"]  # fmt: skip
    assert closed.sentence == "shortcut at 50"
    # a clock-driven episode is another incident
    await store.save([], [_event("stopped", 60.0, "stopped:55")])
    assert [i.kind for i in store.incidents("r")] == ["shortcut", "stopped"]
    # a replay from t=20 takes the confirmation back: a flag again, open; from 5, gone
    back = await store.save([], [], [("r", "7", 20.0)])
    assert [(i.level, i.open) for i in back.incidents] == [("flag", True)]
    gone = await store.save([], [], [("r", "7", 5.0)])
    assert [i.retracted for i in gone.incidents] == [True]
    assert await store.ack_incident("r", 999, "Zoe", 1.0) is None
    await store.close()


async def test_an_incident_withdrawn_and_raised_again_is_news(
    tmp_path: Path, store_url: str
) -> None:
    """A late fix takes an incident back (its recipients are told "withdrawn"), a later one
    raises it again at the same time: it comes back as a new event, unacknowledged, so that
    the notifications (keyed by the newest event) and the event streams tell it again. It
    kept its old id and acknowledgement: nobody was told it was back."""
    store = await _store(tmp_path, store_url)
    first = await store.save([], [_event("off_course", 10.0), _event("alert", 30.0)])
    (inc,) = first.incidents
    await store.ack_incident("r", inc.id, "Zoe", 40.0)
    gone = await store.save([], [], [("r", "7", 5.0)])
    assert [i.retracted for i in gone.incidents] == [True]
    back = await store.save([], [_event("off_course", 10.0), _event("alert", 30.0)])
    old_ids = {a.id for a in first.new}
    assert len(back.new) == 2 and not {a.id for a in back.new} & old_ids
    (again,) = back.incidents
    assert (again.id, again.retracted, again.ack_by) == (inc.id, False, None)
    assert {u["id"] for u in again.updates} == {a.id for a in back.new}
    # a replay in one go (retracted and raised again together) keeps them as they are
    replay = await store.save([], [_event("off_course", 10.0)], [("r", "7", 5.0)])
    assert replay.new == [] and [a.id for a in replay.known] == [back.new[0].id]
    await store.close()


async def test_a_database_from_before_incidents_gets_one_per_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also when the first migration was cut short (killed after adding the columns): all of
    it or nothing, so the next start migrates it whole."""
    from coursewatch.store import incidents

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE alerts (id INTEGER PRIMARY KEY AUTOINCREMENT, race_id TEXT NOT NULL,"
            " bib TEXT NOT NULL, kind TEXT NOT NULL, time_s REAL NOT NULL, lat REAL NOT NULL,"
            " lon REAL NOT NULL, course_m REAL, offset_m REAL, sentence TEXT NOT NULL,"
            " detail TEXT NOT NULL, raised_s REAL NOT NULL, ack_by TEXT, ack_ts REAL,"
            " retracted INTEGER NOT NULL DEFAULT 0, UNIQUE (race_id, bib, kind, time_s))"
        )
        for i, kind in enumerate(("off_course", "back_on_course")):
            old.execute(
                "INSERT INTO alerts (race_id, bib, kind, time_s, lat, lon, sentence, detail,"
                " raised_s) VALUES ('r', '7', ?, ?, 45, 6, 's', '{}', 0)",
                (kind, float(i)),
            )
        old.execute("UPDATE alerts SET ack_by='Zoe', ack_ts=5 WHERE kind='off_course'")

    def killed(*args: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(incidents, "fold", killed)
        with pytest.raises(KeyboardInterrupt):
            await SqliteStore(path).start()
    store = SqliteStore(path)
    await store.start()
    got = [(i.kind, i.level, i.open, i.ack_by) for i in store.incidents("r")]
    assert got == [("off_course", "alert", False, "Zoe"), ("back_on_course", "alert", False, None)]
    await store.close()


async def test_counts_and_unknown_devices(tmp_path: Path, store_url: str) -> None:
    store = await _store(tmp_path, store_url)
    await store.count("r", {"accepted": 3, "duplicate": 1})
    await store.count("r", {"accepted": 2})
    assert store.counts("r") == {"accepted": 5, "duplicate": 1}
    await store.note_unknown_device("zz", "osmand", 5.0)
    await store.note_unknown_device("zz", "osmand", 6.0)
    assert store.unknown_devices() == [("zz", "osmand", 2, 6.0)]
    await store.close()


async def test_runner_states_replace_the_last_and_survive_a_restart(
    tmp_path: Path, store_url: str
) -> None:
    store = await _store(tmp_path, store_url)
    nan = '{"x": NaN}'
    await store.save([_fix(1.0)], [], states=[RunnerState("r", "7", 1.0, nan)])
    await store.save([_fix(2.0)], [], states=[RunnerState("r", "7", 2.0, '{"x": 2}')])
    await store.close()
    store = open_store(store_url, tmp_path / "s.db")
    await store.start()
    assert store.runner_states("r") == {"7": RunnerState("r", "7", 2.0, '{"x": 2}')}
    assert [r.time_s for r in store.fix_rows("r", "7", 1.0)] == [2.0]
    hook = await store.add_webhook("r", "https://example.org/h", "s")
    assert store.webhooks("r") == [hook] and hook.id >= 1
    await store.close()


def test_a_postgresql_that_stops_answering_fails_a_write_in_time(postgres_server: str) -> None:
    """A lock held elsewhere (or a server that stops answering) fails a statement after its
    limit with StoreUnavailable (503, send again), never holds the writer for ever."""
    import time

    from coursewatch.sim.services import fresh_database
    from coursewatch.store import StoreUnavailable
    from coursewatch.store.postgres import connect, migrate

    url = fresh_database(postgres_server)
    holder, writer = connect(url), connect(url, statement_s=0.5)
    migrate(holder)
    holder.execute("BEGIN")
    holder.execute("LOCK TABLE fixes IN ACCESS EXCLUSIVE MODE")
    try:
        began = time.monotonic()
        with pytest.raises(StoreUnavailable):
            writer.execute("SELECT count(*) FROM fixes")
        assert time.monotonic() - began < 5.0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        writer.close()


def test_a_full_disk_is_a_store_away_not_an_error_of_the_request() -> None:
    """SQLite's disk full or I/O error: 503 and send again (a tracker keeps its fixes), not
    a 500; a mistake in SQL stays what it is."""
    from coursewatch.store import StoreUnavailable
    from coursewatch.store.writer import _away

    assert isinstance(_away(sqlite3.OperationalError("database or disk is full")), StoreUnavailable)
    assert isinstance(_away(sqlite3.OperationalError("disk I/O error")), StoreUnavailable)
    mistake = sqlite3.OperationalError("no such table: fixs")
    assert _away(mistake) is mistake
