"""A cut-off station reached, on the runner's split: its margin from when they passed it, and
a pass after the cut-off with no risk raised first (late by minutes, not for ten) missed all
the same. Pure functions of the race's passes (:mod:`coursewatch.live.passes`); the clock
(:mod:`coursewatch.live.clock`) calls them after the cut-off detector."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import replace

from coursewatch.detectors.cutoff import CutoffEvent
from coursewatch.live.registry import LiveRace
from coursewatch.live.runner import LiveRunner


def passed_when(race: LiveRace, runner: LiveRunner, e: CutoffEvent) -> CutoffEvent:
    """A station reached: its margin from when the runner passed it (their split), not
    from when it was seen (the next ping, a tick); after its cut-off, ``cutoff_missed``."""
    if e.kind != "cutoff_passed":
        return e
    at_s = race.passed_s(runner, bisect.bisect_left(race.station_m, e.station_m))
    if at_s is not None and at_s <= e.ts:
        e = replace(e, eta_ts=at_s, margin_min=round((e.cutoff_ts - at_s) / 60.0, 1))
    return replace(e, kind="cutoff_missed") if e.margin_min < 0 else e


def late_unwarned(
    race: LiveRace,
    runner: LiveRunner,
    cutoffs: Sequence[tuple[float, float]],
    s_m: float,
    judged: set[float] | frozenset[float],
) -> tuple[list[CutoffEvent], set[float]]:
    """Stations reached by ``s_m`` after their cut-off with no risk raised first:
    ``cutoff_missed`` all the same, stamped with their pass (once: the same event again
    after a restart is the same row); and the stations looked at (``judged``: already
    were, or the detector said something of them). Not known when passed: first seen
    past it, nothing said."""
    out, looked = [], set()
    for m, cutoff_ts in cutoffs:
        if m > s_m or m in judged:
            continue
        looked.add(m)
        at_s = race.passed_s(runner, bisect.bisect_left(race.station_m, m))
        if at_s is not None and at_s > cutoff_ts:
            late = round((cutoff_ts - at_s) / 60.0, 1)
            out.append(CutoffEvent("cutoff_missed", at_s, m, m, cutoff_ts, at_s, late, m,
                                   opens=True, closes=True, episode_ts=at_s))  # fmt: skip
    return out, looked
