"""The field's usual average pace since the start: where a runner first seen long after it
most likely is, among the places the course passes more than once.

A tracker switched on mid-race on a loop course (or an out-and-back) is at a place every lap
passes; the engine tells the laps apart by the average pace since the start that each one
implies (engine/hypotheses.py), against a usual pace. A fixed one (1.3 m/s, a 100-miler's)
put a backyard ultra's runner (a 6.7 km lap every hour, 1.9 m/s) a lap behind; the runners
already under way say what is usual in this race today.
"""

from __future__ import annotations

import math

import numpy as np

from coursewatch.live.runner import LiveRunner

KEEP_S = 60.0  # race time a median is used for (one per minute at most, however many ask)
MIN_RUNNERS = 5  # fewer under way: the configured pace (EngineConfig.avg_pace_mps)
UNDER_WAY_M = 1_000.0  # a runner counts this far along ...
UNDER_WAY_S = 1_800.0  # ... and this long after their start


class FieldPace:
    """``pace(t_s)``: the median average pace since their start of the runners under way
    or finished (to the line: a late fix after the race, or a course sent again, still has a
    field), not out; None with fewer than ``MIN_RUNNERS``."""

    def __init__(self, runners: dict[str, LiveRunner]) -> None:
        self.runners = runners  # the race's (the same dict while the race keeps them)
        self._kept: tuple[float, float | None] = (math.nan, None)

    def __call__(self, t_s: float) -> float | None:
        at_s, pace = self._kept
        if abs(t_s - at_s) < KEEP_S:
            return pace
        paces = []
        for r in self.runners.values():
            last, start, done_s = r.last_time_s, r.start_ts, r.finished_s
            if last is None or start is None or r.record.dnf:
                continue
            s_m, since_s = r.matcher.progress_m, last - start
            if done_s is not None:
                s_m, since_s = r.course.length_m, done_s - start
            if s_m >= UNDER_WAY_M and since_s >= UNDER_WAY_S:
                paces.append(s_m / since_s)
        pace = float(np.median(paces)) if len(paces) >= MIN_RUNNERS else None
        self._kept = (t_s, pace)
        return pace
