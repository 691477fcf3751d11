"""The frontier of the HQ confirmation: unjustified HQ alerts on whole real races against how
far past an injected wrong turn race HQ is told, over the confirmation's settings.

For each setting, ``benchmarks/trust.py``'s judge on the 11 real pairs (as recorded, at one
fix a minute, started mid-race; and, to see how near the edge a setting is, as recorded and at
one fix a minute with added GPS error, AR(1) 8 m with a 30 s time constant as
``benchmarks/detection.py`` adds, ``--error-seeds`` draws: the judge reads the same fixes)
and ``benchmarks/detection.py``'s injected wrong turns (median metres run past the turn when
the HQ alert fired, at 1 s and 10 s, as recorded and with added error). The settings:
``hq_far_m`` (a flagged runner this far from the whole line, on two fixes in a row, is
confirmed), ``hq_stay_m`` and ``hq_stay_s`` (or this far off across this long).

Usage: python benchmarks/frontier.py [--per-track 12] [--far 200 150 ...] [--stay 100 ...]
       [--stay-s 120 60 ...] [--error-seeds 20]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from detection import ar1_noise, build_cases, evaluate
from realdata import PAIRS, Pair, course
from trust import engine_alerts, judge, stretches, variant

from coursewatch import EngineConfig
from coursewatch.analysis.near import line_distances
from coursewatch.geo import FloatArray

VARIANTS = ("recorded", "phone", "late")
ERROR_M = 8.0  # the added GPS error (benchmarks/detection.py's)
ERROR_TAU_S = 30.0


Fixes = tuple[FloatArray, FloatArray, FloatArray]


def unjustified(cfg: EngineConfig) -> tuple[int, int, float]:
    """(unjustified HQ alerts, missed stretches of 300 m, runner-hours) over the variants."""
    return _judged(cfg, ((pair, variant(pair, v)) for v in VARIANTS for pair in PAIRS))


def unjustified_with_error(cfg: EngineConfig, seeds: int) -> tuple[int, int, float]:
    """The same, as recorded and at one fix a minute, with ``seeds`` draws of GPS error."""

    def draws() -> Iterator[tuple[Pair, Fixes]]:
        for seed in range(1, seeds + 1):
            for v in ("recorded", "phone"):
                for pair in PAIRS:
                    if v == "phone" and pair.kind == "pings":
                        continue  # (as recorded: pings are minutes apart)
                    t, lat, lon = variant(pair, v)
                    c = course(pair.course)
                    x, y = c.frame.to_xy(lat, lon)
                    e = ar1_noise(t, ERROR_M, ERROR_TAU_S, np.random.default_rng(seed))
                    yield pair, (t, *c.frame.to_latlon(x + e[:, 0], y + e[:, 1]))

    return _judged(cfg, draws())


def _judged(cfg: EngineConfig, runs: Iterable[tuple[Pair, Fixes]]) -> tuple[int, int, float]:
    bad = missed = 0
    hours = 0.0
    for pair, (t, lat, lon) in runs:
        c = course(pair.course)
        found = stretches(t, line_distances(c, lat, lon), lat, lon)
        h = float(t[-1] - t[0]) / 3600.0
        score, _, _ = judge(engine_alerts(c, t, lat, lon, ("alert",), cfg), found, h)
        bad += score.unjustified
        missed += score.missed
        hours += h
    return bad, missed, hours


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-track", type=int, default=12)
    ap.add_argument("--far", type=float, nargs="+", default=[200.0])
    ap.add_argument("--stay", type=float, nargs="+", default=[100.0])
    ap.add_argument("--stay-s", type=float, nargs="+", default=[120.0])
    ap.add_argument("--error-seeds", type=int, default=20, help="draws of added GPS error")
    args = ap.parse_args()
    began = time.time()
    cases = [k for k in build_cases(args.per_track, 2016, ()) if k.every_s < 300]
    print(
        f"# frontier: {sum(k.run.excursion is not None for k in cases)} injected turns at "
        f"1 s and 10 s; trust judge on {len(PAIRS)} pairs x {len(VARIANTS)} variants; with "
        f"error: as recorded and at 1 min, {args.error_seeds} draws"
    )
    print(f"{'far m':>6} {'stay m':>6} {'stay s':>6} {'unjust':>6} {'missed':>6} "
          f"{'with error':>10}   HQ median m (p90): 1 s, 10 s, 1 s + error, "
          "10 s + error")  # fmt: skip
    for far, stay, stay_s in itertools.product(args.far, args.stay, args.stay_s):
        cfg = replace(EngineConfig(), hq_far_m=far, hq_stay_m=stay, hq_stay_s=stay_s)
        bad, missed, _ = unjustified(cfg)
        noisy = unjustified_with_error(cfg, args.error_seeds)[0] if args.error_seeds else 0
        tallies = evaluate(cases, cfg, corridors=False)
        cells = []
        for every_s, noise in ((1.0, "none"), (10.0, "none"), (1.0, "AR(1)"), (10.0, "AR(1)")):
            d = tallies[(every_s, noise, "coursewatch HQ")].delays_m
            cells.append(f"{np.median(d):.0f} ({np.percentile(d, 90):.0f})" if d else "-")
        print(f"{far:6.0f} {stay:6.0f} {stay_s:6.0f} {bad:6d} {missed:6d} {noisy:10d}   "
              f"{', '.join(cells)}")  # fmt: skip
    print(f"# {time.time() - began:.0f} s")


if __name__ == "__main__":
    main()
