"""The feed pollers' budget: N runners with their own inReach, read from MapShare, polled for
some minutes through a real race HQ (in this process) from a local MapShare server on
127.0.0.1. Prints numbers; loopback only, stops by itself.

Each runner's inReach sends a message every 5 or 10 minutes (as in the real logs), each
visible in its feed from its own time on. Race HQ polls every runner every ``feed_poll_s``
(300 s) within ``feed_hourly_budget`` requests an hour to the host (1,800: Garmin blocks an
address for an hour past 2,000). Printed: requests sent, the hour's rate they make and the
highest count in any 60 s; polls a runner; how late messages reach the store (from their time);
then, with ``--block``, a 429 with Retry-After and the requests during it (0 expected).

Usage: .venv/bin/python benchmarks/feeds.py [--runners 500] [--minutes 6] [--block 60]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from coursewatch.sim.feedserver import Account, FeedServer
from coursewatch.sim.hq import add_race, free_port, hq
from coursewatch.sim.simulate import trail_course
from coursewatch.store import RunnerRecord


def _runner_events(course_len_m: float, rng: random.Random, start_s: float, end_s: float,
                   imei: str) -> list[dict[str, object]]:  # fmt: skip
    interval = rng.choice((300, 600))
    t = start_s + rng.uniform(0, interval)
    out = []
    while t < end_s:
        out.append({"imei": imei, "messageCode": 0, "timeStamp": int(t * 1000),
                    "point": {"latitude": 45.9 + rng.uniform(-0.01, 0.01),
                              "longitude": 6.87 + rng.uniform(-0.01, 0.01)}})  # fmt: skip
        t += interval
    return out


async def run(runners: int, minutes: float, block_s: int) -> None:
    feeds = FeedServer()
    feeds.start(free_port())
    now = time.time()
    start = now - 3600.0  # the race began an hour ago
    rng = random.Random(1)
    course = trail_course(12_000.0, n_stations=2)
    for i in range(runners):
        events = _runner_events(course.length_m, rng, start, now + 3 * 3600, f"imei{i}")
        feeds.mapshare[f"runner{i}"] = Account(events, live=True)
    times: list[tuple[float, int]] = []  # (monotonic, requests so far), once a second
    with tempfile.TemporaryDirectory() as d:
        async with hq(Path(d), mapshare_url=feeds.url) as (server, _client):
            await add_race(server, Path(d), course, "demo", start)
            for i in range(runners):
                await server.put_runner(RunnerRecord("demo", str(i)))
                await server.set_feed("demo", str(i), {"kind": "mapshare", "id": f"runner{i}"})
            began = time.monotonic()
            while time.monotonic() - began < minutes * 60:
                times.append((time.monotonic(), feeds.requests["mapshare"]))
                await asyncio.sleep(1.0)
            sent = feeds.requests["mapshare"]
            lags = []
            for i in range(runners):
                stored = server.fixes("demo", str(i))
                rows = server._store.db.execute(
                    "SELECT time_s, received_ts FROM fixes WHERE race_id='demo' AND bib=?"
                    " AND time_s>=?", (str(i), now)).fetchall()  # fmt: skip
                lags += [r - t for t, r in rows]
                del stored
            status = server.feed_status("demo")["feeds"]
            if block_s:
                feeds.block(1, block_s)
                asked = feeds.requests["mapshare"]
                t0 = time.monotonic()
                while feeds.requests["429"] == 0:
                    await asyncio.sleep(0.05)
                blocked_at = feeds.requests["mapshare"]
                await asyncio.sleep(block_s - 1)
                during = feeds.requests["mapshare"] - blocked_at
                await asyncio.sleep(3)
                after = feeds.requests["mapshare"] - blocked_at - during
                waited = time.monotonic() - t0
    feeds.stop()
    span_s = times[-1][0] - times[0][0]
    counts = np.array([c for _, c in times])
    per_min = (
        max(counts[i + 60] - counts[i] for i in range(len(counts) - 60))
        if len(counts) > 60
        else counts[-1]
    )
    polls = np.array([f["polls"] for f in status])
    print(
        f"{runners} MapShare runners, feed_poll_s 300, budget 1,800 requests/hour, {minutes:g} min"
    )
    print(
        f"requests: {sent} in {span_s / 60:.1f} min = {sent / span_s * 3600:,.0f} an hour "
        f"(burst at start included); at most {per_min} in any 60 s"
    )
    steady = (counts[-1] - counts[len(counts) // 2]) / (times[-1][0] - times[len(counts) // 2][0])
    print(f"second half: {steady * 3600:,.0f} requests an hour")
    print(
        f"polls a runner: min {polls.min()}, median {np.median(polls):.0f}, max {polls.max()};"
        f" every runner polled: {bool((polls > 0).all())}"
    )
    if lags:
        q = np.percentile(lags, [50, 90, 99])
        print(
            f"new messages stored {len(lags)}; from their time to the store: median {q[0]:.0f} s,"
            f" p90 {q[1]:.0f} s, p99 {q[2]:.0f} s"
        )
    if block_s:
        print(
            f"429 with Retry-After {block_s} s: {during} requests to the host during it, "
            f"{after} in the 3 s after (waited {waited:.0f} s); {asked} before"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runners", type=int, default=500)
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--block", type=int, default=60, help="Retry-After of a 429 (0: none)")
    args = parser.parse_args()
    asyncio.run(run(args.runners, args.minutes, args.block))


if __name__ == "__main__":
    main()
