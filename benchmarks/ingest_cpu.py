"""The pipeline's own cost, without HTTP: load.py's batched field (500 runners, 400 fixes each
at 5 s, 2,000 fixes a request; ``--per-request 1 --fixes-each 40``: one fix a request, as
phones post them) through ``Server.ingest`` in this process, on a temporary
SQLite database. Prints the event loop thread's CPU time per 1,000 fixes (the server's
bottleneck: one thread runs the engine, the detectors and the views; the writer thread apart)
and the fixes per second, best of ``--rounds``. Steadier than load.py's wall-clock figures on
a shared machine; compare two versions with ``PYTHONPATH=<their src>``.

Usage: .venv/bin/python benchmarks/ingest_cpu.py [--rounds 3] [--profile]
       [--per-request 2000] [--fixes-each 400]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import pstats
import tempfile
import time
from pathlib import Path

from load import field

from coursewatch.live.server import Server
from coursewatch.protocols.native import decode_native
from coursewatch.settings import load_settings
from coursewatch.sim.field import write_race
from coursewatch.sim.simulate import trail_course
from coursewatch.store import RunnerRecord


async def one_round(
    profile: cProfile.Profile | None, per_request: int = 2000, fixes_each: int = 400
) -> tuple[float, float]:
    """(main-thread CPU ms per 1,000 fixes, fixes per second) of one round."""
    with tempfile.TemporaryDirectory(prefix="coursewatch-cpu-") as tmp:
        folder = Path(tmp)
        settings = dataclasses.replace(load_settings(), db_path=folder / "hq.db", tick_s=0.0)
        server = Server(settings)
        await server.start()
        try:
            race_file = write_race(folder / "batch", trail_course(20_000.0, n_stations=3),
                                   time.time() - 2 * 86400)  # fmt: skip
            gpx = (race_file.parent / "course.gpx").read_bytes()
            await server.create_race("batch", race_file.read_text(), ".yaml", gpx, ".gpx")
            for i in range(500):
                await server.put_runner(RunnerRecord("batch", str(i), f"Runner {i}"))
            runs = field(500, fixes_each, time.time() - 86400, 5.0)
            rows = sorted((float(t[k]), str(i), float(la[k]), float(lo[k]))
                          for i, (t, la, lo) in enumerate(runs) for k in range(len(t)))  # fmt: skip
            bodies = [{"fixes": [{"bib": b, "time": t, "lat": a, "lon": o}
                                 for t, b, a, o in rows[i : i + per_request]]}
                      for i in range(0, len(rows), per_request)]  # fmt: skip
            accepted = 0
            cpu0, wall0 = time.thread_time(), time.perf_counter()
            if profile is not None:
                profile.enable()
            for body in bodies:
                report = await server.ingest(lambda b=body: decode_native(b), "native", "batch")
                accepted += report.accepted
            if profile is not None:
                profile.disable()
            cpu_s, wall_s = time.thread_time() - cpu0, time.perf_counter() - wall0
        finally:
            await server.stop()
    return 1e6 * cpu_s / accepted, accepted / wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile's top 30 (one round)")
    parser.add_argument("--per-request", type=int, default=2000, help="fixes a request")
    parser.add_argument("--fixes-each", type=int, default=400, help="fixes of each runner")
    args = parser.parse_args()
    profile = cProfile.Profile() if args.profile else None
    results = [asyncio.run(one_round(profile, args.per_request, args.fixes_each))
               for _ in range(1 if profile else args.rounds)]  # fmt: skip
    cpu = min(r[0] for r in results)
    rate = max(r[1] for r in results)
    print(
        f"ingest in process: {500 * args.fixes_each:,} fixes of 500 runners, "
        f"{args.per_request:,} a request: the event loop's "
        f"CPU {cpu:.1f} ms per 1,000 fixes, {rate:,.0f} fixes/s (best of {len(results)})"
    )
    if profile is not None:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
