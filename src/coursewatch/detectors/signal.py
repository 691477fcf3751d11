"""Signal lost: no fix for ``k`` times the runner's usual interval (never under a floor).

"No fix" is measured on the server's clock, from when the runner's last fix *arrived*: a
tracker whose fixes come in late (satellite relays) but keep coming is not silent, and a
tracker that stops sending is silent however its last fix was stamped. A recording replayed
faster than it was run is measured on its own clock (``since_fix``).

Trackers send every second, every minute or every ten minutes; a gap that is alarming for one
is normal for another, so the usual interval is learned per runner (an exponentially weighted
mean of log intervals, each clipped to a few times the current estimate so that one long gap
does not teach the detector that gaps are normal). :func:`signal_tick` is evaluated on a
clock tick with no new fix and raises ``signal_lost`` (shown on the runner's row, told to
their crew), then ``silent_long`` when the silence lasts (``long_k`` times the usual interval,
never under ``long_floor_s``: race HQ is told); :func:`signal_fix` records a fix and, if the
signal was lost, raises ``signal_back``. Pure state machines: tests feed times only.

>>> cfg = SignalConfig()
>>> st = SignalState()
>>> for t in range(0, 3001, 300):
...     st, _ = signal_fix(st, float(t), 1000.0 + t, cfg)
>>> round(st.usual_interval_s)
300
>>> signal_tick(st, 3000.0 + 1000.0, cfg)[1]
[]
>>> st, ev = signal_tick(st, 3000.0 + 1300.0, cfg)
>>> ev[0].kind, ev[0].silent_s, round(ev[0].usual_interval_s)
('signal_lost', 1300.0, 300)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class SignalConfig:
    k: float = 4.0
    floor_s: float = 180.0
    prior_interval_s: float = 300.0  # a satellite tracker's usual; phones learn theirs fast
    learn_rate: float = 0.1
    clip: float = 3.0
    long_k: float = 12.0
    long_floor_s: float = 2 * 3600.0  # satellite trackers go quiet for an hour routinely


@dataclass(frozen=True)
class SignalState:
    last_ts: float = math.nan  # fix time of the newest fix
    course_m: float = math.nan
    usual_interval_s: float = math.nan
    alarmed: bool = False
    seen_s: float = math.nan  # when it arrived (server clock)
    escalated: bool = False


@dataclass(frozen=True)
class SignalEvent:
    """``signal_lost`` and ``silent_long`` (raised on a tick) or ``signal_back`` (on the
    next fix)."""

    kind: str
    ts: float
    course_m: float
    last_fix_ts: float
    silent_s: float
    usual_interval_s: float
    # the runner's feed (MapShare, SPOT) failing meanwhile: (kind, last answered, why)
    feed: tuple[str, float | None, str] | None = None


def threshold_s(state: SignalState, cfg: SignalConfig) -> float:
    """How long without a fix before ``signal_lost``."""
    usual = cfg.prior_interval_s if math.isnan(state.usual_interval_s) else state.usual_interval_s
    return max(cfg.floor_s, cfg.k * usual)


def long_threshold_s(state: SignalState, cfg: SignalConfig) -> float:
    """How long without a fix before ``silent_long`` (race HQ is told)."""
    usual = cfg.prior_interval_s if math.isnan(state.usual_interval_s) else state.usual_interval_s
    return max(cfg.long_floor_s, cfg.long_k * usual)


def signal_fix(
    state: SignalState,
    t_s: float,
    course_m: float,
    cfg: SignalConfig,
    seen_s: float | None = None,
    race_s: float | None = None,
) -> tuple[SignalState, list[SignalEvent]]:
    """Record a fix (epoch seconds, progress along the course) that arrived at ``seen_s``
    (server clock; the fix time when not given), ``race_s`` on the race's clock (what the
    event is stamped with; ``seen_s`` when not given). Older fixes are ignored."""
    seen = t_s if seen_s is None else seen_s
    if math.isnan(state.last_ts):
        return SignalState(t_s, course_m, seen_s=seen), []
    if t_s <= state.last_ts:
        return state, []
    gap_s = t_s - state.last_ts
    usual = _learnt(state.usual_interval_s, gap_s, cfg)
    events = []
    if state.alarmed:  # stamped when the fix arrived, as the loss was when it was seen
        silent_s = max(seen - state.seen_s, gap_s) if seen_s is not None else gap_s
        at = seen if race_s is None else race_s
        events.append(SignalEvent("signal_back", at, course_m, state.last_ts, silent_s,
                                  state.usual_interval_s))  # fmt: skip
    return SignalState(t_s, course_m, usual, seen_s=seen), events


def signal_run(
    state: SignalState,
    times_s: list[float],
    course_m: list[float],
    cfg: SignalConfig,
    seen_s: float | None = None,
    race_s: float | None = None,
) -> tuple[SignalState, list[SignalEvent]]:
    """:func:`signal_fix` of each of a run of fixes, in increasing time, that arrived
    together: the same state, made once. (Only the first can raise: it ends the alarm.)"""
    if not times_s or times_s[0] <= state.last_ts:  # (not newer: as signal_fix, each)
        events: list[SignalEvent] = []
        for t_s, s_m in zip(times_s, course_m, strict=True):
            state, said = signal_fix(state, t_s, s_m, cfg, seen_s, race_s)
            events += said
        return state, events
    state, events = signal_fix(state, times_s[0], course_m[0], cfg, seen_s, race_s)
    if len(times_s) == 1:
        return state, events
    last, at_m, usual = state.last_ts, state.course_m, state.usual_interval_s
    for t_s, s_m in zip(times_s[1:], course_m[1:], strict=True):
        if t_s > last:
            usual, last, at_m = _learnt(usual, t_s - last, cfg), t_s, s_m
    seen = last if seen_s is None else seen_s
    return SignalState(last, at_m, usual, seen_s=seen), events


def _learnt(usual_s: float, gap_s: float, cfg: SignalConfig) -> float:
    """The usual interval after a gap: a weighted mean of log intervals, the gap clipped."""
    if math.isnan(usual_s):
        return gap_s
    log_gap = math.log(min(gap_s, cfg.clip * usual_s))
    return math.exp((1 - cfg.learn_rate) * math.log(usual_s) + cfg.learn_rate * log_gap)


def signal_tick(
    state: SignalState,
    now_s: float,
    cfg: SignalConfig,
    race_now_s: float | None = None,
    since_fix: bool = False,
) -> tuple[SignalState, list[SignalEvent]]:
    """Evaluate on a clock tick (server clock): raise ``signal_lost`` once when the silence
    since the last fix arrived is too long, ``silent_long`` once when it lasts; the events
    are stamped ``race_now_s`` (the race's clock; ``now_s`` when not given). ``since_fix``:
    the silence since the last fix's own time, ``now_s`` on the race's clock (a recording
    replayed faster than it was run: its silences are the recording's)."""
    at = now_s if race_now_s is None else race_now_s
    if math.isnan(state.last_ts) or state.escalated:
        return state, []
    silent_s = now_s - (state.last_ts if since_fix else state.seen_s)
    usual = cfg.prior_interval_s if math.isnan(state.usual_interval_s) else state.usual_interval_s
    if state.alarmed:
        if silent_s < long_threshold_s(state, cfg):
            return state, []
        event = SignalEvent("silent_long", at, state.course_m, state.last_ts, silent_s, usual)
        return replace(state, escalated=True), [event]
    if silent_s < threshold_s(state, cfg):
        return state, []
    event = SignalEvent("signal_lost", at, state.course_m, state.last_ts, silent_s, usual)
    return replace(state, alarmed=True), [event]
