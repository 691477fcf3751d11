"""Race HQ killed mid-race and started again goes on where it was: the same incidents as a
run never stopped (none raised twice, none lost), the ETA and the clock-driven detectors where
they were, late fixes still corrected."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coursewatch.live.server import Server
from coursewatch.protocols import Decoded, Fix
from coursewatch.sim.hq import add_race, hq, stops_as_if_killed
from coursewatch.sim.simulate import simulate_run, trail_course
from coursewatch.store import RunnerRecord

pytestmark = pytest.mark.anyio
START = 1_780_000_000.0
COURSE = trail_course(16_000.0, n_stations=3)
STEP_S = 30.0


def _scenario(batch_n: int = 4) -> list[tuple[float, list[Fix]]]:
    """(server time, fixes sent then; none: a clock tick) of one runner who takes a wrong
    turn at km 2.5, stops 70 min at km 5 (race HQ is told after 60), then goes silent 40 min
    (signal lost; late for the cut-offs) and comes back; a fix every 30 s, sent
    ``batch_n`` at a time."""
    run = simulate_run(COURSE, start_ts=START + 5, interval_s=STEP_S, seed=11,
                       wrong_turn_at_m=2500.0, wrong_turn_angle_deg=80.0)  # fmt: skip
    fixes = [Fix(float(t), float(a), float(b), bib="7")
             for t, a, b in zip(run.time_s, run.lat, run.lon, strict=True)]  # fmt: skip
    detour_m = 2 * 800.0
    stop = next(i for i, f in enumerate(fixes) if (f.time_s - START) * 2.5 > 5000.0 + detour_m)
    gone = next(i for i, f in enumerate(fixes) if (f.time_s - START) * 2.5 > 9000.0 + detour_m)
    here = fixes[stop - 1]
    still = [dataclasses.replace(here, time_s=here.time_s + STEP_S * k) for k in range(1, 141)]
    pause_s = 140 * STEP_S
    later = [dataclasses.replace(f, time_s=f.time_s + pause_s) for f in fixes[stop:gone]]
    silence_s = 40 * 60.0
    back = [dataclasses.replace(f, time_s=f.time_s + pause_s + silence_s) for f in fixes[gone:]]
    sent = [*fixes[:stop], *still, *later]
    steps: list[tuple[float, list[Fix]]] = []
    for i in range(0, len(sent), batch_n):
        batch = sent[i : i + batch_n]
        steps.append((batch[-1].time_s + 5.0, batch))
    t = sent[-1].time_s
    while t < back[0].time_s - 60.0:  # the silence: the clock ticks
        t += 60.0
        steps.append((t, []))
    for i in range(0, len(back), batch_n):
        batch = back[i : i + batch_n]
        steps.append((batch[-1].time_s + 5.0, batch))
    return steps


async def _send(server: Server, now: list[float], at_s: float, fixes: list[Fix]) -> None:
    now[0] = at_s
    if not fixes:
        await server.tick()
        return
    decoded = Decoded()
    for i, f in enumerate(fixes):
        decoded.add(f, i)
    await server.ingest(lambda: decoded, "native", "demo")


def _seen(server: Server) -> list[tuple[Any, ...]]:
    """Every incident as race HQ and the runner saw it: episode, kind, level, each update."""
    return [
        (i.episode, i.kind, i.level, i.open, [(u["kind"], u["time_s"]) for u in i.updates])
        for i in server.incidents("demo", level=None, limit=1000)
    ]


async def _run(
    tmp_path: Path,
    stops: set[int],
    batch_n: int = 4,
    store: str = "",
) -> dict[str, Any]:
    """The scenario, with race HQ killed after each step in ``stops`` (and started again a
    minute later) on ``store`` (the SQLite file in ``tmp_path`` when ""); what it ended
    with."""
    steps = _scenario(batch_n)
    tmp_path.mkdir()
    now = [START]
    server_cm = hq(tmp_path, clock=lambda: now[0], store=store)
    server, _ = await server_cm.__aenter__()
    await add_race(server, tmp_path, COURSE, "demo", START)
    await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
    resumed = []
    try:
        for k, (at_s, fixes) in enumerate(steps):
            await _send(server, now, at_s, fixes)
            if k in stops:
                with stops_as_if_killed():
                    await server_cm.__aexit__(None, None, None)
                now[0] += 60.0
                server_cm = hq(tmp_path, clock=lambda: now[0], store=store)
                server, _ = await server_cm.__aenter__()
                resumed.append(server.resumed["demo"])
        runner = server.runner("demo", "7")
        watch = server._pipeline.watch(server.race("demo")).of(runner)
        targets = [p.distance_m for p in server.race("demo").stations]
        return {
            "incidents": _seen(server),
            "alerts": len(server._store.alerts("demo", limit=10_000)),
            "eta": watch.eta,
            "arrivals": server._pipeline.watch(server.race("demo")).arrivals(runner, targets),
            "status": runner.status,
            "resumed": resumed,
        }
    finally:
        await server_cm.__aexit__(None, None, None)


def _same_eta(a: Any, b: Any) -> bool:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if hasattr(x, "shape"):
            if not (x == y).all():
                return False
        elif not (x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))):
            return False
    return True


async def test_kill_9_anywhere_gives_the_incidents_of_a_run_never_stopped(
    tmp_path: Path, new_store: Callable[[], str]
) -> None:
    whole = await _run(tmp_path / "whole", set(), batch_n=1, store=new_store())
    kinds = {k for _, k, *_ in whole["incidents"]}
    assert {"off_course", "stopped", "signal_lost"} <= kinds, whole["incidents"]
    assert kinds & {"cutoff_risk", "cutoff_missed"}, whole["incidents"]  # (reached late)
    n = len(_scenario(batch_n=1))
    # killed while off course, while stopped (before and after race HQ was told), while silent,
    # right after a state was stored and a fix after it
    stops = {32, 33, 81, 122, 161, 200, 201, n - 60, n - 20}
    killed = await _run(tmp_path / "killed", stops, batch_n=1, store=new_store())
    assert killed["incidents"] == whole["incidents"]
    assert killed["alerts"] == whole["alerts"]
    assert killed["status"] == whole["status"] == "finished"
    assert [r.rebuilt for r in killed["resumed"]] == [0] * len(stops)
    assert sum(r.raised_again for r in killed["resumed"]) == 0
    assert sum(r.replayed_fixes for r in killed["resumed"]) > 0


async def test_the_eta_and_the_detectors_go_on_where_they_were(
    tmp_path: Path,
) -> None:
    """Killed mid-race, between two stored states: the ETA model after the restart is the one
    a server never stopped has (fed the same fixes), to the bit."""
    mid = len(_scenario(1)) // 3
    whole = await _run(tmp_path / "whole", set(), batch_n=1)
    # a state every 60 s of race time, a fix every 30 s: killed after the second of two
    # fixes, the first is played again at the restart
    killed = await _run(tmp_path / "killed", {mid, mid + 1, mid + 2}, batch_n=1)
    assert any(r.replayed_fixes for r in killed["resumed"]), killed["resumed"]
    assert killed["incidents"] == whole["incidents"]
    assert _same_eta(killed["eta"], whole["eta"])
    assert killed["arrivals"] == whole["arrivals"]


async def test_a_stopped_runner_is_not_reported_again_after_a_restart(
    tmp_path: Path,
) -> None:
    """Killed while the runner stands still, after race HQ was told: the stop goes on in its
    incident and their next move closes it; it is never raised a second time."""
    steps = _scenario()
    whole = await _run(tmp_path / "whole", set())
    (stop, *_) = [i for i in whole["incidents"] if i[1] == "stopped"]
    assert [u for u, _ in stop[4]] == ["stopped", "stopped_long", "moving_again"]
    told_s = stop[4][1][1]  # race HQ was told
    told = next(k for k, (at_s, _) in enumerate(steps) if at_s >= told_s)
    killed = await _run(tmp_path / "killed", {told - 10, told + 2, told + 5})
    assert [i for i in killed["incidents"] if i[1] == "stopped"] == [
        i for i in whole["incidents"] if i[1] == "stopped"
    ]


async def test_postgresql_restarted_mid_race_loses_nothing(
    tmp_path: Path, own_postgres: Any
) -> None:
    """PostgreSQL goes away twice mid-race (a fix every 30 s, sent as taken): while the runner
    stands still, and as they go silent. Ingest answers 503 with Retry-After and the tracker
    keeps what it could not send; once the database is back, what it sends again ends in the
    incidents of a run with no outage, and the silence, whose tick could not be stored, is
    raised once, at the first tick after."""
    from coursewatch.sim.hq import admin_headers
    from coursewatch.sim.services import fresh_database
    from coursewatch.store import StoreUnavailable

    steps = _scenario(batch_n=1)
    whole = await _run(tmp_path / "whole", set(), batch_n=1)
    silent = next(k for k, (_, fixes) in enumerate(steps) if not fixes)  # the first tick
    outages = [(100, 125), (silent - 3, silent + 8)]
    now = [START]
    (tmp_path / "out").mkdir()
    url = fresh_database(own_postgres.url)
    async with hq(tmp_path / "out", clock=lambda: now[0], store=url) as (server, client):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        waiting: list[list[Fix]] = []  # what the tracker could not send yet, oldest first
        refused = 0
        for k, (at_s, fixes) in enumerate(steps):
            if k in {down for down, _ in outages}:
                own_postgres.stop()
                r = await client.post("/api/races/demo/fixes", headers=admin_headers(),
                                      json={"fixes": [{"bib": "7", "time": START + 9, "lat": 0.1,
                                                       "lon": 0.1}]})  # fmt: skip
                assert r.status_code == 503 and r.headers["Retry-After"] == "5", r.text
            if k in {up for _, up in outages}:
                own_postgres.start()
            waiting.extend([fixes] if fixes else [])
            try:
                if not fixes:
                    await _send(server, now, at_s, [])  # a tick
                while waiting:
                    await _send(server, now, at_s, waiting[0])
                    waiting.pop(0)
            except StoreUnavailable:
                refused += 1
        assert refused >= sum(up - down for down, up in outages) and not waiting
        assert server._store.fix_count("demo") == sum(len(f) for _, f in steps)
        got = _seen(server)
    signal = [i for i in got if i[1].startswith("signal")]
    assert [i for i in got if i not in signal] == [
        i for i in whole["incidents"] if not i[1].startswith("signal")
    ]
    (was,) = [i for i in whole["incidents"] if i[1].startswith("signal")]
    (now_,) = signal
    assert [u for u, _ in now_[4]] == [u for u, _ in was[4]]
    assert now_[4][0][1] >= steps[outages[1][1]][0] > was[4][0][1]  # when it could be stored


async def test_race_hq_shows_every_runner_as_before_the_kill(tmp_path: Path) -> None:
    """After a kill and a restart, before any new fix: each runner's JSON (what the board,
    the map and the runner page read: status, progress, ETAs, last fix...) is what it was."""
    from coursewatch.live.views import runner_json

    steps = _scenario(batch_n=1)
    now = [START]
    for cut in (60, 190):  # off course after the wrong turn; standing still at km 5
        folder = tmp_path / str(cut)
        folder.mkdir()
        with stops_as_if_killed():
            async with hq(folder, clock=lambda: now[0]) as (server, _):
                await add_race(server, folder, COURSE, "demo", START)
                await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
                for at_s, fixes in steps[:cut]:
                    await _send(server, now, at_s, fixes)
                race = server.race("demo")
                before = runner_json(race, race.runners["7"], now[0], admin=True)
        async with hq(folder, clock=lambda: now[0]) as (server, _):
            race = server.race("demo")
            after = runner_json(race, race.runners["7"], now[0], admin=True)
        assert before["next_station_eta_ts"] is not None and before["finish_eta_ts"] is not None
        assert after == before


async def test_a_batch_sent_again_while_the_first_is_being_stored_is_not_lost(
    tmp_path: Path,
) -> None:
    """A tracker that gave up waiting sends its batch again while the first is still on its
    way to the store, and the first is then refused (a write error): the second, matched
    against fixes that were not stored (taken for duplicates), is refused too, and sent again
    it is stored. (It was answered as stored, and the fixes lost.)"""
    import asyncio
    import threading

    from coursewatch.store import StoreUnavailable

    steps = [s for s in _scenario(batch_n=4) if s[1]][:2]
    now = [START]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        await _send(server, now, *steps[0])
        writer, release = server._store._writer, threading.Event()  # type: ignore[attr-defined]
        real_submit, calls = writer.submit, []

        def held_then_refused(fn: Any, keys: Any = ()) -> Any:
            calls.append(fn)
            if len(calls) > 1:
                return real_submit(fn, keys)

            def write(conn: Any) -> Any:
                release.wait(5.0)  # (the writer's thread: the second batch queues behind)
                raise StoreUnavailable("disk I/O error: send again in a moment")

            return real_submit(write, keys)

        writer.submit = held_then_refused
        first = asyncio.create_task(_send(server, now, *steps[1]))
        await asyncio.sleep(0.05)
        again = asyncio.create_task(_send(server, now, *steps[1]))
        await asyncio.sleep(0.05)
        release.set()
        with pytest.raises(StoreUnavailable):
            await first
        with pytest.raises(StoreUnavailable):
            await again
        await _send(server, now, *steps[1])  # the tracker, after Retry-After
        assert server._store.fix_count("demo") == len(steps[0][1]) + len(steps[1][1])


async def test_a_race_sent_again_with_another_course_keeps_its_runners(tmp_path: Path) -> None:
    """Race HQ corrects the course mid-race: every runner is rebuilt on it from their stored
    fixes, and their trackers' next fixes (by device) are taken and stored (they were lost,
    as unknown, or a 500, until a restart)."""
    from coursewatch.live import read_race_files
    from coursewatch.sim.field import write_race

    steps = [s for s in _scenario(batch_n=4) if s[1]][:6]
    now = [START]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        for at_s, fixes in steps[:3]:
            await _send(server, now, at_s, fixes)
        text, suffix, course, course_suffix = read_race_files(
            write_race(tmp_path / "v2", COURSE, START)
        )
        corrected = course.replace(b"<gpx", b"<!-- v2 --><gpx", 1)
        await server.create_race("demo", text, suffix, corrected, course_suffix)
        for at_s, fixes in steps[3:]:
            by_device = [dataclasses.replace(f, bib=None, device_id="dev-7") for f in fixes]
            now[0] = at_s
            decoded = Decoded()
            for i, f in enumerate(by_device):
                decoded.add(f, i)
            report = await server.ingest(lambda d=decoded: d, "native")  # type: ignore[misc]
            assert report.accepted == len(fixes)
        sent = sum(len(f) for _, f in steps)
        assert server._store.fix_count("demo") == sent
        assert server._registry.races["demo"].runners["7"].fixes == sent


async def test_a_silence_whose_tick_could_not_be_stored_is_raised_at_the_next(
    tmp_path: Path,
) -> None:
    """The tick that finds a runner silent cannot store it (the database away a moment): the
    next tick that can raises it, not a whole silence later (the time away is not counted as
    the runner's, their silence before it is)."""
    from coursewatch.store import StoreUnavailable

    steps = [s for s in _scenario(batch_n=1) if s[1]][:10]
    raised_at: list[float] = []
    now = [START]
    for fail in (False, True):
        now[0] = START
        folder = tmp_path / str(fail)
        folder.mkdir()
        async with hq(folder, clock=lambda: now[0]) as (server, _):
            await add_race(server, folder, COURSE, "demo", START)
            await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
            for at_s, fixes in steps:
                await _send(server, now, at_s, fixes)
            real_save, ticks = server._store.save, [now[0] + 60.0 * k for k in range(1, 12)]
            for at_s in ticks:
                silent = [
                    i for i in server.incidents("demo", level=None) if i.kind.startswith("signal")
                ]
                if silent:
                    break
                if fail and raised_at and at_s == raised_at[0]:  # the tick that would raise it
                    server._store.save = _refusing_once(real_save)  # type: ignore[method-assign]
                    with pytest.raises(StoreUnavailable):
                        await _send(server, now, at_s, [])
                    continue
                await _send(server, now, at_s, [])
            (incident,) = silent
            raised_at.append(incident.updates[0]["time_s"])
    assert raised_at[1] == raised_at[0] + 60.0  # the next tick


def _refusing_once(save: Callable[..., Any]) -> Callable[..., Any]:
    from coursewatch.store import StoreUnavailable

    calls: list[int] = []

    async def away(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise StoreUnavailable("the database went away: send again in a moment")
        return await save(*args, **kwargs)

    return away


def test_a_sigterm_stops_race_hq_as_ctrl_c_does(tmp_path: Path) -> None:
    """systemd and `docker stop` send SIGTERM: uvicorn raised it again, once it had served,
    to the default handler, which ended the process before race HQ's stop. Every runner's
    state was left as last stored (a rehearsal's restart then played 180 fixes again; 0 after
    a Ctrl-C). Now it exits 0 with each runner's state stored at its last fix."""
    import signal
    import sqlite3

    import httpx

    from coursewatch.sim.hq import ADMIN, free_port, start_serve

    port = free_port()
    proc = start_serve(tmp_path, port, ADMIN, tick_s="0")
    url, admin = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {ADMIN}"}
    try:
        from coursewatch.sim.field import course_gpx, write_race

        race_file = write_race(tmp_path / "race", COURSE, START)
        body = {"id": "demo", "race_file": {"text": race_file.read_text(), "suffix": ".yaml"},
                "course_file": {"text": course_gpx(COURSE), "suffix": ".gpx"}}  # fmt: skip
        token = httpx.post(f"{url}/api/races", json=body, headers=admin, timeout=60).json()
        httpx.post(f"{url}/api/races/demo/runners", json={"runners": [{"bib": "7"}]},
                   headers=admin, timeout=30).raise_for_status()  # fmt: skip
        run = simulate_run(COURSE, start_ts=START + 5, interval_s=STEP_S, seed=3)
        fixes = [
            {"bib": "7", "time": float(t), "lat": float(a), "lon": float(b)}
            for t, a, b in zip(run.time_s[:40], run.lat[:40], run.lon[:40], strict=True)
        ]
        ingest = {"Authorization": f"Bearer {token['ingest_token']}"}
        for k in (0, 20):  # the second within 10 s of the first: no state stored with it
            httpx.post(f"{url}/api/races/demo/fixes", json={"fixes": fixes[k : k + 20]},
                       headers=ingest, timeout=30).raise_for_status()  # fmt: skip
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    assert rc == 0, (tmp_path / "serve.log").read_text()
    with sqlite3.connect(tmp_path / "hq.db") as db:
        (stored_s,) = db.execute("SELECT time_s FROM runner_states WHERE bib='7'").fetchone()
    assert stored_s == fixes[-1]["time"]


async def test_a_mass_start_s_runners_are_not_all_frozen_at_the_same_second(
    tmp_path: Path,
) -> None:
    """Work done for each runner every so often of race time, their state (what a restart
    resumes from), their overdue and cut-off checks (a minute) and feeding the ETA model (20
    s: its one-minute segments close as it is fed), is done at a second of their own:
    120 runners who start together, one request a second holding all of them, never have
    more than a few done at once, the gun's second too (the same second for all stalled race
    HQ for as long, every minute), and each runner still has it done every minute."""
    now = [START]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _):
        await add_race(server, tmp_path, COURSE, "demo", START)
        bibs = [str(b) for b in range(120)]
        for bib in bibs:
            await server.put_runner(RunnerRecord("demo", bib, bib, ()))
        done: dict[str, list[tuple[str, float]]] = {"state": [], "checks": [], "eta": []}
        store, watch = server._pipeline.store, server._pipeline.watch(server.race("demo"))
        save, ahead, update = store.save, watch._ahead, watch.model.update

        async def saving(*args: Any, **kwargs: Any) -> Any:
            done["state"] += [(st.bib, st.time_s) for st in kwargs.get("states", ())]
            return await save(*args, **kwargs)

        def checking(runner: Any, w: Any, now_s: float, s: float) -> Any:
            done["checks"].append((runner.bib, now_s))
            return ahead(runner, w, now_s, s)

        def feeding(state: Any, t_s: float, s: float) -> Any:
            if state.fixes:  # (the first fix starts the model; its segments close as fed)
                done["eta"].append(("", t_s))
            return update(state, t_s, s)

        store.save, watch._ahead = saving, checking  # type: ignore[method-assign]
        watch.model.update = feeding  # type: ignore[method-assign]
        for k in range(1, 151):
            lat, lon = COURSE.latlon_at(2.5 * k)
            await _send(server, now, START + k + 1.0,
                        [Fix(START + k, float(lat), float(lon), bib=b) for b in bibs])  # fmt: skip
        racing = {what: got[:] for what, got in done.items()}  # (not the server's stop)
    for what, got in racing.items():
        at_once = Counter(t for _, t in got)
        limit = 16 if what == "eta" else 12  # (fed once in each 20 s, the others 60 s)
        assert max(at_once.values()) <= limit, (what, sorted(at_once.items()))
        if what == "eta":  # (once in 20 s each, after the first)
            assert len(got) >= len(bibs) * 6, len(got)
            continue
        for bib in bibs:
            times = [START, *sorted(t for b, t in got if b == bib)]
            assert max(np.diff(times)) <= 60.0 and times[-1] > START + 90.0, (what, bib, times)
