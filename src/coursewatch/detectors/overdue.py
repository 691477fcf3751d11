"""Overdue: expected at the next station by now (ETA plus a tolerance) and not there.

When the runner's next station changes (they passed one), the detector fixes a deadline:
the ETA made at that moment plus a tolerance that grows with the time still to go
(``base_s + share * to_go_s``), because a two-hour leg is less certain than a twenty-minute
one. Evaluate it on every fix *and* on clock ticks: a runner who has gone silent sends
nothing. A runner whose tracker shows them on their way is late, not missing: the race HQ
can see where they are, so ``overdue`` is raised only while the runner is ``unseen`` (their
signal lost). It raises ``overdue`` at most once per station pass, and ``arrived`` when an
overdue runner reaches it. A pure state machine: tests feed times, distances and ETAs only.

>>> cfg = OverdueConfig(base_s=600.0, share=0.2)
>>> st = OverdueState()
>>> st, ev = overdue_step(st, 0.0, 9_000.0, 10_000.0, 1_000.0, cfg)
>>> st.deadline_ts
1800.0
>>> overdue_step(st, 1_700.0, 9_500.0, 10_000.0, 1_000.0, cfg)[1]
[]
>>> st, ev = overdue_step(st, 1_801.0, 9_500.0, 10_000.0, 1_000.0, cfg)
>>> ev[0].kind, ev[0].late_s
('overdue', 801.0)
>>> overdue_step(st, 2_000.0, 9_600.0, 10_000.0, 1_000.0, cfg)[1]
[]
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class OverdueConfig:
    base_s: float = 15 * 60.0
    share: float = 0.25


@dataclass(frozen=True)
class OverdueState:
    station_m: float = math.nan
    expected_ts: float = math.nan
    deadline_ts: float = math.nan
    alarmed: bool = False


@dataclass(frozen=True)
class OverdueEvent:
    """``overdue``: the runner was expected at ``station_m`` at ``expected_ts`` and is ``late_s``
    late; ``arrived``: an overdue runner reached it, ``late_s`` after expected."""

    kind: str
    ts: float
    course_m: float
    station_m: float
    expected_ts: float
    late_s: float
    tolerance_s: float
    feed: tuple[str, float | None, str] | None = None  # the runner's feed failing meanwhile


def overdue_step(
    state: OverdueState,
    now_s: float,
    progress_m: float,
    next_station_m: float,
    eta_ts: float,
    cfg: OverdueConfig,
    unseen: bool = True,
) -> tuple[OverdueState, list[OverdueEvent]]:
    """Advance on a fix or a tick.

    ``next_station_m``: course distance of the next station pass ahead of the runner;
    ``eta_ts``: the current ETA there (used only when the next station changes);
    ``unseen``: nobody can see where the runner is now (no tracker, or its signal lost).
    """
    arrived: list[OverdueEvent] = []
    if next_station_m != state.station_m:
        if state.alarmed:  # they reached the station they were overdue at
            tolerance_s = state.deadline_ts - state.expected_ts
            arrived.append(OverdueEvent("arrived", now_s, progress_m, state.station_m,
                                        state.expected_ts, now_s - state.expected_ts,
                                        tolerance_s))  # fmt: skip
        if math.isnan(eta_ts):
            return OverdueState(station_m=next_station_m), arrived
        tolerance_s = cfg.base_s + cfg.share * max(eta_ts - now_s, 0.0)
        state = OverdueState(next_station_m, eta_ts, eta_ts + tolerance_s)
    if state.alarmed or math.isnan(state.deadline_ts) or progress_m >= state.station_m:
        return state, arrived
    if now_s <= state.deadline_ts or not unseen:
        return state, arrived
    tolerance_s = state.deadline_ts - state.expected_ts
    late_s = now_s - state.expected_ts
    event = OverdueEvent(
        "overdue", now_s, progress_m, state.station_m, state.expected_ts, late_s, tolerance_s
    )
    return OverdueState(state.station_m, state.expected_ts, state.deadline_ts, True), [
        *arrived,
        event,
    ]
