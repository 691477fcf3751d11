"""Cut-off risk: the projected arrival at a station is after its cut-off.

Cut-offs are plain ``(course_m, cutoff_ts)`` pairs (from the race file, see
:mod:`coursewatch.race`), so the detector does not depend on how they were written. On each
evaluation, every cut-off still ahead of the runner whose ETA (plus ``margin_s`` of safety)
is past the cut-off by more than ``share_of_to_go`` of the time still to run (a projection
hours ahead is uncertain), and has been on every evaluation for ``persist_s`` (a projection made
right after a detour or a long stop is briefly pessimistic), raises ``cutoff_risk`` once, with
the projected margin in minutes (negative: projected late), and ``cutoff_passed`` when the
runner then reaches that station (in time or not: the margin says; the station's people have
them from there). Only the first station ahead projected late is raised: the next is the one
race HQ acts on (a runner pulled there never reaches the later ones); the later ones count
once it is behind them; with ``next_only`` (live), a later one is not judged at all until it is
the next (the runner on time for the next, a day from the later one: often wrong that far
ahead, benchmarks/cutoffs.py). A station projected at least ``clear_s`` before its cut-off for
``persist_s`` again (the runner sped up, the cut-off was moved) gives ``cutoff_clear``: its
risk is over until it is projected late again. A pure state machine: tests feed times,
distances and ETAs only.

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

On time for the next cut-off, late for the one after: only ``next_only`` waits for it.

>>> late_later = (9_000.0, 31_000.0)
>>> for nxt in (False, True):
...     c = CutoffConfig(persist_s=0.0, next_only=nxt)
...     print(nxt, [e.station_m for e in cutoff_step(CutoffState(), 5_000.0, 15_000.0, cutoffs,
...                                                   late_later, c)[1]])
False [40000.0]
True []
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
    clear_s: float = 600.0  # projected this far ahead of a cut-off: its risk is over
    # judge only the next cut-off ahead (the one the runner must make next): a later one is
    # judged when it is the next (a projection a day ahead is often wrong: benchmarks/cutoffs.py)
    next_only: bool = False


@dataclass(frozen=True)
class CutoffState:
    alerted_m: frozenset[float] = frozenset()
    # (station_m, time first projected late) of the cut-offs projected late since
    late_since: tuple[tuple[float, float], ...] = ()
    open_m: frozenset[float] = frozenset()  # alerted, not reached yet
    episode_m: float = math.nan  # the station whose cut-off opened the runner's open episode
    # (station_m, time first projected well ahead) of the open ones projected in time since
    clear_since: tuple[tuple[float, float], ...] = ()
    episode_ts: float = math.nan  # when the open episode began (a station raised again after
    # its risk ended is another episode)


@dataclass(frozen=True)
class CutoffEvent:
    """``cutoff_risk``, ``cutoff_clear`` or ``cutoff_passed`` at ``station_m``;
    ``episode_m``: the station that opened the runner's episode (one at a time), and whether
    this event ``opens`` or ``closes`` it."""

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
    episode_ts: float = math.nan  # when its episode began


def cutoff_step(
    state: CutoffState,
    now_s: float,
    progress_m: float,
    cutoffs: Sequence[tuple[float, float]],
    eta_ts: Sequence[float],
    cfg: CutoffConfig,
) -> tuple[CutoffState, list[CutoffEvent]]:
    """Advance on a fix or a tick. ``eta_ts[i]`` is the ETA at ``cutoffs[i]`` (NaN: unknown)."""
    still_open = set(state.open_m)
    events = _passed(state, still_open, now_s, progress_m, cutoffs)
    alerted = set(state.alerted_m)
    cleared = _cleared(state, still_open, alerted, now_s, progress_m, cutoffs, eta_ts, cfg, events)
    episode_m = state.episode_m if still_open else math.nan
    late_since, risk = _at_risk(state, still_open, alerted, now_s, progress_m, cutoffs, eta_ts,
                                cfg, episode_m)  # fmt: skip
    episode_ts = state.episode_ts if still_open else math.nan
    if risk is not None:
        events.append(risk)
        alerted.add(risk.station_m)
        still_open.add(risk.station_m)
        episode_m, episode_ts = risk.episode_m, risk.episode_ts
    out = CutoffState(frozenset(alerted), late_since, frozenset(still_open), episode_m, cleared,
                      episode_ts)  # fmt: skip
    return out, events


def _passed(
    state: CutoffState, still_open: set[float], now_s: float, progress_m: float,
    cutoffs: Sequence[tuple[float, float]],
) -> list[CutoffEvent]:  # fmt: skip
    """The stations of the open episode reached now (taken out of ``still_open``): the last
    one reached closes it."""
    events = []
    for station_m, cutoff_ts in cutoffs:
        if station_m in still_open and station_m <= progress_m:
            still_open.discard(station_m)
            events.append(CutoffEvent("cutoff_passed", now_s, progress_m, station_m, cutoff_ts,
                                      now_s, round((cutoff_ts - now_s) / 60.0, 1),
                                      state.episode_m, closes=not still_open,
                                      episode_ts=state.episode_ts))  # fmt: skip
    return events


def _cleared(
    state: CutoffState, still_open: set[float], alerted: set[float], now_s: float,
    progress_m: float, cutoffs: Sequence[tuple[float, float]], eta_ts: Sequence[float],
    cfg: CutoffConfig, events: list[CutoffEvent],
) -> tuple[tuple[float, float], ...]:  # fmt: skip
    """The open stations projected ``clear_s`` ahead of their cut-off for ``persist_s`` end
    (``cutoff_clear`` appended to ``events``); returns those still waiting to."""
    since = dict(state.clear_since)
    waiting: list[tuple[float, float]] = []
    for (station_m, cutoff_ts), eta in zip(cutoffs, eta_ts, strict=True):
        if station_m not in still_open or math.isnan(eta):
            continue
        if eta + cfg.margin_s > cutoff_ts - cfg.clear_s:
            continue  # still at risk (or not far enough ahead to say it is over)
        first_s = since.get(station_m, now_s)
        if now_s - first_s < cfg.persist_s:
            waiting.append((station_m, first_s))
            continue
        still_open.discard(station_m)
        alerted.discard(station_m)  # projected late again: raised again
        events.append(CutoffEvent("cutoff_clear", now_s, progress_m, station_m, cutoff_ts, eta,
                                  round((cutoff_ts - eta) / 60.0, 1), state.episode_m,
                                  closes=not still_open, episode_ts=state.episode_ts))  # fmt: skip
    return tuple(waiting)


def _at_risk(
    state: CutoffState, still_open: set[float], alerted: set[float], now_s: float,
    progress_m: float, cutoffs: Sequence[tuple[float, float]], eta_ts: Sequence[float],
    cfg: CutoffConfig, episode_m: float,
) -> tuple[tuple[tuple[float, float], ...], CutoffEvent | None]:  # fmt: skip
    """The first station ahead projected late for ``persist_s`` (None: none), and the one
    waiting to be (the later ones wait for it)."""
    since = dict(state.late_since)
    for (station_m, cutoff_ts), eta in zip(cutoffs, eta_ts, strict=True):
        if station_m in still_open:
            break  # the first station projected late is the one to act on: not the later
        if station_m <= progress_m:
            continue
        if math.isnan(eta) or station_m in alerted:
            if cfg.next_only:
                break
            continue
        if eta + cfg.margin_s <= cutoff_ts + cfg.share_of_to_go * max(0.0, eta - now_s):
            if cfg.next_only:
                break
            continue  # on time now: a later projection starts the wait afresh
        first_s = since.get(station_m, now_s)
        if now_s - first_s < cfg.persist_s:
            return ((station_m, first_s),), None  # (nor the later ones while it waits)
        opens = not still_open
        return (), CutoffEvent("cutoff_risk", now_s, progress_m, station_m, cutoff_ts, eta,
                               round((cutoff_ts - eta) / 60.0, 1),
                               station_m if opens else episode_m, opens=opens,
                               episode_ts=now_s if opens else state.episode_ts)  # fmt: skip
    return (), None
