"""Stopped: no progress along the course for a while, away from any station.

A runner resting at an aid station is normal; the same rest on a ridge between stations may
be an injury. The detector anchors where the runner last moved; when they have made less than
``min_progress_m`` of course distance for ``window_s`` and the anchor is more than
``station_radius_m`` from every station pass, it raises ``stopped`` (the runner and their crew
are told); still there after ``long_s``, ``stopped_long`` (race HQ is); moving again raises
``moving_again`` and clears. A pure state machine: tests feed it times and distances only.

>>> cfg = StoppedConfig(window_s=600.0, station_m=(10_000.0,))
>>> st = StoppedState()
>>> st, ev = stopped_step(st, 0.0, 5_000.0, cfg)
>>> st, ev = stopped_step(st, 700.0, 5_020.0, cfg)
>>> ev[0].kind, ev[0].stopped_s
('stopped', 700.0)
>>> st, ev = stopped_step(st, 900.0, 5_300.0, cfg)
>>> ev[0].kind, ev[0].stopped_s
('moving_again', 900.0)
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class StoppedConfig:
    """``station_m``: course distance of every station pass, sorted."""

    min_progress_m: float = 100.0
    window_s: float = 15 * 60.0
    station_radius_m: float = 300.0
    station_m: tuple[float, ...] = ()
    long_s: float = 60 * 60.0  # stopped this long: race HQ is told


@dataclass(frozen=True)
class StoppedState:
    anchor_ts: float = math.nan
    anchor_m: float = math.nan
    alarmed: bool = False
    escalated: bool = False


@dataclass(frozen=True)
class StoppedEvent:
    """``stopped`` (raised), ``stopped_long`` (still stopped after ``long_s``) or
    ``moving_again`` (cleared), with the time stood still."""

    kind: str
    ts: float
    course_m: float
    since_ts: float
    stopped_s: float


def near_station(course_m: float, station_m: tuple[float, ...], radius_m: float) -> bool:
    """True when ``course_m`` is within ``radius_m`` of a pass in the sorted ``station_m``."""
    i = bisect.bisect_left(station_m, course_m)
    return any(
        abs(station_m[j] - course_m) <= radius_m for j in (i - 1, i) if 0 <= j < len(station_m)
    )


def stopped_step(
    state: StoppedState, t_s: float, progress_m: float, cfg: StoppedConfig
) -> tuple[StoppedState, list[StoppedEvent]]:
    """Advance by one fix: its time (epoch seconds) and progress along the course."""
    if math.isnan(state.anchor_ts) or t_s < state.anchor_ts:
        return StoppedState(t_s, progress_m), []
    if abs(progress_m - state.anchor_m) >= cfg.min_progress_m:
        events = []
        if state.alarmed:
            events.append(StoppedEvent("moving_again", t_s, progress_m, state.anchor_ts,
                                       t_s - state.anchor_ts))  # fmt: skip
        return StoppedState(t_s, progress_m), events
    still_s = t_s - state.anchor_ts
    if state.alarmed:
        if state.escalated or still_s < cfg.long_s:
            return state, []
        event = StoppedEvent("stopped_long", t_s, progress_m, state.anchor_ts, still_s)
        return StoppedState(state.anchor_ts, state.anchor_m, True, True), [event]
    if still_s < cfg.window_s:
        return state, []
    if near_station(state.anchor_m, cfg.station_m, cfg.station_radius_m):
        return state, []
    event = StoppedEvent("stopped", t_s, progress_m, state.anchor_ts, still_s)
    if still_s >= cfg.long_s:  # hourly pings: the first to show the stop is an hour on (Dark
        # Sky's 05:41, after 1 h 05 min: race HQ was told at the next, 06:41, "2 h 05 min")
        long = StoppedEvent("stopped_long", t_s, progress_m, state.anchor_ts, still_s)
        return StoppedState(state.anchor_ts, state.anchor_m, True, True), [event, long]
    return StoppedState(state.anchor_ts, state.anchor_m, alarmed=True), [event]
