"""Where the detection targets meet the real data: how soon any rule can alarm, as recorded.

The detection harness (``detection.py``) judges a false alarm by the fixes as recorded: an
alarm while every recorded fix from 5 min before to 5 min after is within 60 m of the course
line. This script measures, on the same samples and with no added error, the two things that
bound every off-course rule under that judge:

1. **First passage.** For every injected wrong turn, the metres run past the turn until the
   recorded track is first further than X from the course line. A rule that never alarms
   before the runner is X off cannot alarm sooner, so the median at X = 60 m is the least any
   rule that stays quiet within 60 m can reach (a fix must be seen: at 10 s, the next fix).
2. **Real departures that stay on course.** On the untouched real recordings, the places where
   a runner goes from the line (within 15 m) to X m off, then stays within 60 m from 5 min
   before to 5 min after: an alarm there at X m is a false alarm by the judge. "Steep" ones
   got there at least as fast as a wrong turn of 30 degrees (offset grew by at least half the
   distance run since the runner was last within 15 m), so the shape of the departure does
   not tell them from a wrong turn either.

Usage: python benchmarks/floor.py [--per-track N] [--seed S [S ...]]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from detection import FA_WINDOW_S, ON_COURSE_M, build_cases, recorded
from realdata import PAIRS

OFFSETS_M = (40.0, 45.0, 50.0, 55.0, 60.0)
LINE_M = 15.0  # "on the line", where a departure starts
STEEP = 0.5  # offset gained per metre run: a wrong turn of 30 degrees


def first_passage(per_track: int, seeds: list[int]) -> dict[float, dict[float, list[float]]]:
    """Per sampling interval and offset X: metres run past each wrong turn until X off."""
    out: dict[float, dict[float, list[float]]] = {}
    for seed in seeds:
        for k in build_cases(per_track, seed):
            if k.run.excursion is None or k.noise != "none" or k.every_s >= 300:
                continue
            inside = ~np.isnan(k.run.path_m)
            per_x = out.setdefault(k.every_s, {x: [] for x in OFFSETS_M})
            for x in OFFSETS_M:
                hit = np.flatnonzero(inside & (k.d_true > x))
                if len(hit):
                    per_x[x].append(float(k.run.path_m[hit[0]]))
    return out


def departures() -> dict[float, tuple[int, int, list[str]]]:
    """Per offset X: real departures to X that the judge calls on course (all, steep)."""
    found: dict[float, tuple[int, int, list[str]]] = {x: (0, 0, []) for x in OFFSETS_M[:-1]}
    for pair in PAIRS:
        if pair.kind != "watch":
            continue
        _, t, _, _, d, path = recorded(pair)
        on_line = np.flatnonzero(d <= LINE_M)
        for xm in found:
            n_all, n_steep, where = found[xm]
            i = 0
            while True:
                # the first fix X off after a fix on the line, from fix i on
                up = np.flatnonzero(d[i:] >= xm)
                if len(up) == 0:
                    break
                j = i + int(up[0])
                k = np.searchsorted(on_line, j) - 1
                if k < 0:
                    i = j + 1
                    continue
                lo = np.searchsorted(t, t[j] - FA_WINDOW_S)
                hi = np.searchsorted(t, t[j] + FA_WINDOW_S, side="right")
                if np.all(d[lo:hi] <= ON_COURSE_M):
                    run_m = path[j] - path[on_line[k]]
                    steep = (d[j] - d[on_line[k]]) >= STEEP * run_m
                    n_all += 1
                    n_steep += int(steep)
                    if steep:
                        where.append(f"{pair.name} {t[j] - t[0]:.0f} s: {run_m:.0f} m run")
                # the next departure starts once the runner is back on the line
                back = np.searchsorted(on_line, j)
                if back >= len(on_line):
                    break
                i = int(on_line[back])
            found[xm] = (n_all, n_steep, where)
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--per-track", type=int, default=12, help="wrong turns injected per track")
    ap.add_argument("--seed", type=int, nargs="+", default=[2016], help="one sample per seed")
    args = ap.parse_args()
    fp = first_passage(args.per_track, args.seed)
    n_turns = len(next(iter(fp.values()))[OFFSETS_M[0]]) if fp else 0
    seeds = " ".join(map(str, args.seed))
    print(f"# first passage: {n_turns} wrong turns a sampling (--per-track {args.per_track}, "
          f"seed {seeds}), m run past the turn until X off, median (p90)")  # fmt: skip
    print(f"{'X m':>5} " + " ".join(f"{f'{e:.0f} s':>12}" for e in sorted(fp)))
    for xm in OFFSETS_M:
        cells = []
        for every_s in sorted(fp):
            v = np.asarray(fp[every_s][xm])
            cells.append(f"{np.median(v):5.0f} ({np.percentile(v, 90):4.0f})")
        print(f"{xm:>5.0f} " + " ".join(f"{c:>12}" for c in cells))
    dep = departures()
    print("# real departures from the line (within 15 m) to X m off that the judge calls on course")
    print(f"{'X m':>5} {'all':>5} {'steep':>6}  (steep: offset gained >= half the distance run)")
    for xm, (n_all, n_steep, _) in dep.items():
        print(f"{xm:>5.0f} {n_all:>5} {n_steep:>6}")
    for w in dep[max(dep)][2]:
        print(f"  steep to {max(dep):.0f} m: {w}")


if __name__ == "__main__":
    main()
