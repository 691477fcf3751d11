"""Places where several runners went off the course: found from race HQ's incidents, listed
by the API, and said in race HQ's notifications."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from coursewatch.live.server import Server
from coursewatch.protocols import Decoded, Fix
from coursewatch.sim.hq import add_race, admin_headers, free_port, hq
from coursewatch.sim.simulate import simulate_run, trail_course
from coursewatch.sim.sinks import NtfySink
from coursewatch.spots import spots
from coursewatch.store import Incident, RunnerRecord

START = 1_780_000_000.0
COURSE = trail_course(12_000.0, n_stations=2)


def _incident(
    n: int, bib: str, left: tuple[float, float] | None, t: float, **kw: object
) -> Incident:
    """A confirmed off-course incident that began at ``t``; ``left``: where the runner left
    the course, as its first update says (None: not said; the incident is at 45.1, 6.1)."""
    first = {"id": n, "kind": "off_course", "time_s": t, "level": "flag", "sentence": ""}
    if left is not None:
        first["left"] = {"lat": left[0], "lon": left[1], "course_m": 3000.0}
    fields: dict[str, object] = dict(
        id=n, race_id="r", bib=bib, episode=f"course:{t:.0f}", kind="off_course",
        level="alert", open=True, opened_s=t, updated_s=t, closed_s=None, lat=45.1, lon=6.1,
        course_m=3100.0, offset_m=120.0, sentence="", updates=(first,),
    )  # fmt: skip
    fields.update(kw)
    return Incident(**fields)  # type: ignore[arg-type]


def test_a_spot_is_where_two_runners_or_more_left_the_course() -> None:
    here, there = (45.0, 6.0), (45.0, 6.01)  # 790 m apart
    found = spots([
        _incident(1, "7", here, 100.0),
        _incident(2, "8", (45.0015, 6.0), 200.0),  # 167 m from where 7 left
        _incident(3, "7", here, 300.0),  # 7 again: one runner, two incidents
        _incident(4, "9", there, 400.0),  # alone at another place
        _incident(5, "10", None, 500.0),  # where it is, 13 km away: alone
        _incident(6, "11", here, 600.0, level="flag"),  # came back by themselves: not HQ's
        _incident(7, "12", here, 700.0, retracted=True),  # withdrawn
        _incident(8, "13", here, 800.0, kind="stopped", episode="stopped:800"),
        _incident(9, "14", there, 900.0, open=False),
    ])  # fmt: skip
    assert [(s.bibs, s.incidents, s.open) for s in found] == [
        (("9", "14"), [4, 9], 1),  # the newest news first
        (("7", "8"), [1, 2, 3], 3),
    ]
    assert found[1].json()["course_m"] == 3000.0 and found[1].first_s == 100.0
    assert spots([_incident(1, "7", here, 100.0), _incident(2, "8", there, 200.0)]) == []


async def _runs(server: Server, runs: dict[str, tuple[float, int]]) -> None:
    """Each runner's run (bib: the wrong turn's km, seed), one after the other, fixes every
    10 s in batches of a minute."""
    for bib, (turn_m, seed) in runs.items():
        run = simulate_run(COURSE, start_ts=START + 5, interval_s=10.0, wrong_turn_at_m=turn_m,
                           wrong_turn_angle_deg=70.0, seed=seed)  # fmt: skip
        fixes = [Fix(float(t), float(a), float(b), bib=bib)
                 for t, a, b in zip(run.time_s, run.lat, run.lon, strict=True)]  # fmt: skip
        for k in range(0, len(fixes), 6):
            decoded = Decoded()
            for j, fix in enumerate(fixes[k : k + 6]):
                decoded.add(fix, j)
            await server.ingest(lambda d=decoded: d, "native", "demo")


@pytest.mark.anyio
async def test_runners_off_at_one_place_are_a_spot_for_race_hq(tmp_path: Path) -> None:
    sink = NtfySink()
    sink.start(free_port())
    try:
        opts = {"notify_per_min": 1000.0, "webhook_allow_private": True}  # the sink: loopback
        async with hq(tmp_path, **opts) as (server, client):
            await add_race(server, tmp_path, COURSE, "demo", START)
            for bib in ("7", "8", "9", "10"):
                await server.put_runner(RunnerRecord("demo", bib, f"Runner {bib}"))
            await client.put("/api/races/demo/contacts", headers=admin_headers(),
                             json={"hq": [{"url": f"ntfy://{sink.url}/hq"}]})  # fmt: skip
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
            told = [m["message"] for m in sink.messages
                    if " runners went off the course here " in m["message"]]  # fmt: skip
            assert any(": Bib 8 " in m and "2 runners" in m and "(also bib 7)" in m for m in told)
            assert any(
                ": Bib 9 " in m and "3 runners" in m and "(also bibs 7, 8)" in m for m in told
            )
            assert not any(": Bib 10 " in m or ": Bib 7 " in m for m in told), told
    finally:
        sink.stop()
