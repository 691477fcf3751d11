"""The news of a runner's race for their crew: each station passed with the ETA at the next,
the finish, out of the race; told to the crew only, once, and not when it is old news."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from coursewatch.course import Course
from coursewatch.live.server import Server
from coursewatch.sim.hq import add_race, admin_headers, hq, send_run
from coursewatch.sim.simulate import simulate_run, trail_course
from coursewatch.sim.sinks import NtfySink
from coursewatch.store import RunnerRecord

pytestmark = pytest.mark.anyio
START = 1_780_000_000.0
COURSE = trail_course(12_000.0, n_stations=2)  # Aid 1 at km 4, Aid 2 at km 8, Finish at 12


async def _until(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.05)


async def _run(server: Server, bib: str, now: list[float] | None, upto_m: float | None = None,
               seed: int = 1, course: Course = COURSE) -> None:  # fmt: skip
    """The runner's race (to ``upto_m``), a fix every 10 s, a batch a minute; ``now``: the
    clock, moved to each batch's time as it is sent (None: all sent now)."""
    run = simulate_run(course, start_ts=START + 5, interval_s=10.0, seed=seed, stop_at_m=upto_m)
    await send_run(server, bib, run.time_s, run.lat, run.lon, 6, now)


@contextlib.asynccontextmanager
async def _ann(
    folder: Path, ntfy: NtfySink, now: list[float], course: Course = COURSE
) -> AsyncIterator[tuple[Server, httpx.AsyncClient]]:
    """Race HQ on the clock ``now`` with Ann, bib 7, whose crew listens on ``ntfy``."""
    opts = {"notify_per_min": 1000.0, "webhook_allow_private": True}  # the sink: loopback
    async with hq(folder, clock=lambda: now[0], **opts) as (server, client):
        await add_race(server, folder, course, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann"))
        await server.set_runner_contacts("demo", "7", [], [f"ntfy://{ntfy.url}/crew7"])
        yield server, client


def _sent(server: Server) -> bool:
    return all(d["state"] == "sent" for d in server.deliveries("demo"))


async def test_the_crew_hears_each_station_passed_the_finish_and_a_dnf(
    tmp_path: Path, ntfy: NtfySink
) -> None:
    now = [START]
    opts = {"notify_per_min": 1000.0, "webhook_allow_private": True}  # the sink: loopback
    async with hq(tmp_path, clock=lambda: now[0], **opts) as (server, client):
        await add_race(server, tmp_path, COURSE, "demo", START)
        for bib in ("7", "8"):
            await server.put_runner(RunnerRecord("demo", bib, f"Runner {bib}"))
            await server.set_runner_contacts("demo", bib, [f"ntfy://{ntfy.url}/runner{bib}"],
                                             [f"ntfy://{ntfy.url}/crew{bib}"])  # fmt: skip
        await client.put("/api/races/demo/contacts", headers=admin_headers(),
                         json={"hq": [{"url": f"ntfy://{ntfy.url}/hq"}]})  # fmt: skip
        await _run(server, "7", now)
        await _until(lambda: _sent(server) and len(ntfy.messages) >= 3)
        crew = [m["message"] for m in ntfy.messages if m["topic"] == "crew7"]
        assert len(crew) == 3, crew  # Aid 1, Aid 2, the finish: once each
        titles = [m["title"] for m in ntfy.messages if m["topic"] == "crew7"]
        assert [t.split(": ", 1)[1] for t in titles] == [  # the station, on a lock screen
            "bib 7 (Runner 7) passed Aid 1", "bib 7 (Runner 7) passed Aid 2",
            "bib 7 (Runner 7) finished"], titles  # fmt: skip
        clock = r"\d\d:\d\dZ?"
        assert re.match(rf"Runner 7 \(bib 7\) passed Aid 1, km 4\.00 \(mi 2\.49\), at {clock}, "
                        rf"2\d min after the start\. Next: Aid 2, km 8\.00 \(mi 4\.97\), "
                        rf"expected about {clock}", crew[0]), crew[0]  # fmt: skip
        assert "passed Aid 2" in crew[1] and "Next: Finish" in crew[1], crew[1]
        assert re.match(rf"Runner 7 \(bib 7\) finished at {clock}, in 1 h \d\d min\.", crew[2])
        # the crew's only: not race HQ's, not the runner's, not on the runner's list of flags
        assert {m["topic"] for m in ntfy.messages} == {"crew7"}, ntfy.messages
        got = await client.get(
            "/api/races/demo/incidents?level=news&bib=7", headers=admin_headers()
        )
        [news] = got.json()["incidents"]
        assert (news["kind"], news["level"], len(news["updates"])) == ("race_finished", "news", 3)
        hqs = await client.get("/api/races/demo/incidents", headers=admin_headers())
        assert hqs.json()["incidents"] == []
        # race HQ puts runner 8 out at km 5
        await _run(server, "8", now, upto_m=5000.0, seed=2)
        r = await client.patch("/api/races/demo/runners/8", json={"dnf": True},
                               headers=admin_headers())  # fmt: skip
        assert r.status_code == 200, r.text
        await _until(lambda: _sent(server) and any(
            "out of the race" in m["message"] for m in ntfy.messages))  # fmt: skip
        crew8 = [m["message"] for m in ntfy.messages if m["topic"] == "crew8"]
        assert len(crew8) == 2 and "passed Aid 1" in crew8[0], crew8
        assert re.match(rf"Runner 8 \(bib 8\) is out of the race: race HQ recorded a DNF at "
                        rf"{clock}; last placed at {clock}, km 4\.9\d \(mi 3\.\d\d\), \d\.\d km "
                        r"after Aid 1\.", crew8[1]), crew8[1]  # fmt: skip
        assert not any(m["topic"] in ("hq", "runner8") for m in ntfy.messages)


async def test_stations_passed_while_the_feed_was_blocked_are_told_late(
    tmp_path: Path, ntfy: NtfySink
) -> None:
    """A feed host's 429 held a runner's pings for an hour and a half: the crew, waiting at the
    next aid station, heard nothing of the two passed meanwhile (news over half an hour old
    was dropped). What is under three hours old is told, said to have come in late."""
    now = [START + 8000.0]
    async with _ann(tmp_path, ntfy, now) as (server, _):
        await _run(server, "7", None, upto_m=9000.0)
        await _until(lambda: _sent(server) and len(ntfy.messages) >= 2)
        await asyncio.sleep(0.5)
        crew = [m["message"] for m in ntfy.messages]
        assert [c.split(",")[0] for c in crew] == ["Ann (bib 7) passed Aid 1",
                                                   "Ann (bib 7) passed Aid 2"], crew  # fmt: skip
        assert all(c.split("\n")[0].endswith("(It came in late.)") for c in crew), crew
        assert not any("expected about" in c for c in crew), crew  # (an ETA gone by, not news)


async def test_a_pass_told_late_keeps_the_eta_at_a_station_still_ahead(
    tmp_path: Path, ntfy: NtfySink
) -> None:
    """Pings relayed 40 minutes late: the crew, driving to the next aid station an hour and
    more away, is still told when to be there."""
    course = trail_course(40_000.0, n_stations=2)  # Aid 1 at km 13.3, Aid 2 at km 26.7
    run = simulate_run(course, start_ts=START + 5, interval_s=10.0, seed=1, stop_at_m=22_000.0)
    now = [float(run.time_s[-1]) + 60.0]  # (Aid 1 about 58 min before, Aid 2 35 min after)
    async with _ann(tmp_path, ntfy, now, course) as (server, _):
        await _run(server, "7", None, upto_m=22_000.0, course=course)
        await _until(lambda: _sent(server) and len(ntfy.messages) >= 1)
        [told] = [m["message"] for m in ntfy.messages]
        assert told.startswith("Ann (bib 7) passed Aid 1"), told
        assert "Next: Aid 2" in told and "expected about" in told, told
        assert told.split("\n")[0].endswith("(It came in late.)"), told


async def test_a_crew_is_not_told_of_stations_passed_long_ago(
    tmp_path: Path, ntfy: NtfySink
) -> None:
    """A tracker that sends its whole race hours late (a feed added after the finish): the
    crew hears the finish, not every station passed hours ago."""
    now = [START + 4 * 3600.0]
    async with _ann(tmp_path, ntfy, now) as (server, _):
        await _run(server, "7", None)
        await _until(lambda: _sent(server) and len(ntfy.messages) >= 1)
        await asyncio.sleep(0.5)
        crew = [m["message"] for m in ntfy.messages]
        assert len(crew) == 1 and "Ann (bib 7) finished at" in crew[0], crew


async def test_a_station_passed_in_the_batch_that_ends_an_overdue_is_told(
    tmp_path: Path, ntfy: NtfySink
) -> None:
    """Silent before Aid 1 for hours (overdue there), back with one batch that passes Aid 1
    mid-batch: the arrival ends the overdue at the batch's last fix, and the crew still hears
    of Aid 1 (the events of a batch come in the order of its fixes)."""
    now = [START]
    async with _ann(tmp_path, ntfy, now) as (server, _):
        run = simulate_run(COURSE, start_ts=START + 5, interval_s=10.0, seed=1)
        far = run.time_s - START
        cut, end = int((far * 2.5 < 3700).sum()), int((far * 2.5 < 4500).sum())
        await send_run(server, "7", run.time_s[:cut], run.lat[:cut], run.lon[:cut], 6, now)
        gap, t = 3 * 3600.0, now[0]
        while now[0] < t + gap:  # silent for 3 h: overdue at Aid 1
            now[0] += 300.0
            await server.tick()
        late = run.time_s[cut:end] + gap
        await send_run(server, "7", late, run.lat[cut:end], run.lon[cut:end], 100, now)
        kinds = {u["kind"] for i in server.incidents("demo", level=None) for u in i.updates}
        assert {"overdue", "arrived", "passed_station"} <= kinds, kinds
        await _until(lambda: _sent(server) and any("passed Aid 1" in m for m in _texts(ntfy)))


async def test_race_hq_taking_a_dnf_back_tells_the_crew_and_a_finish_is_told_once(
    tmp_path: Path, ntfy: NtfySink
) -> None:
    now = [START]
    async with _ann(tmp_path, ntfy, now) as (server, client):
        await _run(server, "7", now, upto_m=5000.0)
        for dnf in (True, False):  # bib 7 for bib 71: taken back
            await _patch(client, {"dnf": dnf})
        await _until(lambda: _sent(server) and len(ntfy.messages) >= 3)
        said = [m["message"] for m in ntfy.messages]
        assert "out of the race" in said[1] and "is back in the race: race HQ took back the DNF" \
            in said[2], said  # fmt: skip
        assert ntfy.messages[2]["title"].endswith("bib 7 (Ann) back in the race"), ntfy.messages[2]
        # the rest of the race: the engine finds the finish; race HQ records it after
        await _run(server, "7", now)
        await _until(lambda: _sent(server) and any("finished" in m for m in _texts(ntfy)))
        await _patch(client, {"finish": now[0] - 60.0})
        await asyncio.sleep(0.5)
        assert sum("finished at" in m for m in _texts(ntfy)) == 1, _texts(ntfy)
        # ... and takes it back: the engine's finish stands, nothing to tell
        n = len(ntfy.messages)
        await _patch(client, {"finish": None})
        await asyncio.sleep(0.5)
        assert len(ntfy.messages) == n, _texts(ntfy)[n:]


async def test_a_runner_put_out_by_mistake_who_finished_meanwhile_is_told_finished(
    tmp_path: Path, ntfy: NtfySink
) -> None:
    now = [START]
    async with _ann(tmp_path, ntfy, now) as (server, client):
        await _run(server, "7", now, upto_m=5000.0)
        await _patch(client, {"dnf": True})
        await _run(server, "7", now)  # they ran on to the finish: nothing raised for them
        await _patch(client, {"dnf": False})
        await _until(lambda: _sent(server) and len(ntfy.messages) >= 3)
        said = _texts(ntfy)
        assert "out of the race" in said[1] and "Ann (bib 7) finished at" in said[2], said
        assert not any("back in the race" in m for m in said), said


async def _patch(client: httpx.AsyncClient, change: dict[str, object]) -> None:
    """Race HQ changes Ann's record (a DNF, a finish)."""
    r = await client.patch("/api/races/demo/runners/7", json=change, headers=admin_headers())
    assert r.status_code == 200, r.text


def _texts(sink: NtfySink) -> list[str]:
    return [str(m["message"]) for m in sink.messages]


async def test_a_dnf_is_told_to_the_crew_once_not_as_the_end_of_each_incident(
    tmp_path: Path, ntfy: NtfySink
) -> None:
    """Put out while off the course, Ann's crew got two messages: the DNF, and "bib 7 off
    course (closed): ... this off course incident ends, and nothing more is raised for them",
    race HQ's bookkeeping. The crew hears the DNF; race HQ's incident still ends."""
    now = [START]
    async with _ann(tmp_path, ntfy, now) as (server, client):
        run = simulate_run(COURSE, start_ts=START + 5, interval_s=10.0, seed=1,
                           wrong_turn_at_m=3000.0, wrong_turn_angle_deg=80.0)  # fmt: skip
        await send_run(server, "7", run.time_s[:150], run.lat[:150], run.lon[:150], 6, now)
        assert [(i.kind, i.open) for i in server.incidents("demo")] == [("off_course", True)]
        await _until(lambda: _sent(server) and any("off course" in m for m in _texts(ntfy)))
        n = len(ntfy.messages)
        await _patch(client, {"dnf": True})
        await _until(lambda: _sent(server) and any("out of the race" in m for m in _texts(ntfy)))
        await asyncio.sleep(0.5)
        assert [i.open for i in server.incidents("demo")] == [False]
        told = _texts(ntfy)[n:]
        assert len(told) == 1 and told[0].startswith("Ann (bib 7) is out of the race"), told


def test_a_station_reached_while_off_the_course_is_passed_once_at_its_time() -> None:
    """Held passes (review): three fixes off the course at 3,950, 3,990 and 4,010 m (Aid 1 at
    4,000, reached 100 m before it) each held Aid 1 again; back on the course it was told
    three times, its split the last one's."""
    from coursewatch.live.passes import Passes

    passes = Passes([4_000.0, 8_000.0])
    assert passes.on_fix("7", 0.0, 1000.0, 3_800.0) == []
    for t_s, s_m in ((1030.0, 3_950.0), (1060.0, 3_990.0), (1075.0, 4_010.0)):
        assert passes.on_fix("7", 0.0, t_s, s_m, off=True) == []
    assert passes.on_fix("7", 0.0, 1100.0, 4_100.0) == [(0, 1030.0)]
    assert passes.splits["7"][0] == 1030.0
