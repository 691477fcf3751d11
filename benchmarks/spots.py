"""Spots on real recordings: several runners through the same real places, race HQ live.

``python benchmarks/spots.py [--runners 4] [--gap-s 120] [--show]`` takes each real watch
recording of ../shared/data (the pairs of benchmarks/realdata.py at 1-6 s) as ``--runners``
runners of one race: the recording as a phone sends it every 60 s, each runner at another
phase of the minute (so their fixes, and where the engine finds they left the course, differ),
each starting ``--gap-s`` after the one before. They are replayed through race HQ
(benchmarks/liverun.py: the real app, pipeline and store), then ``GET /spots`` is read.

Every runner runs the same real track, so each place race HQ is told of should be one spot
of all of them, and nothing else a spot. Printed per pair: race HQ's course incidents (all
runners; and the first runner's alone: the places), spots, spots of all the runners, the
runners of each spot, and the course incidents in no spot (a runner alerted where the others
were not, or a place split in two). Say on what machine when you quote it.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from detection import subsample
from liverun import LiveRun, fix_batches, replay_field
from realdata import PAIRS, data_dir, track

PHONE_S = 60.0
COURSE_FAMILY = "course:"


def runs(pair_track: str, n: int, gap_s: float) -> tuple[float, dict[str, list]]:  # type: ignore[type-arg]
    """The race's start and each runner's batches: the track at a phase of the minute each,
    each runner ``gap_s`` after the one before."""
    tr = track(pair_track)
    t, lat, lon = tr.time_s, tr.lat, tr.lon
    out = {}
    for k in range(n):
        first = int(np.searchsorted(t, t[0] + k * PHONE_S / n))
        keep = first + subsample(t[first:], PHONE_S)
        shifted = t[keep] + k * gap_s
        out[str(k + 1)] = fix_batches(shifted, lat[keep], lon[keep], PHONE_S, first_alone=0)
    return float(t[0]) - 60.0, out


def course_alerts(run: LiveRun) -> list[dict]:  # type: ignore[type-arg]
    return [i for i in run.hq if i["episode"].startswith(COURSE_FAMILY) and not i["retracted"]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runners", type=int, default=4)
    ap.add_argument("--gap-s", type=float, default=120.0)
    ap.add_argument("--show", action="store_true", help="each spot and incident outside one")
    args = ap.parse_args()
    print(f"# spots: each real watch recording as {args.runners} runners at 60 s, "
          f"{args.gap_s:.0f} s apart, through race HQ")  # fmt: skip
    print(f"{'pair':>16} {'HQ course':>9} {'runner 1':>8} {'spots':>5} {'all runners':>11} "
          f"{'in no spot':>10} {'seconds':>7}  runners of each spot")  # fmt: skip
    for pair in PAIRS:
        if pair.kind != "watch":
            continue
        t0 = time.perf_counter()
        start_ts, batches = runs(pair.track, args.runners, args.gap_s)
        run = replay_field(data_dir() / "courses" / pair.course, start_ts, batches)
        alerts = course_alerts(run)
        in_spot = {i for s in run.spots for i in s["incidents"]}
        lone = [i for i in alerts if i["id"] not in in_spot]
        first = sum(1 for i in alerts if i["bib"] == "1")
        full = sum(1 for s in run.spots if s["runners"] == args.runners)
        sizes = ", ".join(str(s["runners"]) for s in reversed(run.spots)) or "-"
        print(f"{pair.name:>16} {len(alerts):9d} {first:8d} {len(run.spots):5d} {full:11d} "
              f"{len(lone):10d} {time.perf_counter() - t0:7.0f}  {sizes}")  # fmt: skip
        if args.show:
            for s in reversed(run.spots):
                print(f"      spot at km {(s['course_m'] or 0) / 1000:.2f} "
                      f"({s['lat']:.5f},{s['lon']:.5f}): bibs {', '.join(s['bibs'])}")  # fmt: skip
            for i in lone:
                print(f"      in no spot: #{i['id']} bib {i['bib']} {i['kind']}: {i['sentence']}")
    print(f"# machine: {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
