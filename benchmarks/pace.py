"""The pace ``analyze`` prices an excursion's time lost with, against the pace the runner kept.

An excursion's time lost is the time it took, less stops, minus the time the runner's pace
of the hour before would have needed for the course it covered. A pace too fast makes every
detour (and every shortcut) cost more than it did. For each real recording of
``../shared/data``, at about 200 moments of the race, the pace of the hour before (as
``analyze`` estimates it: ``excursions.pace_before_mps``; and, for comparison, the estimate
it used before, the moving steps alone) is divided by the pace the runner then kept for the
next hour (course covered over the time, less stops of 5 minutes or more). 1.00 is right.

Usage: python benchmarks/pace.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from realdata import PAIRS, course, track

from coursewatch.analysis import SIMPLIFY_SIGMAS
from coursewatch.analysis.excursions import PACE_WINDOW_S, pace_before_mps, stopped_s
from coursewatch.distance import distance_run_m
from coursewatch.engine.matcher import match_fixes
from coursewatch.geo import FloatArray

SAMPLES = 200


def steps_pace_mps(time_s: FloatArray, progress_m: FloatArray, k: int) -> float | None:
    """The estimate before: the steps that moved along the course alone (a watch that repeats
    a position and then jumps makes those steps too fast)."""
    lo = int(np.searchsorted(time_s, time_s[k] - PACE_WINDOW_S))
    dts, dss = np.diff(time_s[lo : k + 1]), np.diff(progress_m[lo : k + 1])
    moving = (dts > 0) & (dss > 0.3 * dts)
    dt, ds = float(dts[moving].sum()), float(dss[moving].sum())
    return None if dt < 300.0 or ds < 200.0 else ds / dt


def kept_pace_mps(
    t: FloatArray, progress_m: FloatArray, path_m: FloatArray, k: int
) -> float | None:
    """What the runner did in the hour after fix ``k``: course covered over the time, less
    stops."""
    hi = int(np.searchsorted(t, t[k] + 3600.0))
    if hi >= len(t):
        return None
    moving_s = float(t[hi] - t[k]) - stopped_s(t[k : hi + 1], path_m[k : hi + 1],
                                               np.ones(hi - k, dtype=bool))  # fmt: skip
    covered_m = float(np.max(progress_m[k : hi + 1]) - progress_m[k])
    return None if moving_s < 600.0 or covered_m < 500.0 else covered_m / moving_s


def main() -> None:
    started = time.perf_counter()
    print("# pace before a moment / pace kept the hour after (1.00: right), median and p90 of")
    print("# the factor off either way; `analyze`'s estimate and the moving steps' alone")
    print(f"{'pair':16s} {'n':>4s}  {'analyze':>15s}  {'moving steps':>15s}")
    for p in PAIRS:
        c, tr = course(p.course), track(p.track)
        match = match_fixes(c, tr.time_s, tr.lat, tr.lon, tr.accuracy_m)
        x, y = c.frame.to_xy(tr.lat, tr.lon)
        path = distance_run_m(x, y, SIMPLIFY_SIGMAS * match.noise_m)
        t, prog = tr.time_s, match.progress_m
        now, before = [], []
        for k in range(0, len(t), max(1, len(t) // SAMPLES)):
            kept = kept_pace_mps(t, prog, path, k)
            est, old = pace_before_mps(t, prog, path, k), steps_pace_mps(t, prog, k)
            if kept and est and old:
                now.append(est / kept)
                before.append(old / kept)
        if not now:
            continue

        def cell(r: list[float]) -> str:
            a = np.array(r)
            return f"{np.median(a):.2f} ({np.exp(np.percentile(np.abs(np.log(a)), 90)):.2f}x)"

        print(f"{p.name:16s} {len(now):4d}  {cell(now):>15s}  {cell(before):>15s}")
    print(f"# {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
