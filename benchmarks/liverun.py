"""Race HQ live, for the benchmarks: a recording or an inReach log fed to the real server
(in-process: the same app, pipeline and store as `coursewatch serve`, no socket), on a clock
that follows the fixes, with the clock-driven detectors ticking every minute of race time.

What comes back: every incident (race HQ's and the runners' flags, as the API lists them),
and the runner as the API shows it after each request (progress, on course, far, status).
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import numpy as np

from coursewatch.geo import FloatArray
from coursewatch.sim.hq import admin_headers, hq

TICK_S = 60.0  # the clock-driven detectors run every minute of race time
LAG_S = 5.0  # a phone's fix reaches the server this long after it was taken
PING_LAG_S = 60.0  # a satellite ping, this long


@dataclass(frozen=True)
class Sample:
    """The runner as the API showed it after one request."""

    time_s: float  # the newest fix sent so far
    fixes: int
    progress_m: float
    on_course: bool | None
    far: bool
    status: str
    finish_ts: float | None  # the fix that reached the finish, as the API says


@dataclass
class LiveRun:
    incidents: list[dict[str, Any]] = field(default_factory=list)  # level all, as they end
    samples: list[Sample] = field(default_factory=list)
    requests: int = 0
    spots: list[dict[str, Any]] = field(default_factory=list)  # as the API lists them
    news: list[dict[str, Any]] = field(default_factory=list)  # the crews' (level news)

    @property
    def hq(self) -> list[dict[str, Any]]:
        return [i for i in self.incidents if i["level"] == "alert"]

    def finished_s(self) -> float | None:
        """The time of the fix that reached the finish, as the API said once it did."""
        return next((s.finish_ts for s in self.samples if s.finish_ts is not None), None)


def fix_batches(
    t: FloatArray, lat: FloatArray, lon: FloatArray, every_s: float, first_alone: int = 10
) -> list[list[dict[str, float]]]:
    """A phone's uploads: each of the first ``first_alone`` fixes alone, then what came in
    each ``every_s`` (at least one fix a request)."""
    out: list[list[dict[str, float]]] = []
    cur: list[dict[str, float]] = []
    began = 0.0
    for k, (ts, a, b) in enumerate(zip(t.tolist(), lat.tolist(), lon.tolist(), strict=True)):
        fix = {"time": ts, "lat": a, "lon": b}
        if k < first_alone:
            out.append([fix])
            continue
        if cur and ts - began >= every_s:
            out.append(cur)
            cur = []
        if not cur:
            began = ts
        cur.append(fix)
    if cur:
        out.append(cur)
    return out


def inreach_payloads(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text(encoding="utf-8")))


def _payload_time_s(payload: dict[str, Any]) -> float:
    return max(float(e["timeStamp"]) / 1000.0 for e in payload["Events"])


def replay(
    course_path: Path,
    start_ts: float,
    batches: Iterable[list[dict[str, float]]] = (),
    payloads: Iterable[dict[str, Any]] = (),
    sample: bool = True,
    zone: tzinfo = UTC,
    race_yaml: str = "",
) -> LiveRun:
    """Feed a runner's fixes (``batches``, over the native API) or inReach IPC payloads
    (``payloads``, to /ingest/inreach) to a fresh race HQ; the race starts at ``start_ts``, on
    the clock of ``zone``, its race file with ``race_yaml`` added (e.g. "units: mi\\n")."""
    requests: list[tuple[float, str, dict[str, Any]]] = [
        (max(f["time"] for f in b), "/api/races/race/fixes",
         {"fixes": [{"bib": "7", **f} for f in b]})
        for b in batches
    ] + [(_payload_time_s(p), "/ingest/inreach", p) for p in payloads]  # fmt: skip
    return asyncio.run(_replay(course_path, start_ts, requests, ["7"], sample, zone, race_yaml))


def replay_field(
    course_path: Path, start_ts: float, batches: dict[str, list[list[dict[str, float]]]]
) -> LiveRun:
    """Several runners' fixes (bib: their batches over the native API) in one race, each
    request when its newest fix was taken; ``spots`` as the API lists them at the end."""
    requests = sorted(
        ((max(f["time"] for f in b), "/api/races/race/fixes",
          {"fixes": [{"bib": bib, **f} for f in b]})
         for bib, runs in batches.items() for b in runs),
        key=lambda r: r[0],
    )  # fmt: skip
    return asyncio.run(_replay(course_path, start_ts, requests, list(batches), False))


async def _replay(
    course_path: Path,
    start_ts: float,
    requests: list[tuple[float, str, dict[str, Any]]],
    bibs: list[str],
    sample: bool,
    zone: tzinfo = UTC,
    race_yaml: str = "",
) -> LiveRun:
    now = [start_ts]
    out = LiveRun()
    with tempfile.TemporaryDirectory() as folder:
        async with hq(Path(folder), clock=lambda: now[0]) as (server, client):
            start = datetime.fromtimestamp(start_ts, zone).isoformat()
            text = f"name: live\ncourse: c.gpx\nstart: '{start}'\n{race_yaml}"
            body = {
                "id": "race",
                "race_file": {"text": text, "suffix": ".yaml"},
                "course_file": {"base64": base64.b64encode(course_path.read_bytes()).decode(),
                                "suffix": course_path.suffix},
            }  # fmt: skip
            r = await client.post("/api/races", json=body, headers=admin_headers())
            r.raise_for_status()
            for bib in bibs:  # (bib 7 has the inReach log's device)
                devices = ["0000000000", "dev-7"] if bib == "7" else [f"dev-{bib}"]
                runner = {"bib": bib, "name": f"Runner {bib}", "devices": devices}
                r = await client.post("/api/races/race/runners", json=runner,
                                      headers=admin_headers())  # fmt: skip
                r.raise_for_status()
            ticked = start_ts
            newest = -np.inf
            for fix_s, path, payload in requests:
                lag = PING_LAG_S if path == "/ingest/inreach" else LAG_S
                arrive = max(now[0], fix_s + lag)
                while ticked + TICK_S <= arrive:  # the minutes before it arrived
                    ticked += TICK_S
                    now[0] = ticked
                    await server.tick()
                now[0] = arrive
                r = await client.post(path, json=payload, headers=admin_headers())
                r.raise_for_status()
                out.requests += 1
                newest = max(newest, fix_s)
                if sample:
                    v = (await client.get("/api/races/race/runners/7",
                                          headers=admin_headers())).json()  # fmt: skip
                    out.samples.append(Sample(newest, v["fixes"], v["progress_m"], v["on_course"],
                                              v["far"], v["status"], v["finish_ts"]))  # fmt: skip
            got = await client.get("/api/races/race/incidents?level=all&limit=10000",
                                   headers=admin_headers())  # fmt: skip
            # the news of the runner's race (stations passed) is their crew's: apart
            every = got.json()["incidents"]
            out.incidents = [i for i in every if i["level"] != "news"]
            out.news = [i for i in every if i["level"] == "news"]
            got = await client.get("/api/races/race/spots", headers=admin_headers())
            out.spots = list(got.json()["spots"])
    return out
