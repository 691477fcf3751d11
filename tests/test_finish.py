"""A finish race HQ records (a timing mat, a marshal) for a runner whose tracker died short of
the line: they are finished, their open incidents end, nothing more is raised; taken back,
their incidents open again."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from coursewatch.protocols import Decoded, DeviceEvent, Fix
from coursewatch.sim.hq import ADMIN, add_race, hq
from coursewatch.sim.simulate import simulate_run, trail_course
from coursewatch.store import RunnerRecord
from coursewatch.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio
START = 1_780_000_000.0
COURSE = trail_course(12_000.0, n_stations=2)
HEADERS = {"Authorization": f"Bearer {ADMIN}"}
RUNNER = "/api/races/demo/runners/7"


def _died_short(short_m: float) -> list[Fix]:
    """Runner 7's fixes every 30 s until their phone dies ``short_m`` before the line."""
    run = simulate_run(COURSE, start_ts=START + 5, interval_s=30.0, seed=5,
                       stop_at_m=COURSE.length_m - short_m)  # fmt: skip
    return [Fix(float(t), float(a), float(b), bib="7")
            for t, a, b in zip(run.time_s, run.lat, run.lon, strict=True)]  # fmt: skip


async def test_a_finish_race_hq_records_ends_the_race_of_a_runner_whose_phone_died(
    tmp_path: Path,
) -> None:
    fixes = _died_short(400.0)
    last = fixes[-1]
    now = [last.time_s]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, client):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        decoded = Decoded(events=[DeviceEvent(last.time_s, "battery_low", bib="7")])
        for i, f in enumerate(fixes):
            decoded.add(f, i)
        await server.ingest(lambda: decoded, "native", "demo")
        for _ in range(5):
            now[0] += 1800.0
            await server.tick()
        assert not server.runner("demo", "7").finished  # (400 m short at a fix every 30 s)
        was = {i.kind for i in server.incidents("demo", level=None) if i.open}
        assert {"battery_low", "overdue"} <= was, was
        # the timing mat says 7 minutes after the last fix, read off its screen as HH:MM
        crossed = datetime.fromtimestamp(last.time_s + 420.0, UTC)
        r = await client.patch(RUNNER, json={"finish": crossed.strftime("%H:%M")}, headers=HEADERS)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "finished"
        assert body["finish_ts"] == crossed.replace(second=0).timestamp()
        assert body["progress_m"] == round(COURSE.length_m, 1) and body["next_station"] is None
        assert body["finish_eta_ts"] is None
        left = {i.kind: i for i in server.incidents("demo", level=None)}
        assert {k for k, i in left.items() if i.open} == {"battery_low"}, left  # (the device's)
        said = f"Bib 7: finished at {crossed:%H:%M} (recorded by race HQ); this overdue"
        assert left["overdue"].sentence.startswith(said), left["overdue"].sentence
        # their page: the finish among the passes at that time (the fixes end 400 m short)
        page = server.progress("demo", "7")
        assert page["passes"][-1]["label"] == "Finish"
        assert page["passes"][-1]["time_s"] == body["finish_ts"]
        assert page["series"]["progress_m"][-1] == round(COURSE.length_m, 1)
        # registered again with the roster's fields: race HQ's call on race day stands
        r = await client.post("/api/races/demo/runners", json={"bib": "7", "name": "Ann"},
                              headers=HEADERS)  # fmt: skip
        assert r.json()["runners"][0]["status"] == "finished", r.text
        # another time read off the mat: the incidents say that one
        later = datetime.fromtimestamp(body["finish_ts"] + 300.0, UTC)
        r = await client.patch(RUNNER, json={"finish": later.isoformat()}, headers=HEADERS)
        again = {i.kind: i for i in server.incidents("demo", level=None)}["overdue"]
        assert f"finished at {later:%H:%M} (recorded" in again.sentence, again.sentence
        # hours later: nothing more is raised for them (silent, overdue, cut-off)
        n = len(server._store.alerts("demo"))
        for _ in range(4):
            now[0] += 1800.0
            await server.tick()
        assert len(server._store.alerts("demo")) == n
        # a mistake (bib 7 for bib 71) taken back: their incidents are open again
        r = await client.patch(RUNNER, json={"finish": None}, headers=HEADERS)
        assert r.json()["status"] != "finished" and r.json()["finish_ts"] is None
        again = {i.kind for i in server.incidents("demo", level=None) if i.open}
        assert {"battery_low", "overdue"} <= again, again


async def test_a_finish_race_hq_cannot_record_is_refused_with_what_to_do(tmp_path: Path) -> None:
    async with hq(tmp_path, clock=lambda: START + 7200.0) as (server, client):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        for body, words in [
            ({"finish": START - 60.0}, "not after the runner's start"),
            ({"finish": "25:10"}, "not a time of day"),
            ({"finish": "soon"}, "is not a time"),
            ({"finish": START + 3600.0, "dnf": True}, "both finished and out of the race"),
            ({"finish": START + 7200.0 + 3600.0}, "later than now"),
        ]:
            r = await client.patch(RUNNER, json=body, headers=HEADERS)
            error = r.json()["error"]
            assert r.status_code == 422 and error["where"] == "finish", r.text
            assert words in error["message"] and error["hint"], error
        r = await client.patch(RUNNER, json={"finish": START + 3600.0}, headers=HEADERS)
        assert r.json()["status"] == "finished" and r.json()["finish_ts"] == START + 3600.0
        r = await client.patch(RUNNER, json={"dnf": True}, headers=HEADERS)  # finished: no DNF
        assert r.status_code == 422 and "finish" in r.json()["error"]["hint"], r.text


async def test_a_finish_a_minute_ahead_of_race_hqs_clock_is_todays(tmp_path: Path) -> None:
    """On the race's second day, a timing mat's clock a minute ahead of race HQ's: the finish
    typed as HH:MM was recorded a day early (yesterday's was the latest before now)."""
    now = START + 26 * 3600.0
    async with hq(tmp_path, clock=lambda: now) as (server, client):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        ahead = datetime.fromtimestamp(now + 60.0, UTC).strftime("%H:%M")
        r = await client.patch(RUNNER, json={"finish": ahead}, headers=HEADERS)
        assert r.json()["finish_ts"] == pytest.approx(now + 60.0, abs=60.0), r.text


async def test_a_database_from_before_recorded_finishes_gains_the_column(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "hq.db")
    db.execute(
        "CREATE TABLE runners (race_id TEXT NOT NULL, bib TEXT NOT NULL, name TEXT NOT NULL, "
        "start_ts REAL, dnf INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (race_id, bib))"
    )
    db.execute("INSERT INTO runners VALUES ('demo', '7', 'Ann', NULL, 0)")
    db.commit()
    db.close()
    store = SqliteStore(tmp_path / "hq.db")
    await store.start()
    try:
        assert store.runners("demo") == [RunnerRecord("demo", "7", "Ann")]
        await store.put_runner(RunnerRecord("demo", "7", "Ann", finish_ts=START + 3600.0))
        assert store.runners("demo")[0].finish_ts == START + 3600.0
    finally:
        await store.close()


async def test_a_runner_who_turned_back_has_no_station_both_passed_and_ahead(
    tmp_path: Path,
) -> None:
    """A runner past the first aid station turns round and walks back towards it (to drop
    out, say): their page listed that station among the passes and, with an ETA, ahead."""
    async with hq(tmp_path, clock=lambda: START + 7200.0) as (server, _):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        aid_m = server.race("demo").stations[1].distance_m
        out = np.arange(0.0, aid_m + 1500.0, 75.0)
        s = np.concatenate([out, out[::-1][1:][: int(2000 / 75)]])
        lat, lon = COURSE.latlon_at(s)
        decoded = Decoded()
        for i, (a, b) in enumerate(zip(lat, lon, strict=True)):
            decoded.add(Fix(START + 30.0 * (i + 1), float(a), float(b), bib="7"), i)
        await server.ingest(lambda: decoded, "native", "demo")
        page = server.progress("demo", "7")
        passed = [p["label"] for p in page["passes"]]
        ahead = [e["label"] for e in page["etas"]]
        assert server.race("demo").stations[1].label in passed, page["passes"]
        assert not set(passed) & set(ahead), (passed, ahead)
        assert ahead, page  # (the stations after it are still ahead)


async def test_a_tracker_first_heard_past_a_station_lists_the_stations_it_passed(
    tmp_path: Path,
) -> None:
    """A tracker switched on 2 km past the first aid station, an hour in: the runner's page
    lists the stations passed since (the first aid station, passed before it was heard, has
    no time: it read the first fix's; now it must not hide the passes after it)."""
    async with hq(tmp_path, clock=lambda: START + 4 * 3600.0) as (server, _):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        stations = server.race("demo").stations
        aid_m, next_m = stations[1].distance_m, stations[2].distance_m
        s = np.arange(aid_m + 2000.0, next_m + 500.0, 75.0)
        lat, lon = COURSE.latlon_at(s)
        decoded = Decoded()
        for i, (a, b) in enumerate(zip(lat, lon, strict=True)):
            decoded.add(Fix(START + 3600.0 + 30.0 * i, float(a), float(b), bib="7"), i)
        await server.ingest(lambda: decoded, "native", "demo")
        passed = [p["label"] for p in server.progress("demo", "7")["passes"]]
        assert stations[2].label in passed and stations[1].label not in passed, passed
