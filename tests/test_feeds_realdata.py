"""The four real inReach logs, polled as MapShare KML and as SPOT JSON from a local feed server,
give the fixes and engine incidents that pushing them through IPC Outbound gives."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coursewatch.engine.events import EVENT_KINDS
from coursewatch.live.server import Server
from coursewatch.protocols.inreach import decode_inreach
from coursewatch.sim.feedserver import Account, FeedServer
from coursewatch.sim.hq import free_port, hq
from coursewatch.store import RunnerRecord

pytestmark = [pytest.mark.anyio, pytest.mark.realdata]
LOGS = ("dark_sky_220_2024", "ouray_100_2024", "swammie_shuffle_220_2024", "twot_200_2025")
FAST = {"feed_poll_s": 0.02, "feed_hourly_budget": 10_000_000}


async def _race(server: Server, data_dir: Path, name: str, first_s: float) -> None:
    start = datetime.fromtimestamp(first_s, UTC).isoformat()
    text = f"name: {name}\ncourse: course.gpx\nstart: '{start}'\n"
    course = (data_dir / "courses" / f"{name}.gpx").read_bytes()
    await server.create_race("race", text, ".yaml", course, ".gpx")
    await server.put_runner(RunnerRecord("race", "7", "Ann", ("0000000000",)))


def _seen(server: Server) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """Stored fixes (time to the second: what MapShare and SPOT publish, lat, lon) and the
    engine's events and course incidents (kind, second)."""
    f = server.fixes("race", "7")
    fixes = np.column_stack([np.floor(f.time_s), f.lat, f.lon])
    engine = set(EVENT_KINDS.values())
    alerts = [(a.kind, float(np.floor(a.time_s))) for a in server._store.alerts("race", limit=10**6)
              if a.kind in engine and not a.retracted]  # fmt: skip
    course = [(i.kind, float(np.floor(i.opened_s))) for i in server.incidents("race", level=None)
              if i.episode.startswith("course:") and not i.retracted]  # fmt: skip
    return fixes, sorted(alerts) + sorted(course)


async def _pushed(tmp: Path, data_dir: Path, name: str, log: list[dict[str, Any]], first: float):  # type: ignore[no-untyped-def]
    tmp.mkdir()
    async with hq(tmp) as (server, _client):
        await _race(server, data_dir, name, first)
        for payload in log:
            await server.ingest(lambda p=payload: decode_inreach(p), "inreach")
        return _seen(server)


async def _polled(tmp: Path, data_dir: Path, name: str, kind: str, feeds: FeedServer,
                  account: Account, first: float):  # type: ignore[no-untyped-def]  # fmt: skip
    tmp.mkdir()
    async with hq(tmp, **FAST, mapshare_url=feeds.url, spot_url=feeds.url) as (server, _c):
        await _race(server, data_dir, name, first)
        await server.set_feed("race", "7", {"kind": kind, "id": f"{name}-{kind}"})
        for _ in range(3000):  # until every message arrived and was polled after that
            await asyncio.sleep(0.02)
            status = server.feed_status("race")["feeds"][0]
            if account.shown == len(account.events) and account.requests > 1 + (
                len(account.events) // account.reveal
            ):
                break
        assert status["state"] == "ok", status
        return _seen(server)


@pytest.mark.parametrize("name", LOGS)
async def test_a_real_log_polled_as_mapshare_and_spot_is_what_ipc_pushed(
    tmp_path: Path, data_dir: Path, name: str
) -> None:
    log = json.loads((data_dir / "tracks" / f"{name}_inreach_pings.json").read_text())
    events = [e for payload in log for e in payload["Events"]]
    first = min(e["timeStamp"] for e in events if e["point"]["latitude"]) / 1000
    want_fixes, want_events = await _pushed(tmp_path / "ipc", data_dir, name, log, first)
    feeds = FeedServer()
    feeds.start(free_port())
    try:
        for kind in ("mapshare", "spot"):
            account = Account(events, reveal=25)  # 25 messages arrive between two polls
            getattr(feeds, kind)[f"{name}-{kind}"] = account
            fixes, got = await _polled(tmp_path / kind, data_dir, name, kind, feeds, account, first)
            np.testing.assert_array_equal(fixes, want_fixes, err_msg=kind)
            assert got == want_events, kind
    finally:
        feeds.stop()
