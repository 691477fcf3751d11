"""After the race: how well ``analyze`` explains the wrong turns injected by detection.py.

The same sample as ``benchmarks/detection.py`` (the same seeds give the same wrong turns). For
every injected turn, the excursion ``analyze`` reports over it is compared with the truth:

- found: an excursion overlaps the injected one (and how many the report splits it into);
- where the runner left, along the course: the reported ``left.course_m`` against the course
  position of the turn (the progress matched at that moment on the run at the finest rate
  without added error), and the reported time against the time of the turn;
- where they rejoined: they came back to the turn itself, so the same point;
- extra distance: the runner ran 1.5 km out and 1.5 km back, as recorded (the path of the
  recorded fixes, which at 10 s and 300 s is shorter than the 1 s path); the course covered is
  none;
- time lost: the whole excursion, since no course was covered.

Usage: python benchmarks/hindsight.py [--per-track N] [--seed S [S ...]]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from detection import NOISE_MODES, Case, build_cases
from realdata import PAIRS, course

from coursewatch import Track, analyze
from coursewatch.analysis import Excursion


@dataclass
class Errors:
    found: int = 0
    missed: int = 0
    split: int = 0  # found as more than one excursion
    left_m: list[float] = field(default_factory=list)
    left_s: list[float] = field(default_factory=list)
    rejoin_m: list[float] = field(default_factory=list)
    extra_m: list[float] = field(default_factory=list)  # reported minus true
    lost_s: list[float] = field(default_factory=list)  # reported minus true
    lost_unknown: int = 0


def excursions_over(excs: tuple[Excursion, ...], t0: float, t1: float) -> list[Excursion]:
    out = []
    for e in excs:
        start = e.left.time.timestamp()
        end = e.rejoined.time.timestamp() if e.rejoined is not None else np.inf
        if start <= t1 and end >= t0:
            out.append(e)
    return out


def as_track(c_name: str, k: Case) -> Track:
    c = course(c_name)
    lat, lon = c.frame.to_latlon(k.run.x, k.run.y)
    return Track(k.pair, k.run.t, lat, lon, None, k.run.accuracy_m)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--per-track", type=int, default=12, help="wrong turns injected per track")
    ap.add_argument("--seed", type=int, nargs="+", default=[2016], help="one sample per seed")
    args = ap.parse_args()
    started = time.perf_counter()
    by_pair = {p.name: p for p in PAIRS}
    errors: dict[tuple[float, str], Errors] = {}
    n = 0
    for seed in args.seed:
        cases = [k for k in build_cases(args.per_track, seed) if k.run.excursion is not None]
        # the truth of where each turn is along the course: the finest run without added error
        truth: dict[tuple[str, float], float] = {}
        for k in sorted(cases, key=lambda k: k.every_s):
            assert k.run.excursion is not None
            key = (k.pair, k.run.excursion[0])
            if k.noise != "none" or key in truth:
                continue
            a = analyze(course(by_pair[k.pair].course), as_track(by_pair[k.pair].course, k))
            truth[key] = float(np.interp(k.run.excursion[0], k.run.t, a.match.progress_m))
        for k in cases:
            assert k.run.excursion is not None
            t0, t1 = k.run.excursion
            c_name = by_pair[k.pair].course
            a = analyze(course(c_name), as_track(c_name, k))
            er = errors.setdefault((k.every_s, k.noise), Errors())
            n += 1
            over = excursions_over(a.excursions, t0, t1)
            if not over:
                er.missed += 1
                continue
            er.found += 1
            er.split += len(over) > 1
            first, last = over[0], over[-1]
            s_true = truth[(k.pair, t0)]
            if first.left.course_m is not None:
                er.left_m.append(abs(first.left.course_m - s_true))
            er.left_s.append(abs(first.left.time.timestamp() - t0))
            if last.rejoined is not None and last.rejoined.course_m is not None:
                er.rejoin_m.append(abs(last.rejoined.course_m - s_true))
            inside = (k.run.t >= t0) & (k.run.t <= t1)
            xs, ys = k.run.true_x[inside], k.run.true_y[inside]
            run_m = float(np.hypot(np.diff(xs), np.diff(ys)).sum())
            er.extra_m.append(sum(e.extra_distance_m for e in over) - run_m)
            lost = [e.time_lost_s for e in over]
            if any(v is None for v in lost):
                er.lost_unknown += 1
            else:
                er.lost_s.append(sum(v for v in lost if v is not None) - (t1 - t0))
    seeds = ", ".join(str(s) for s in args.seed)
    print(f"# analyze after the race: {n} runs with an injected wrong turn, seed {seeds}, "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    print(f"{'sampling':>9} {'noise':>9} {'found':>7} {'split':>6} "
          f"{'left: m along (p90)':>20} {'s (p90)':>11} {'rejoined: m (p90)':>18} "
          f"{'extra m: median err (p90 |err|)':>32} "
          f"{'time lost s: median err (p90 |err|)':>36}")  # fmt: skip
    order = {m: i for i, m in enumerate(NOISE_MODES)}
    for (every_s, noise), er in sorted(errors.items(), key=lambda kv: (kv[0][0], order[kv[0][1]])):

        def mp(v: list[float]) -> str:
            if not v:
                return "-"
            a = np.asarray(v)
            return f"{np.median(a):.0f} ({np.percentile(np.abs(a), 90):.0f})"

        lost = mp(er.lost_s) + (f", {er.lost_unknown} unknown" if er.lost_unknown else "")
        print(f"{every_s:>8.0f}s {noise:>9} {er.found:>3}/{er.found + er.missed:<3} "
              f"{er.split:>6} {mp(er.left_m):>20} {mp(er.left_s):>11} {mp(er.rejoin_m):>18} "
              f"{mp(er.extra_m):>32} {lost:>36}")  # fmt: skip


if __name__ == "__main__":
    main()
