"""Engine speed: batch throughput, shapely comparison, live push latency, state size.

Fixes are simulated runners on the real Western States course (159.6 km), so parsing is
excluded. The shapely line is what a corridor tracker does per fix: the distance from the fix
to the nearest segment of the course (shapely 2 STRtree ``query_nearest``). Times are the
process's CPU time (both sides run on one core), so a busy machine slows a round less. Prints
numbers; it is not a test.

Usage: python benchmarks/speed.py [--fixes 1000000] [--rounds 3] [--set name=value ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from detection import parse_config
from realdata import course

from coursewatch import LiveMatcher, match_fixes
from coursewatch.sim.simulate import simulate_run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixes", type=int, default=1_000_000)
    ap.add_argument("--course", default="western_states_100.gpx")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    ap.add_argument("--set", nargs="*", default=[], help="engine setting overrides, name=value")
    args = ap.parse_args()
    cfg = parse_config(args.set)
    c = course(args.course)
    runs = []
    n = 0
    seed = 0
    while n < args.fixes:
        r = simulate_run(c, pace_mps=2.5, interval_s=1.0, seed=seed, gps_sigma_m=6.0)
        runs.append(r)
        n += len(r.time_s)
        seed += 1
    print(f"# {c.name} {c.length_m / 1000:.1f} km, {len(c.x)} vertices; {n} fixes "
          f"from {len(runs)} simulated runners at 1 s")  # fmt: skip
    match_fixes(c, runs[0].time_s[:1000], runs[0].lat[:1000], runs[0].lon[:1000])  # compile

    import shapely

    x, y = c.x, c.y
    segs = shapely.linestrings(
        np.stack([np.stack([x[:-1], y[:-1]], axis=1), np.stack([x[1:], y[1:]], axis=1)], axis=1)
    )
    tree = shapely.STRtree(segs)
    pts_xy = [c.frame.to_xy(r.lat, r.lon) for r in runs]

    def ours() -> float:
        t0 = time.process_time()
        for r in runs:
            match_fixes(c, r.time_s, r.lat, r.lon, config=cfg)
        return time.process_time() - t0

    def theirs() -> float:
        t0 = time.process_time()
        for px, py in pts_xy:
            tree.query_nearest(shapely.points(px, py), return_distance=True)
        return time.process_time() - t0

    # interleaved rounds, best of each (as timeit does): a busy moment on the machine slows
    # one round, not the comparison
    rounds = [(ours(), theirs()) for _ in range(args.rounds)]
    for k, (a, b) in enumerate(rounds):
        print(f"  round {k + 1}: coursewatch {n / a:10,.0f} fixes/s, shapely {n / b:9,.0f} "
              f"fixes/s, ratio {b / a:.1f}x")  # fmt: skip
    batch_s = min(a for a, _ in rounds)
    shapely_s = min(b for _, b in rounds)
    print(f"coursewatch batch (match + detect): {n / batch_s:12,.0f} fixes/s on one core")
    print(f"shapely 2 STRtree nearest distance: {n / shapely_s:12,.0f} fixes/s "
          f"(projection to metres not counted)")  # fmt: skip
    print(f"ratio (best round of each): coursewatch does the whole filter "
          f"{shapely_s / batch_s:.1f}x faster than shapely does the distance alone")  # fmt: skip

    r = runs[0]
    m = LiveMatcher(c, cfg)
    k = min(len(r.time_s), 50_000)
    for i in range(100):
        m.push(r.time_s[i], r.lat[i], r.lon[i])
    t = r.time_s.tolist()
    la = r.lat.tolist()
    lo = r.lon.tolist()
    t0 = time.process_time()
    for i in range(100, k):
        m.push(t[i], la[i], lo[i])
    push_us = (time.process_time() - t0) / (k - 100) * 1e6
    print(f"LiveMatcher.push: {push_us:.1f} us per fix (mean over {k - 100} fixes)")
    print(f"runner state: {m.snapshot().nbytes} bytes")


if __name__ == "__main__":
    main()
