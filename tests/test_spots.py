"""Places where several runners went off the course: found from race HQ's incidents, listed
by the API, and said in race HQ's notifications."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from coursewatch.live.server import Server
from coursewatch.sim.hq import add_race, admin_headers, hq, send_run
from coursewatch.sim.simulate import simulate_run, trail_course
from coursewatch.sim.sinks import NtfySink
from coursewatch.spots import spots
from coursewatch.store import Incident, RunnerRecord

START = 1_780_000_000.0
COURSE = trail_course(12_000.0, n_stations=2)


def _incident(
    n: int, bib: str, left: tuple[float, float] | None, t: float, **kw: object
) -> Incident:
    """A confirmed off-course incident flagged at ``t``; ``left``: (course m, seconds before
    ``t``) of where and when the runner left the course, as its first update says (None: not
    said; the incident is at km 13)."""
    first: dict[str, object] = {"id": n, "kind": "off_course", "time_s": t, "level": "flag"}
    if left is not None:
        first["left"] = {"lat": 45.0, "lon": 6.0, "course_m": left[0], "time_s": t - left[1]}
    fields: dict[str, object] = dict(
        id=n, race_id="r", bib=bib, episode=f"course:{t:.0f}", kind="off_course",
        level="alert", open=True, opened_s=t, updated_s=t, closed_s=None, lat=45.1, lon=6.1,
        course_m=13_000.0, offset_m=120.0, sentence="", updates=(first,),
    )  # fmt: skip
    fields.update(kw)
    return Incident(**fields)  # type: ignore[arg-type]


def test_a_spot_is_where_two_runners_or_more_left_the_course() -> None:
    given = [
        _incident(1, "7", (3000.0, 20.0), 100.0),
        _incident(2, "8", (3200.0, 20.0), 200.0),  # 200 m on: the same junction
        _incident(3, "7", (3000.0, 20.0), 300.0),  # 7 again: one runner, two incidents
        _incident(4, "9", (25_000.0, 20.0), 400.0),  # there again, on the way back: alone
        _incident(5, "10", None, 500.0),  # where it is (km 13): alone
        _incident(6, "11", (3000.0, 20.0), 600.0, level="flag"),  # back by themselves
        _incident(7, "12", (3000.0, 20.0), 700.0, retracted=True),  # withdrawn
        _incident(8, "13", (3000.0, 20.0), 800.0, kind="stopped", episode="stopped:800"),
        _incident(9, "14", (3000.0, 20.0), 900.0, kind="wrong_way"),  # where they turned back
        # satellite pings: left a ping before the turn, 800 m apart, the same place
        _incident(10, "15", (14_000.0, 600.0), 1000.0),
        _incident(11, "16", (14_800.0, 300.0), 1100.0, open=False),
        # watch data 400 m apart: two places
        _incident(12, "17", (20_000.0, 10.0), 1200.0),
        _incident(13, "18", (20_400.0, 10.0), 1300.0),
    ]
    found = spots(given)
    assert [(s.bibs, s.incidents, s.from_m, s.to_m, s.open) for s in found] == [
        (("15", "16"), [10, 11], 14_000.0, 14_800.0, 1),  # the newest news first
        (("7", "8"), [1, 2, 3], 3000.0, 3200.0, 3),
    ]
    assert (found[1].first_s, found[1].last_s) == (80.0, 280.0)  # when they left
    assert found[1].json()["course_m"] == 3000.0  # the middle one's
    assert [s.bibs for s in spots(reversed(given))] == [s.bibs for s in found]  # any order
    # pings, runners leaving 1.5 km apart, hours apart: no one place 4.5 km long
    chain = [_incident(20 + k, str(30 + k), (40_000.0 + 1500.0 * k, 600.0), 5000.0 + 3600 * k)
             for k in range(4)]  # fmt: skip
    assert [s.bibs for s in spots(chain)] == [("32", "33"), ("30", "31")]
    # a rough one (pings) joins the first place of exact ones its stretch reaches; an exact
    # one 305 m short of a place is not of it
    near = [
        _incident(40 + k, str(50 + k), (m, 10.0), 9000.0 + k)
        for k, m in enumerate(
            [60_000.0, 60_020.0, 61_800.0, 61_820.0, 69_695.0, 70_000.0, 70_010.0]
        )
    ]
    rough = _incident(47, "57", (59_900.0, 1000.0), 9100.0)  # fmt: skip
    assert sorted(sorted(s.bibs) for s in spots([*near, rough])) == [
        ["50", "51", "57"], ["52", "53"], ["55", "56"]]  # fmt: skip


async def _runs(server: Server, runs: dict[str, tuple[float, int]]) -> None:
    """Each runner's run (bib: the wrong turn's km, seed), one after the other, fixes every
    10 s in batches of a minute."""
    for bib, (turn_m, seed) in runs.items():
        run = simulate_run(COURSE, start_ts=START + 5, interval_s=10.0, wrong_turn_at_m=turn_m,
                           wrong_turn_angle_deg=70.0, seed=seed)  # fmt: skip
        await send_run(server, bib, run.time_s, run.lat, run.lon, 6)


@pytest.mark.anyio
async def test_runners_off_at_one_place_are_a_spot_for_race_hq(
    tmp_path: Path, ntfy: NtfySink
) -> None:
    opts = {"notify_per_min": 1000.0, "webhook_allow_private": True}  # the sink: loopback
    async with hq(tmp_path, **opts) as (server, client):
        await add_race(server, tmp_path, COURSE, "demo", START)
        for bib in ("7", "8", "9", "10"):
            await server.put_runner(RunnerRecord("demo", bib, f"Runner {bib}"))
        await client.put("/api/races/demo/contacts", headers=admin_headers(),
                         json={"hq": [{"url": f"ntfy://{ntfy.url}/hq"}]})  # fmt: skip
        # three miss the turn at km 3; one misses another at km 8
        await _runs(server, {"7": (3000.0, 1), "8": (3000.0, 2), "10": (8000.0, 4),
                             "9": (3000.0, 3)})  # fmt: skip
        r = await client.get("/api/races/demo/spots", headers=admin_headers())
        assert r.status_code == 200, r.text
        got = r.json()["spots"]
        assert [s["bibs"] for s in got] == [["7", "8", "9"]], got
        assert abs(got[0]["course_m"] - 3000.0) < 150.0, got
        assert (await client.get("/api/races/demo/spots")).status_code == 401
        deadline = time.monotonic() + 20
        while any(d["state"] != "sent" for d in server.deliveries("demo")):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        told = [m["message"] for m in ntfy.messages
                if " runners went off the course at km " in m["message"]]  # fmt: skip
        assert any(": Bib 8 " in m and "2 runners" in m and "(also bib 7)" in m for m in told)
        assert any(": Bib 9 " in m and "3 runners" in m and "(also bibs 7, 8)" in m for m in told)
        assert not any(": Bib 10 " in m or ": Bib 7 " in m for m in told), told
        # race HQ has the marking checked; a fourth runner goes off there after it
        place = {"course_m": got[0]["course_m"], "by": "Dee"}
        r = await client.post("/api/races/demo/spots/checked", json=place, headers=admin_headers())
        assert r.status_code == 200, r.text
        (spot,) = r.json()["spots"]
        assert (spot["checked_by"], spot["since_check"]) == ("Dee", 0) and spot["checked_s"]
        await server.put_runner(RunnerRecord("demo", "11", "Runner 11"))
        later = simulate_run(COURSE, start_ts=START + 3 * 3600, interval_s=10.0, seed=5,
                             wrong_turn_at_m=3000.0, wrong_turn_angle_deg=70.0)  # fmt: skip
        await send_run(server, "11", later.time_s, later.lat, later.lon, 6)
        (spot,) = (await client.get("/api/races/demo/spots", headers=admin_headers())).json()[
            "spots"]  # fmt: skip
        assert spot["since_check"] == 1 and "11" in spot["bibs"], spot
        deadline = time.monotonic() + 20
        while not any(": Bib 11 " in m["message"] and "went off there since" in m["message"]
                      for m in ntfy.messages):  # fmt: skip
            assert time.monotonic() < deadline, [m["message"] for m in ntfy.messages][-3:]
            await asyncio.sleep(0.05)
        told = next(m["message"] for m in ntfy.messages if ": Bib 11 " in m["message"]
                    and "went off there since" in m["message"])  # fmt: skip
        assert re.search(r"the marking was checked at \d\d:\d\dZ? by Dee, and 1 went off there "
                         r"since: check the course line\.", told), told  # fmt: skip
        for bad in ({"course_m": 1e9}, {"course_m": "x"}, {"by": "Dee"}):
            r = await client.post("/api/races/demo/spots/checked", json=bad,
                                  headers=admin_headers())  # fmt: skip
            assert r.status_code == 422, r.text
