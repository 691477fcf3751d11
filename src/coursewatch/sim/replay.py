"""Feed recordings to a running server as trackers would, at N times real time.

Each runner's fixes are sent in time order by its own task (as a phone sends its own), at the
moment ``(fix time - t0) / speed`` after the replay began. The OsmAnd protocol (one GET per fix,
as Traccar Client sends it) is the default; ``native`` sends each runner's due fixes as a batch;
``inreach`` sends a Garmin inReach log's own IPC Outbound messages, in the order they came,
each at its newest event's time (their low battery, SOS and typed messages too), its device
named as the feed's.
A refused request is retried a few times, then counted, never fatal.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from coursewatch.geo import FloatArray

PROTOCOLS = ("osmand", "native", "inreach")
RESEND_FOR_S = 120.0  # a request the server did not answer is sent again for this long


@dataclass(frozen=True, eq=False)
class Feed:
    """One runner's recording: who it is and the fixes, sorted by time."""

    bib: str
    device_id: str
    time_s: FloatArray
    lat: FloatArray
    lon: FloatArray
    payloads: tuple[dict[str, Any], ...] = ()  # an inReach log's IPC messages, as they came


@dataclass
class ReplayStats:
    sent: int = 0
    acknowledged: int = 0
    failed: int = 0
    statuses: Counter[int] | None = None


def osmand_params(feed: Feed, i: int) -> dict[str, str]:
    return {
        "id": feed.device_id,
        "timestamp": str(int(feed.time_s[i])),
        "lat": f"{feed.lat[i]:.7f}",
        "lon": f"{feed.lon[i]:.7f}",
    }


async def replay(
    client: httpx.AsyncClient,
    feeds: Sequence[Feed],
    speed: float,
    race_id: str,
    protocol: str = "osmand",
    token: str | None = None,
    t0: float | None = None,
    batch_s: float = 1.0,
) -> ReplayStats:
    """Send every feed; returns counts of sent and acknowledged fixes."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r}: use one of {', '.join(PROTOCOLS)}")
    starts = [float(f.time_s[0]) for f in feeds if len(f.time_s)]
    origin = t0 if t0 is not None else min(starts, default=0.0)
    began = time.monotonic()
    stats = ReplayStats(statuses=Counter())

    async def wait_until(t: float) -> None:
        delay = (t - origin) / speed - (time.monotonic() - began)
        if delay > 0:
            await asyncio.sleep(delay)

    async def send(feed: Feed) -> None:
        if protocol == "inreach":
            return await _send_inreach(client, feed, stats, wait_until, token)
        i = 0
        n = len(feed.time_s)
        while i < n:
            await wait_until(float(feed.time_s[i]))
            if protocol == "osmand":
                ok = await _post(client, "/ingest/osmand", stats, params=osmand_params(feed, i))
                stats.sent += 1
                stats.acknowledged += ok
                i += 1
                continue
            due = (time.monotonic() - began + batch_s) * speed + origin
            j = max(i + 1, int(np.searchsorted(feed.time_s, due, side="right")))
            fixes = [
                {"bib": feed.bib, "time": float(feed.time_s[k]), "lat": float(feed.lat[k]),
                 "lon": float(feed.lon[k])}
                for k in range(i, j)
            ]  # fmt: skip
            url = f"/api/races/{race_id}/fixes"
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            ok = await _post(client, url, stats, json={"fixes": fixes}, headers=headers)
            stats.sent += len(fixes)
            stats.acknowledged += len(fixes) if ok else 0
            i = j

    await asyncio.gather(*(send(f) for f in feeds))
    return stats


async def _send_inreach(
    client: httpx.AsyncClient, feed: Feed, stats: ReplayStats,
    wait_until: Callable[[float], Awaitable[None]], token: str | None,
) -> None:  # fmt: skip
    """An inReach log's messages, each at its newest event's time, its device the feed's."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for payload in feed.payloads:
        events = [{**e, "imei": feed.device_id} for e in payload.get("Events", [])]
        times = [float(e["timeStamp"]) / 1000.0 for e in events if "timeStamp" in e]
        if times:
            await wait_until(max(times))
        ok = await _post(client, "/ingest/inreach", stats, json={**payload, "Events": events},
                         headers=headers)  # fmt: skip
        stats.sent += len(events)
        stats.acknowledged += len(events) if ok else 0


async def _post(client: httpx.AsyncClient, url: str, stats: ReplayStats, **kw: object) -> bool:
    """POST as a tracker does: again after a network error (the server restarting: for up to
    ``RESEND_FOR_S``, waiting longer each time), and after the ``Retry-After`` of a 429 or 503
    (the server is busy or limits this address)."""
    give_up, wait_s, failed_500 = time.monotonic() + RESEND_FOR_S, 0.2, 0
    while time.monotonic() < give_up:
        try:
            r = await client.post(url, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError:
            await asyncio.sleep(wait_s)
            wait_s = min(5.0, 2 * wait_s)
            continue
        assert stats.statuses is not None
        stats.statuses[r.status_code] += 1
        if r.status_code == 200:
            return True
        if r.status_code in (429, 503):
            await asyncio.sleep(min(30.0, float(r.headers.get("retry-after", "1") or 1)))
            continue
        failed_500 += r.status_code >= 500
        if r.status_code < 500 or failed_500 == 3:
            break
    stats.failed += 1
    return False
