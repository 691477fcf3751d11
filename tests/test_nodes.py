"""Race HQ on several machines: a web node, matcher workers and a Redis bus (real
``redis-server`` and PostgreSQL, on loopback). A worker killed mid-race has its runners taken
by the other, and the incidents are those of one server that was never stopped."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_sync
from test_restart import COURSE, START, _run, _scenario, _send

from coursewatch.bus.partitions import GROUP, partition, stream_key
from coursewatch.live.node import WEB
from coursewatch.live.server import Server
from coursewatch.live.worker import Worker
from coursewatch.protocols import Decoded, Fix
from coursewatch.settings import load_settings
from coursewatch.sim.hq import ADMIN, add_race
from coursewatch.sim.services import ServiceMissing, fresh_database
from coursewatch.store import RunnerRecord

pytestmark = pytest.mark.anyio
LEASE_S = 1.0


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A redis-server of the test run's own (scripts/test.sh installs the package)."""
    import os

    from coursewatch.sim.services import redis_server

    try:
        with redis_server() as server:
            yield server.url
    except ServiceMissing as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture
def bus_url(redis_url: str) -> str:
    redis_sync.Redis.from_url(redis_url).flushdb()
    return redis_url


def _settings(tmp_path: Path, store: str, bus: str) -> Any:
    return dataclasses.replace(load_settings(), db_path=tmp_path / "hq.db", store=store,
                               bus=bus, admin_token=ADMIN, tick_s=0.0)  # fmt: skip


async def _kill(w: Worker) -> None:
    """As kill -9 leaves it: nothing given back, nothing stored on the way out."""
    bus = w.server.redis_bus
    assert bus is not None
    for task in [*w._tasks, *bus._tasks]:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await bus.redis.aclose()
    await w.server._store.close()


async def _until(test: Any, timeout_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not test():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_loop_calling_redis_stops_when_cancelled_at_any_moment(bus_url: str) -> None:
    """redis-py swallows a cancellation that comes in the middle of a pipeline now and then
    (about 1 in 60 here) and returns: a worker's loop went on, and its stop waited for ever
    (CI hung 90 minutes in the test below). Every loop that calls Redis checks at each turn."""
    import random

    from coursewatch.bus.redis import connect, stop_if_cancelled

    redis = connect(bus_url)

    async def beat() -> None:
        while True:
            stop_if_cancelled()
            await redis.time()
            async with redis.pipeline(transaction=False) as pipe:
                for k in range(20):
                    pipe.set(f"cw:test:{k}", "v", px=5000)
                await pipe.execute()

    try:
        for _ in range(600):
            task = asyncio.create_task(beat())
            await asyncio.sleep(random.random() * 0.002)
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=2.0)
            assert done and task.cancelled(), "a cancelled loop went on"
    finally:
        await redis.aclose()


async def test_a_worker_killed_mid_race_is_taken_over_and_nothing_changes(
    tmp_path: Path, postgres_server: str, bus_url: str
) -> None:
    whole = await _run(tmp_path / "whole", set(), batch_n=1, store=fresh_database(postgres_server))
    steps = _scenario(batch_n=1)
    now = [START]
    settings = _settings(tmp_path, fresh_database(postgres_server), bus_url)
    web = Server(settings, clock=lambda: now[0])
    assert web.role == WEB
    workers = [Worker(settings, f"w{k}", lambda: now[0], lease_s=LEASE_S) for k in (1, 2)]
    await web.start()
    for w in workers:
        await w.start()
    try:
        (tmp_path / "race").mkdir()
        from test_restart import COURSE

        await add_race(web, tmp_path / "race", COURSE, "demo", START)
        await web.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        p = partition("demo", "7")
        await _until(lambda: all(len(w.ready) == 8 for w in workers))  # shared out
        holder = next(w for w in workers if p in w.ready)
        other = next(w for w in workers if w is not holder)
        await _until(lambda: other.server.knows("demo", "7"))
        kill_at = len(steps) // 3
        for k, (at_s, fixes) in enumerate(steps):
            now[0] = at_s
            live = [w for w in workers if w is not holder or k <= kill_at]
            if not fixes:
                for w in live:
                    await w.server.tick()
                continue
            decoded = Decoded()
            for i, f in enumerate(fixes):
                decoded.add(f, i)
            played = sum(w.played for w in live)
            if k == kill_at:  # killed with this request read and not stored
                holder._tasks[2].cancel()  # its reading stops: the read below is its last
                with contextlib.suppress(asyncio.CancelledError):
                    await holder._tasks[2]
                report = await web.ingest(lambda d=decoded: d, "native", "demo")  # type: ignore[misc]
                await holder.redis.xreadgroup(GROUP, holder.name, {stream_key(p): ">"})
                pending = await holder.redis.xpending(stream_key(p), GROUP)
                assert pending["consumers"] == [{"name": holder.name.encode(), "pending": 1}]
                await _kill(holder)
                await _until(lambda: p in other.ready, timeout_s=3 * LEASE_S + 5)
                took = next(t for t in reversed(other.took) if p in t.partitions)
                assert (took.runners, took.claimed) == (1, 1), took  # (only runner, only entry)
                continue
            report = await web.ingest(lambda d=decoded: d, "native", "demo")  # type: ignore[misc]
            assert report.accepted == len(fixes)
            await _until(lambda n=played, ws=live: sum(w.played for w in ws) > n)
        seen = [
            (i.episode, i.kind, i.level, i.open, [(u["kind"], u["time_s"]) for u in i.updates])
            for i in web.incidents("demo", level=None, limit=1000)
        ]
        assert seen == whole["incidents"]
        # the web node shows the runner as the workers left them
        transport = httpx.ASGITransport(app=_app(web))
        async with httpx.AsyncClient(transport=transport, base_url="http://hq") as client:
            got = await client.get("/api/races/demo/runners",
                                   headers={"Authorization": f"Bearer {ADMIN}"})  # fmt: skip
            shown = got.json()["runners"][0]
            assert shown["fixes"] == other.server.runner("demo", "7").fixes
            assert shown["status"] == whole["status"]
            # and its splits as the worker last stored them
            got = await client.get("/api/races/demo/splits",
                                   headers={"Authorization": f"Bearer {ADMIN}"})  # fmt: skip
            [row] = got.json()["runners"]
            assert row["status"] == ("finished" if shown["status"] == "finished" else "running")
            kept = other.server.race("demo").passes.splits["7"].tolist()
            passed = [(i, t) for i, t in enumerate(row["elapsed_s"]) if t is not None]
            assert passed and all(t == pytest.approx(kept[i], abs=0.1) for i, t in passed), row
    finally:
        for w in workers:
            with contextlib.suppress(Exception):
                await w.stop()
        await web.stop()


@contextlib.asynccontextmanager
async def _web_and_worker(
    tmp_path: Path, postgres: str, bus_url: str, clock: Any = time.time
) -> AsyncIterator[tuple[Server, Worker]]:
    """A web node and one worker holding every partition, race "demo" with runner 7."""
    settings = _settings(tmp_path, fresh_database(postgres), bus_url)
    web = Server(settings, clock=clock)
    worker = Worker(settings, "w1", clock, lease_s=LEASE_S)
    await web.start()
    await worker.start()
    try:
        (tmp_path / "race").mkdir()
        await add_race(web, tmp_path / "race", COURSE, "demo", START)
        await web.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        await _until(lambda: len(worker.ready) == 16 and worker.server.knows("demo", "7"))
        yield web, worker
    finally:
        with contextlib.suppress(Exception):
            await worker.stop()
        await web.stop()


def _app(server: Server) -> Any:
    from coursewatch.web.app import create_app

    return create_app(server, manage=False)


async def test_redis_down_answers_503_and_loses_nothing_once_back(
    tmp_path: Path, postgres_server: str
) -> None:
    from test_restart import COURSE

    from coursewatch.sim.services import Redis
    from coursewatch.sim.simulate import simulate_run

    rs = Redis(tmp_path)
    rs.start()
    settings = _settings(tmp_path, fresh_database(postgres_server), rs.url)
    web = Server(settings)
    worker = Worker(settings, "w1", lease_s=LEASE_S)
    await web.start()
    await worker.start()
    run = simulate_run(COURSE, start_ts=START + 5, interval_s=10.0, seed=3)
    t, lat, lon = run.time_s[:60], run.lat[:60], run.lon[:60]
    fixes = [{"bib": "7", "time": float(a), "lat": float(b), "lon": float(c)}
             for a, b, c in zip(t, lat, lon, strict=True)]  # fmt: skip
    headers = {"Authorization": f"Bearer {ADMIN}"}
    try:
        (tmp_path / "race").mkdir()
        await add_race(web, tmp_path / "race", COURSE, "demo", START)
        await web.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        await _until(lambda: worker.server.knows("demo", "7") and len(worker.ready) == 16)
        transport = httpx.ASGITransport(app=_app(web))
        async with httpx.AsyncClient(transport=transport, base_url="http://hq") as client:
            send = [fixes[k : k + 10] for k in range(0, 60, 10)]
            for batch in send[:2]:
                r = await client.post("/api/races/demo/fixes", json={"fixes": batch},
                                      headers=headers)  # fmt: skip
                assert r.status_code == 200
            rs.stop()  # Redis down: the trackers are told to send again
            for batch in send[2:4]:
                r = await client.post("/api/races/demo/fixes", json={"fixes": batch},
                                      headers=headers)  # fmt: skip
                assert r.status_code == 503, r.text
                assert r.headers["Retry-After"] and "Redis" in r.json()["error"]["message"]
            await asyncio.sleep(2 * LEASE_S)  # (the worker's leases run out meanwhile)
            rs.start()
            for batch in send[2:]:  # they send it again, and on
                for _ in range(100):
                    r = await client.post("/api/races/demo/fixes", json={"fixes": batch},
                                          headers=headers)  # fmt: skip
                    if r.status_code == 200:
                        break
                    await asyncio.sleep(0.1)
                assert r.status_code == 200, r.text
        await _until(lambda: web.fixes("demo", "7").time_s.size == 60, timeout_s=30)
        assert list(web.fixes("demo", "7").time_s) == [f["time"] for f in fixes]
    finally:
        try:
            await worker.stop()
            await web.stop()
        finally:
            rs.stop()


async def test_the_outbox_sweep_hands_on_incidents_whose_bus_message_was_lost() -> None:
    """A worker killed between storing an incident and putting it on the bus: the outbox
    worker's sweep makes its rows (the incidents updated since two sweeps ago), and never
    those from before it started."""
    from types import SimpleNamespace

    from coursewatch.live.announce import sweep_forever

    def incident(event_id: int) -> Any:
        return SimpleNamespace(updates=[{"id": event_id}])

    held = [incident(1), incident(2)]
    store = SimpleNamespace(
        races=lambda: [SimpleNamespace(id="demo")],
        incidents=lambda race_id, level=None, limit=0: list(held),
    )
    took: list[list[int]] = []

    async def take(incidents: list[Any]) -> None:
        took.append([i.updates[-1]["id"] for i in incidents])

    task = asyncio.create_task(sweep_forever(store, take, every_s=0.01))  # type: ignore[arg-type]
    await _until(lambda: len(took) >= 2)
    held.append(incident(3))  # stored; its message never reached the bus
    await _until(lambda: any(3 in t for t in took))
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert all(set(t) <= {3} for t in took), took


async def test_a_stalled_event_stream_on_a_web_node_never_holds_up_the_others(
    tmp_path: Path, postgres_server: str, bus_url: str
) -> None:
    """One SSE client reads nothing; another gets every runner update the workers publish,
    as they come, and the stalled one is dropped past its queue (it reconnects). The web
    node's own view of the runners follows on."""
    from test_restart import COURSE

    from coursewatch.sim.simulate import simulate_run

    async with _web_and_worker(tmp_path, postgres_server, bus_url) as (web, _):
        bus = web.redis_bus
        assert bus is not None
        bus.local.queue_size = 100  # (a stalled client is dropped past this many)
        stalled = web.subscribe("demo")
        first = asyncio.ensure_future(anext(stalled))  # subscribed, and never read again
        seen: list[float] = []

        async def follow() -> None:
            async for _ in web.subscribe("demo", kinds=frozenset({"runner"})):
                seen.append(asyncio.get_running_loop().time())
                if len(seen) == 250:
                    return

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0.1)
        run = simulate_run(COURSE, start_ts=START + 5, interval_s=10.0, seed=4)
        sent: list[float] = []
        for k in range(250):
            decoded = Decoded()
            decoded.add(Fix(float(run.time_s[k]), float(run.lat[k]), float(run.lon[k]),
                            bib="7"), 0)  # fmt: skip
            sent.append(asyncio.get_running_loop().time())
            await web.ingest(lambda d=decoded: d, "native", "demo")  # type: ignore[misc]
            await asyncio.sleep(0.01)  # (a tracker's pace: the updates come as they go)
        await asyncio.wait_for(follower, 30)
        lag_s = sorted(b - a for a, b in zip(sent, seen, strict=True))
        assert lag_s[len(lag_s) // 2] < 1.0 and bus.local.dropped_listeners >= 1, lag_s
        await _until(lambda: web.views["demo"]["7"][1]["fixes"] == 250)
        first.cancel()


async def test_a_partition_taken_by_a_beat_that_failed_is_returned_by_the_next(
    bus_url: str,
) -> None:
    """Redis resets the connection while a worker takes partitions: the ones it took before
    are returned as taken by its next beat (held and renewed but never read, their runners
    would freeze with their fixes acknowledged)."""
    from redis import asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError

    from coursewatch.bus.partitions import OUTBOX, Leases, lease_key

    redis = aioredis.Redis.from_url(bus_url)
    leases = Leases(redis, "w1", n=4)
    real_set, takes = redis.set, []

    async def reset_at_the_second(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("nx") and args[0] != lease_key(OUTBOX):
            takes.append(args[0])
            if len(takes) == 2:
                raise RedisConnectionError("Connection reset by peer")
        return await real_set(*args, **kwargs)

    redis.set = reset_at_the_second  # type: ignore[method-assign]
    try:
        with pytest.raises(RedisConnectionError):
            await leases.beat()
        assert len(leases.mine) == 1
        taken: list[int] = []
        for _ in range(2):
            taken += (await leases.beat())[0]
        assert sorted(taken) == sorted(leases.mine) == [0, 1, 2, 3]
    finally:
        await redis.aclose()


async def test_a_worker_taking_runners_over_counts_their_silence_from_their_last_fix(
    tmp_path: Path,
) -> None:
    """Web nodes kept taking fixes while the runners' last worker was away: a runner already
    silent is not given a fresh start (each takeover would put "signal lost" off again)."""
    from coursewatch.sim.hq import hq

    steps = [s for s in _scenario(batch_n=4) if s[1]][:5]
    now = [START]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        for at_s, fixes in steps:
            await _send(server, now, at_s, fixes)
        heard_s = now[0]
        now[0] += 150.0
        await server.put_back_runners(lambda race_id, bib: True)
        race = server._registry.races["demo"]
        watch = server._pipeline.watch(race).of(race.runners["7"])
        assert watch.signal.seen_s == heard_s


async def test_an_entry_for_an_unknown_runner_never_holds_its_partition_up(
    tmp_path: Path, postgres_server: str, bus_url: str
) -> None:
    """A part for a runner this worker does not know is left pending (added a moment ago
    through a web node, say); its partition's later fixes are still played, also after a
    read that could not be stored made the worker read its pending entries again."""
    from coursewatch.bus.partitions import encode

    steps = [s for s in _scenario(batch_n=4) if s[1]][:3]
    now = [START]
    async with _web_and_worker(tmp_path, postgres_server, bus_url, lambda: now[0]) as (
        web,
        worker,
    ):
        p = partition("demo", "7")
        stranger = next(b for b in map(str, range(100, 10_000)) if partition("demo", b) == p)
        real_play, failed = worker.server.play, []

        async def refused_once(works: Any) -> None:
            if not failed:
                failed.append(works)
                raise RuntimeError("the store is away")
            await real_play(works)

        worker.server.play = refused_once  # type: ignore[method-assign]
        part = ("demo", stranger, [dataclasses.replace(steps[0][1][0], bib=stranger)], [])
        await worker.redis.xadd(stream_key(p), encode("native", time.time(), [part]))  # type: ignore[arg-type]
        await _until(lambda: bool(failed))
        for at_s, fixes in steps:
            await _send(web, now, at_s, fixes)
        sent = sum(len(f) for _, f in steps)
        await _until(lambda: web._store.fix_count("demo") == sent, timeout_s=10.0)


async def test_a_worker_that_loses_the_outbox_lease_stops_sending_and_starts_again(
    tmp_path: Path, postgres_server: str, bus_url: str
) -> None:
    """After a Redis outage another worker may hold the outbox lease: this one stops sending
    (two senders would send every notification twice), and starts again once it holds it."""
    from coursewatch.bus.partitions import OUTBOX, lease_key

    settings = _settings(tmp_path, fresh_database(postgres_server), bus_url)
    worker = Worker(settings, "w1", lease_s=LEASE_S)
    await worker.start()
    try:
        notifier = worker.server.notifier
        await _until(lambda: worker._outside and not notifier._stopped)
        await worker.redis.set(lease_key(OUTBOX), "w2", px=int(3 * LEASE_S * 1000))
        await _until(lambda: not worker._outside and notifier._stopped)
        await _until(lambda: worker._outside and not notifier._stopped, timeout_s=10.0)
        assert all(not t.done() for t in notifier._tasks)
        assert not worker.server.feeds._client.is_closed
    finally:
        await worker.stop()


async def test_a_web_node_reads_the_runners_again_when_redis_comes_back(
    tmp_path: Path, postgres_server: str, bus_url: str
) -> None:
    """Redis away long enough for the stream to be trimmed past what a web node read: once
    Redis is back, the node takes each runner's latest update from the hash (its race board
    would show what it last heard)."""
    from coursewatch.bus.redis import views_key

    settings = _settings(tmp_path, fresh_database(postgres_server), bus_url)
    web = Server(settings)
    await web.start()
    try:
        (tmp_path / "race").mkdir()
        await add_race(web, tmp_path / "race", COURSE, "demo", START)
        await web.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        bus = web.redis_bus
        assert bus is not None
        missed = b'[%r,{"bib":"7","status":"silent","progress_m":1234.0}]' % time.time()
        await bus.redis.hset(views_key("demo"), "7", missed)  # (only the hash has it)
        bus.came_back.set()
        await _until(lambda: web.views.get("demo", {}).get("7", (0.0, {}))[1].get("status")
                     == "silent")  # fmt: skip
    finally:
        await web.stop()


async def test_a_finish_recorded_on_a_web_node_reaches_its_board(
    tmp_path: Path, postgres_server: str, bus_url: str
) -> None:
    """Race HQ records the finish of a runner whose tracker died short of the line through a
    web node: its answer said "running" (the workers' last word), and the board kept saying
    so, since no fix of theirs would ever come to say otherwise."""
    steps = [s for s in _scenario(batch_n=4) if s[1]][:4]
    now = [START]
    async with _web_and_worker(tmp_path, postgres_server, bus_url, lambda: now[0]) as (web, _):
        for at_s, fixes in steps:
            await _send(web, now, at_s, fixes)
        await _until(lambda: web.views.get("demo", {}).get("7") is not None)
        transport = httpx.ASGITransport(app=_app(web))
        headers = {"Authorization": f"Bearer {ADMIN}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://hq") as client:
            finish = now[0] + 600.0
            now[0] += 900.0
            r = await client.patch("/api/races/demo/runners/7", json={"finish": finish},
                                   headers=headers)  # fmt: skip
            assert r.json()["status"] == "finished" and r.json()["finish_ts"] == finish, r.text
            # the worker's word, when it comes, says the same (not the cached "running")
            await _until(lambda: web.views["demo"]["7"][1].get("finish_ts") == finish)
            board = (await client.get("/api/races/demo/runners", headers=headers)).json()
            assert board["runners"][0]["status"] == "finished"
            r = await client.patch("/api/races/demo/runners/7", json={"finish": None},
                                   headers=headers)  # fmt: skip
            assert r.json()["status"] != "finished" and r.json()["finish_ts"] is None


async def test_a_runner_and_a_race_removed_on_a_web_node_are_forgotten_by_the_workers(
    tmp_path: Path, postgres_server: str, bus_url: str
) -> None:
    """A rehearsal removed through a web node: the worker forgets its runner and race, and
    the tracker, registered to the real race, is matched there (PostgreSQL's rows go too)."""
    steps = [s for s in _scenario(batch_n=4) if s[1]][:2]
    now = [START]
    async with _web_and_worker(tmp_path, postgres_server, bus_url, lambda: now[0]) as (web, w):
        for at_s, fixes in steps:
            await _send(web, now, at_s, fixes)
        await _until(lambda: len(web.fixes("demo", "7").time_s) > 0)
        removed = await web.delete_runner("demo", "7")
        assert removed["runners"] == 1 and removed["fixes"] > 0 and removed["devices"] == 1
        await _until(lambda: not w.server.knows("demo", "7"))
        await add_race(web, tmp_path / "race", COURSE, "real", START)
        await web.put_runner(RunnerRecord("real", "70", "Ann", ("dev-7",)))
        await _until(lambda: w.server.knows("real", "70"))
        device_fixes = [dataclasses.replace(f, bib=None, device_id="dev-7") for f in steps[0][1]]
        decoded = Decoded()
        for i, f in enumerate(device_fixes):
            decoded.add(f, i)
        report = await web.ingest(lambda: decoded, "native")
        assert report.accepted == len(device_fixes), report
        await _until(lambda: len(web.fixes("real", "70").time_s) == len(device_fixes))
        await web.delete_race("demo")
        await _until(lambda: "demo" not in w.server._registry.races)
        assert [r.id for r in web.races()] == ["real"]
