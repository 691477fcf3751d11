"""200 simulated runners with their own inReach (a ping every 5 or 10 minutes, one in six
taking a wrong turn), polled from a local MapShare and SPOT, give the fixes and engine incidents
that pushing the same messages through IPC Outbound gives."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coursewatch.engine.events import EVENT_KINDS
from coursewatch.live.server import Server
from coursewatch.protocols.inreach import decode_inreach
from coursewatch.sim.feedserver import Account, FeedServer
from coursewatch.sim.field import simulate_field
from coursewatch.sim.hq import add_race, free_port, hq
from coursewatch.sim.simulate import trail_course
from coursewatch.store import RunnerRecord

pytestmark = pytest.mark.anyio
START = 1_780_000_000.0
COURSE = trail_course(30_000.0, n_stations=3)
FAST = {"feed_poll_s": 0.02, "feed_hourly_budget": 10_000_000}


def _field() -> dict[str, list[dict[str, Any]]]:
    """Each runner's IPC events, by bib."""
    out: dict[str, list[dict[str, Any]]] = {}
    for half, interval in ((0, 300.0), (1, 600.0)):
        for r in simulate_field(COURSE, 100, seed=30 + half, start_ts=START, interval_s=interval):
            bib = f"{half}{r.bib}"
            run = zip(r.run.time_s, r.run.lat, r.run.lon, strict=True)
            out[bib] = [{"imei": f"imei-{bib}", "messageCode": 0, "timeStamp": int(t) * 1000,
                         "point": {"latitude": float(a), "longitude": float(b)}}
                        for t, a, b in run]  # fmt: skip
    return out


async def _race(server: Server, tmp: Path, field: dict[str, list[dict[str, Any]]]) -> None:
    await add_race(server, tmp, COURSE, "demo", START)
    for bib in field:
        await server.put_runner(RunnerRecord("demo", bib, devices=(f"imei-{bib}",)))


def _seen(server: Server, bibs: list[str]) -> dict[str, Any]:
    engine = set(EVENT_KINDS.values())
    alerts = server._store.alerts("demo", limit=10**6)
    course = [i for i in server.incidents("demo", level=None, limit=10**6)
              if i.episode.startswith("course:") and not i.retracted]  # fmt: skip
    out: dict[str, Any] = {}
    for bib in bibs:
        f = server.fixes("demo", bib)
        out[bib] = (
            np.column_stack([f.time_s, f.lat, f.lon]).tolist(),
            sorted((a.kind, a.time_s) for a in alerts
                   if a.bib == bib and a.kind in engine and not a.retracted),
            sorted((i.kind, i.opened_s, i.level) for i in course if i.bib == bib),
        )  # fmt: skip
    return out


async def test_200_runners_polled_are_what_ipc_pushed(tmp_path: Path) -> None:
    field = _field()
    at = START + 14 * 3600
    (tmp_path / "ipc").mkdir()
    async with hq(tmp_path / "ipc", clock=lambda: at) as (server, _client):
        await _race(server, tmp_path / "ipc", field)
        every = sorted(
            (e for events in field.values() for e in events), key=lambda e: e["timeStamp"]
        )
        for e in every:  # one message a request, as Garmin's servers post them
            await server.ingest(lambda e=e: decode_inreach({"Events": [e]}), "inreach")
        want = _seen(server, list(field))
    assert sum(len(v[1]) for v in want.values()) > 20  # the wrong turns were caught
    feeds = FeedServer()
    feeds.start(free_port())
    try:
        for kind in ("mapshare", "spot"):
            folder = tmp_path / kind
            folder.mkdir()
            accounts = {bib: Account(events, reveal=10) for bib, events in field.items()}
            getattr(feeds, kind).update({f"{kind}-{bib}": a for bib, a in accounts.items()})
            async with hq(folder, clock=lambda: at, mapshare_url=feeds.url, spot_url=feeds.url,
                          **FAST) as (server, _client):  # fmt: skip
                await _race(server, folder, field)
                for bib in field:
                    await server.set_feed("demo", bib, {"kind": kind, "id": f"{kind}-{bib}"})
                for _ in range(6000):
                    await asyncio.sleep(0.05)
                    if all(a.shown == len(a.events) and a.requests > 2 + len(a.events) // 10
                           for a in accounts.values()):  # fmt: skip
                        break
                got = _seen(server, list(field))
            for bib in field:
                assert got[bib] == want[bib], (kind, bib)
    finally:
        feeds.stop()
