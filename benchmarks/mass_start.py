"""A mass start at 1 Hz: how long race HQ takes over each second's fixes. Prints numbers.

Every runner starts at the gun and sends a fix a second, as from phones: their race clocks are
in step, so work done once a minute of race time for each runner (the durable state a restart
resumes from, the overdue and cut-off checks) falls due for all of them at once unless it is
spread (``coursewatch.live.cadence``). In-process (the live server's pipeline on a SQLite
store, no HTTP), pinned to one core when it can be: each second's fixes go in as
``--gateway`` sized requests, and the time they take is printed: median, p99, the worst and
the seconds where it was.

Usage: .venv/bin/python benchmarks/mass_start.py [--runners 2000] [--seconds 150]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from coursewatch.protocols import Decoded, Fix
from coursewatch.sim.hq import add_race, hq
from coursewatch.sim.simulate import trail_course
from coursewatch.store import RunnerRecord

START_TS = 1_780_000_000.0


async def seconds_taken(runners: int, seconds: int, gateway: int) -> np.ndarray:
    """The wall time (s) race HQ took over each race second's fixes."""
    course = trail_course(60_000.0, n_stations=3)
    now = [START_TS]
    pace_mps = 2.0 + 0.05 * (np.arange(runners) % 20)
    took = []
    with tempfile.TemporaryDirectory(prefix="coursewatch-mass-start-") as tmp:
        async with hq(Path(tmp), clock=lambda: now[0]) as (server, _):
            await add_race(server, Path(tmp), course, "mass", START_TS)
            for b in range(runners):
                await server.put_runner(RunnerRecord("mass", str(b), str(b), ()))
            for k in range(1, seconds + 1):
                lat, lon = course.latlon_at(pace_mps * k)
                now[0] = START_TS + k + 1.0
                t0 = time.perf_counter()
                for g in range(0, runners, gateway):
                    decoded = Decoded()
                    for i in range(g, min(g + gateway, runners)):
                        fix = Fix(START_TS + k, float(lat[i]), float(lon[i]), bib=str(i))
                        decoded.add(fix, i - g)
                    await server.ingest(lambda d=decoded: d, "native", "mass")
                took.append(time.perf_counter() - t0)
    return np.array(took)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runners", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=150, help="race seconds after the gun")
    ap.add_argument("--gateway", type=int, default=100, help="fixes a request")
    args = ap.parse_args()
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setaffinity(0, {0})
    t_ms = 1e3 * asyncio.run(seconds_taken(args.runners, args.seconds, args.gateway))
    worst = sorted(range(len(t_ms)), key=lambda i: -t_ms[i])[:5]
    where = ", ".join(f"{i + 1} s ({t_ms[i]:.0f} ms)" for i in worst)
    print(f"{args.runners} runners at 1 Hz from a mass start, {args.seconds} s: a second's fixes "
          f"took median {np.median(t_ms):.0f} ms, p99 {np.percentile(t_ms, 99):.0f} ms, "
          f"worst {t_ms.max():.0f} ms ({t_ms.max() / np.median(t_ms):.1f}x the median); the "
          f"worst seconds: {where}")  # fmt: skip
    print(f"# machine: {os.cpu_count()} cores, this process on core 0")


if __name__ == "__main__":
    main()
