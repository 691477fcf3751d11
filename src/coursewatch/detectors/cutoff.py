"""Cut-off risk: the projected arrival at a station is after its cut-off.

Cut-offs are plain ``(course_m, cutoff_ts)`` pairs (from the race file, see
:mod:`coursewatch.race`), so the detector does not depend on how they were written. On each
evaluation, every cut-off still ahead of the runner whose ETA (plus ``margin_s`` of safety)
is past the cut-off by more than ``share_of_to_go`` of the time still to run (a projection
hours ahead is uncertain), and has been on every evaluation for ``persist_s`` (a projection made
right after a detour or a long stop is briefly pessimistic), raises ``cutoff_risk`` once, with
the projected margin in minutes (negative: projected late), and ``cutoff_passed`` when the
runner then reaches that station (in time or not: the margin says; the station's people have
them from there). A pure state machine: tests feed times, distances and ETAs only.

>>> cfg = CutoffConfig(margin_s=0.0, persist_s=600.0)
>>> cutoffs = ((20_000.0, 10_000.0), (40_000.0, 30_000.0))
>>> st, ev = cutoff_step(CutoffState(), 5_000.0, 15_000.0, cutoffs, (10_600.0, 29_000.0), cfg)
>>> ev
[]
>>> st, ev = cutoff_step(st, 5_600.0, 16_000.0, cutoffs, (10_700.0, 29_100.0), cfg)
>>> [(e.station_m, e.margin_min) for e in ev]
[(20000.0, -11.7)]
>>> cutoff_step(st, 5_700.0, 16_200.0, cutoffs, (10_700.0, 29_100.0), cfg)[1]
[]
>>> [(e.kind, e.margin_min) for e in cutoff_step(st, 9_400.0, 20_010.0, cutoffs,
...                                               (9_400.0, 28_000.0), cfg)[1]]
[('cutoff_passed', 10.0)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CutoffConfig:
    margin_s: float = 0.0
    persist_s: float = 600.0
    # a projection far ahead is uncertain: late by more than this share of the time still to
    # run before it counts (at the station's door, any lateness does)
    share_of_to_go: float = 0.0


@dataclass(frozen=True)
class CutoffState:
    alerted_m: frozenset[float] = frozenset()
    # (station_m, time first projected late) of the cut-offs projected late since
    late_since: tuple[tuple[float, float], ...] = ()
    open_m: frozenset[float] = frozenset()  # alerted, not reached yet
    episode_m: float = math.nan  # the station whose cut-off opened the runner's open episode


@dataclass(frozen=True)
class CutoffEvent:
    """``cutoff_risk`` or ``cutoff_passed`` at ``station_m``; ``episode_m``: the station that
    opened the runner's episode (one at a time: a later station projected late joins it), and
    whether this event ``opens`` or ``closes`` it (the last station of it reached)."""

    kind: str
    ts: float
    course_m: float
    station_m: float
    cutoff_ts: float
    eta_ts: float
    margin_min: float
    episode_m: float = math.nan
    opens: bool = False
    closes: bool = False


def cutoff_step(
    state: CutoffState,
    now_s: float,
    progress_m: float,
    cutoffs: Sequence[tuple[float, float]],
    eta_ts: Sequence[float],
    cfg: CutoffConfig,
) -> tuple[CutoffState, list[CutoffEvent]]:
    """Advance on a fix or a tick. ``eta_ts[i]`` is the ETA at ``cutoffs[i]`` (NaN: unknown)."""
    since = dict(state.late_since)
    late_since: list[tuple[float, float]] = []
    episode_m, still_open = state.episode_m, set(state.open_m)
    events = []
    for station_m, cutoff_ts in cutoffs:  # reached: the last of the episode's ends it
        if station_m in still_open and station_m <= progress_m:
            still_open.discard(station_m)
            events.append(CutoffEvent("cutoff_passed", now_s, progress_m, station_m, cutoff_ts,
                                      now_s, round((cutoff_ts - now_s) / 60.0, 1), episode_m,
                                      closes=not still_open))  # fmt: skip
    if not still_open:
        episode_m = math.nan
    for (station_m, cutoff_ts), eta in zip(cutoffs, eta_ts, strict=True):
        if station_m <= progress_m or station_m in state.alerted_m or math.isnan(eta):
            continue
        if eta + cfg.margin_s <= cutoff_ts + cfg.share_of_to_go * max(0.0, eta - now_s):
            continue  # on time now: a later projection starts the wait afresh
        first_s = since.get(station_m, now_s)
        if now_s - first_s < cfg.persist_s:
            late_since.append((station_m, first_s))
            continue
        opens = not still_open
        episode_m = station_m if opens else episode_m
        still_open.add(station_m)
        events.append(
            CutoffEvent(
                "cutoff_risk",
                now_s,
                progress_m,
                station_m,
                cutoff_ts,
                eta,
                round((cutoff_ts - eta) / 60.0, 1),
                episode_m,
                opens=opens,
            )
        )
    raised = {e.station_m for e in events if e.kind == "cutoff_risk"}
    out = CutoffState(state.alerted_m | raised, tuple(late_since), frozenset(still_open), episode_m)
    return out, events
