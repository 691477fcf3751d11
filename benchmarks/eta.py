"""ETA quality on the real course/track pairs: our model beside average-speed extrapolation.

Run: ``.venv/bin/python benchmarks/eta.py``. For each pair, the runner's progress comes from
:func:`coursewatch.engine.matcher.match_fixes`; at every checkpoint pass (the course's stations,
or one every 10 km when the course has fewer than two; closer on
courses under 80 km so that each has eight) the arrival at every later checkpoint is
predicted from the fixes so far. Errors are ``|predicted - actual| / time still to run``.

The model's two data-fitted priors (fatigue per effort-km, stop ratio) are re-fitted for each
pair from the *other* pairs' whole races, and its share of average speed is chosen from a grid
on the other pairs only (the prior share with the lowest mean, over those pairs, of the
worse of the two ratios model / baseline error at p50 and p90): leave one pair out, so no
pair is scored with a setting that has seen it.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from dataclasses import replace
from functools import cache

import numpy as np
from realdata import PAIRS, Pair, course, track

from coursewatch.course import Course
from coursewatch.engine.matcher import match_fixes
from coursewatch.eta import EtaConfig, EtaModel
from coursewatch.geo import FloatArray
from coursewatch.sim.backtest import backtest, field_backtest

SYNTHETIC_EVERY_M = 10_000.0
MERGE_M = 500.0
LOST_START_M = 5_000.0
SHARES = tuple(i / 10 for i in range(11))  # average_share grid: 0, 0.1, ..., 1
MIN_CHECKPOINTS = 8  # short courses: closer than 10 km, else a 21 km race scores 3 rows


def checkpoints_m(c: Course) -> FloatArray:
    """Station passes inside the course (merged within 500 m), else every 10 km; plus the finish."""
    passes = sorted(
        s for st in c.stations for s in st.passes_m if MERGE_M < s < c.length_m - MERGE_M
    )
    merged: list[float] = []
    for s in passes:
        if not merged or s - merged[-1] >= MERGE_M:
            merged.append(s)
    if len(merged) < 2:
        every_m = min(SYNTHETIC_EVERY_M, c.length_m / MIN_CHECKPOINTS)
        merged = list(np.arange(every_m, c.length_m - MERGE_M, every_m))
    return np.array([*merged, c.length_m])


@cache
def progress(pair: Pair) -> tuple[FloatArray, FloatArray]:
    c, t = course(pair.course), track(pair.track)
    return t.time_s, match_fixes(c, t.time_s, t.lat, t.lon).progress_m


def matcher_lost(pair: Pair) -> str | None:
    """Why the matcher's progress is unusable for this pair (the ETA cannot be scored), or None."""
    _, progress_m = progress(pair)
    if progress_m[0] > LOST_START_M:
        return f"matcher put the first fix at km {progress_m[0] / 1000:.1f}"
    return None


def whole_race_fit(pair: Pair) -> tuple[float, float]:
    """The runner's fatigue and stop ratio fitted on the complete race (no forgetting)."""
    cfg = EtaConfig(forget_km=math.inf, fatigue_sd_per_km=0.1, stop_prior_s=1.0)
    model = EtaModel(course(pair.course), cfg)
    state = model.new_state()
    for t_s, s_m in zip(*(a.tolist() for a in progress(pair)), strict=True):
        state = model.update(state, t_s, s_m)
    return model.fit(state).fatigue_per_km, state.stopped_s / max(state.moving_s, 1.0)


def pct(v: FloatArray, q: float) -> float:
    return 100.0 * float(np.percentile(v, q))


Scores = dict[tuple[str, float], tuple[float, float, float, float, int]]


def score_all(fits: dict[str, tuple[float, float]]) -> Scores:
    """(model p50, p90, baseline p50, p90, n) per pair and average share, with LOO priors."""
    out: Scores = {}
    for name in fits:
        p = next(q for q in PAIRS if q.name == name)
        others = [v for n, v in fits.items() if n != name]
        k0 = statistics.median(k for k, _ in others)
        r0 = statistics.median(r for _, r in others)
        c = course(p.course)
        for share in SHARES:
            cfg = replace(EtaConfig(), fatigue_per_km=k0, stop_ratio=r0, average_share=share)
            bt = backtest(EtaModel(c, cfg), *progress(p), checkpoints_m(c))
            out[name, share] = (pct(bt.model_error, 50), pct(bt.model_error, 90),
                                pct(bt.baseline_error, 50), pct(bt.baseline_error, 90),
                                len(bt.model_error))  # fmt: skip
    return out


def chosen_share(scores: Scores, names: list[str]) -> float:
    """The prior share with the lowest mean over ``names`` of the worse model/baseline ratio."""
    return min(SHARES, key=lambda share: statistics.mean(ratios(scores, names, share)))


def ratios(scores: Scores, names: list[str], share: float) -> list[float]:
    """Per pair, the worse of model/baseline error at p50 and p90 (below 1: beats it)."""
    return [
        max(m50 / b50, m90 / b90) for n in names for m50, m90, b50, b90, _ in [scores[n, share]]
    ]


def utmb_with_history() -> None:
    """UTMB 2021 at the race's stations: today's model beside the field model with the
    2015-2017 history (the race file examples/utmb_2017.race.yaml plus the 2017 results)."""
    from field_eta import utmb

    from coursewatch.fieldrace import race_field

    pair = next(p for p in PAIRS if p.name == "utmb_2021")
    race, editions = utmb("2017")  # 2021 ran by Lac Combal, as 2017: 2015-16 changed there
    c = course(pair.course)
    rf = race_field(race, c, history=[editions[y] for y in ("2015", "2016", "2017")])
    station_m = np.array([s.distance_m or 0.0 for s in rf.stations])
    bt = field_backtest(EtaModel(c), rf.model, *progress(pair), station_m)
    print("\nUTMB 2021 at its 24 stations, error as % of the time still to run:")
    for name, err in (("today's model", bt.model_error), ("history 2015-2017", bt.baseline_error)):
        print(
            f"  {name:18s} n {len(err):4d}  median {pct(err, 50):5.1f} %  p90 {pct(err, 90):5.1f} %"
        )


def main() -> int:
    t0 = time.perf_counter()
    utmb_with_history()
    lost = {p.name: why for p in PAIRS if (why := matcher_lost(p))}
    fits = {p.name: whole_race_fit(p) for p in PAIRS if p.name not in lost}
    print("whole-race fits (input of the leave-one-out priors):")
    for name, (k, r) in fits.items():
        print(f"  {name:18s} fatigue {1000 * k:+6.2f} /1000 effort-km   stop ratio {r:5.3f}")
    scores = score_all(fits)
    header = (f"{'pair':18s} {'n':>5s}  {'model p50':>9s} {'p90':>6s}   {'baseline p50':>12s} "
              f"{'p90':>6s}  {'prior k':>7s} {'prior r':>7s} {'avg':>4s}  beats")  # fmt: skip
    print("\nabsolute ETA error as % of the time still to run (leave-one-pair-out priors)")
    print(header)
    print("-" * len(header))
    wins = 0
    for p in PAIRS:
        if p.name in lost:
            print(f"{p.name:18s} not scored: {lost[p.name]} (an engine issue, not an ETA one)")
            continue
        others = [v for n, v in fits.items() if n != p.name]
        k0 = statistics.median(k for k, _ in others)
        r0 = statistics.median(r for _, r in others)
        share = chosen_share(scores, [n for n in fits if n != p.name])
        m50, m90, b50, b90, n = scores[p.name, share]
        beats = m50 < b50 and m90 < b90
        wins += beats
        print(f"{p.name:18s} {n:5d}  {m50:8.1f}% {m90:5.1f}%   {b50:11.1f}% {b90:5.1f}%  "
              f"{1000 * k0:7.2f} {r0:7.3f} {share:4.1f}  {'yes' if beats else 'NO'}")  # fmt: skip
    print("\nmodel/baseline error ratio over all pairs per prior average share: mean (max)")
    for share in SHARES:
        r = ratios(scores, list(fits), share)
        print(f"  {share:.1f}: {statistics.mean(r):.3f} ({max(r):.3f})")
    speed()
    print(
        f"\nbeats the baseline (p50 and p90) on {wins}/{len(PAIRS)} pairs; "
        f"{time.perf_counter() - t0:.0f} s"
    )
    return 0 if wins == len(PAIRS) else 1


def speed() -> None:
    """The model's cost on UTMB 2021 (its course's bins, its runner's fixes): an update per
    fix, and a prediction of 12 targets from 500 of the states (process CPU time, best of 3)."""
    pair = next(p for p in PAIRS if p.name == "utmb_2021")
    model = EtaModel(course(pair.course))
    time_s, progress_m = progress(pair)
    updates, predicts = [], []
    targets = np.linspace(0.0, model.course.length_m, 12)
    for _ in range(3):
        t0, state, states = time.process_time(), model.new_state(), []
        for t, s in zip(time_s.tolist(), progress_m.tolist(), strict=True):
            state = model.update(state, t, s)
            states.append(state)
        updates.append((time.process_time() - t0) / len(time_s))
        some = states[:: max(len(states) // 500, 1)]
        t0 = time.process_time()
        for state in some:
            model.predict(state, targets)
        predicts.append((time.process_time() - t0) / len(some))
    print(f"\nspeed on UTMB 2021 ({len(model.profile.factor):,} bins, {len(time_s):,} fixes): "
          f"an update {1e6 * min(updates):.1f} us a fix, a prediction of 12 targets "
          f"{1e6 * min(predicts):.1f} us")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
