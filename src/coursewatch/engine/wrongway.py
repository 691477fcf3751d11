"""Wrong way: running the course backwards while on the line.

The matcher's forward prior still follows a runner who turns round (each step back is small),
so progress falls while the offset stays small. The alarm rises when progress has fallen
``ww_dist`` below the furthest point reached on this stretch, and clears when progress has
climbed ``ww_clear`` back up from its lowest point. Its distance from the line says nothing
(the runner is on it), so race HQ is told (``CODE_WW_ALERT``, once an episode) when the
runner is ``ww_hq_m`` back along the course from that furthest point: no longer a few steps
back for a dropped bottle, a runner heading the wrong way for a long while, or going back
to the last aid station.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from coursewatch.engine import events as E
from coursewatch.engine.config import C, KernelCfg
from coursewatch.engine.events import write_event
from coursewatch.geo import FloatArray

# the detector's slice of the runner's state vector: these fields, in this order
FIELDS = (
    "STATE", "MAX_S", "MIN_S", "MAX_T", "MAX_X", "MAX_Y", "ACTIVE", "BACK_T", "BACK_S",
    "REJOINED", "FLAG_T",
)  # fmt: skip
LEN = len(FIELDS)
STATE = 0  # 0 normal, 1 alarmed, 2 alarmed and confirmed for race HQ
MAX_S = 1  # furthest progress on this stretch
MIN_S = 2  # lowest progress since the alarm
MAX_T = 3
MAX_X = 4
MAX_Y = 5
ACTIVE = 6  # 1 once the detector has a reference
BACK_T = 7  # when progress first fell ww_dist below the furthest point (0 when it has not)
BACK_S = 8  # progress then
REJOINED = 9  # 1 just after coming back from off course, until progress goes forward again
FLAG_T = 10  # when the wrong way was raised: the episode's key (its end says it too)


@nb.njit(cache=True, inline="always")
def wrongway_step(
    st: FloatArray,
    t: float,
    x: float,
    y: float,
    s: float,
    on_line: bool,
    cfg: KernelCfg,
    ev: FloatArray,
) -> int:
    """Advance by one fix. ``on_line``: the fix is matched to the course, not off it."""
    if not on_line:
        return 0
    if st[ACTIVE] == 0.0:
        restart(st, t, s, x, y)
        return 0
    if st[STATE] == 0.0:
        if s > st[MAX_S]:
            if st[REJOINED] == 1.0 and s - st[BACK_S] >= cfg[C.ww_clear_m]:
                st[REJOINED] = 0.0  # heading the right way again
            _furthest_at(st, t, s, x, y)
            return 0
        need = cfg[C.ww_rejoin_m] if st[REJOINED] == 1.0 else cfg[C.ww_dist_m]
        if st[MAX_S] - s < need:
            if st[REJOINED] == 0.0:
                st[BACK_T] = 0.0
            return 0
        # persistence: still going back after a while, not a stray fix or a short detour
        if st[BACK_T] == 0.0:
            st[BACK_T] = t
            st[BACK_S] = s
            return 0
        # and still moving backwards: a runner resting behind a spurious forward match is not
        if t - st[BACK_T] < cfg[C.ww_persist_s] or st[BACK_S] - s < need / 3.0:
            return 0
        st[STATE] = 1.0
        st[MIN_S] = s
        st[BACK_T] = 0.0
        write_event(ev, E.CODE_WRONG_WAY, (t, s, x, y), _furthest(st), 0.0)
        ev[E.EV_ALARM_T] = t
        st[FLAG_T] = t
        return E.CODE_WRONG_WAY
    st[MIN_S] = min(st[MIN_S], s)
    if st[STATE] == 1.0 and st[MAX_S] - s >= cfg[C.ww_hq_m]:
        st[STATE] = 2.0
        write_event(ev, E.CODE_WW_ALERT, (t, s, x, y), _furthest(st), 0.0)
        ev[E.EV_ALARM_T] = st[FLAG_T]
        return E.CODE_WW_ALERT
    if s - st[MIN_S] < cfg[C.ww_clear_m]:
        st[BACK_T] = 0.0
        return 0
    # heading the right way again, and for a while: one stray fix ahead does not end it
    if st[BACK_T] == 0.0:
        st[BACK_T] = t
        return 0
    if t - st[BACK_T] < cfg[C.ww_persist_s]:
        return 0
    write_event(ev, E.CODE_WRONG_WAY_END, (t, s, x, y), _furthest(st), np.nan)
    ev[E.EV_ALARM_T] = st[FLAG_T]
    restart(st, t, s, x, y)
    return E.CODE_WRONG_WAY_END


@nb.njit(cache=True)
def _furthest(st: FloatArray) -> tuple[float, float, float, float]:
    return st[MAX_T], st[MAX_S], st[MAX_X], st[MAX_Y]


@nb.njit(cache=True)
def restart(st: FloatArray, t: float, s: float, x: float, y: float) -> None:
    st[:] = 0.0
    st[ACTIVE] = 1.0
    _furthest_at(st, t, s, x, y)


@nb.njit(cache=True, inline="always")
def _furthest_at(st: FloatArray, t: float, s: float, x: float, y: float) -> None:
    st[MAX_S] = s
    st[MAX_T] = t
    st[MAX_X] = x
    st[MAX_Y] = y


@nb.njit(cache=True)
def rejoined(st: FloatArray, t_rejoin: float) -> None:
    """The runner came back to the line at ``t_rejoin``: watch their direction closely.

    Called when the off-course alarm clears, which is a few fixes after the rejoin itself:
    progress since the rejoin already counts.
    """
    st[REJOINED] = 1.0
    st[BACK_S] = st[MAX_S]
    st[BACK_T] = t_rejoin


@nb.njit(cache=True)
def rematched(st: FloatArray, t: float, s: float, x: float, y: float) -> None:
    """Just back from off course, progress jumped back further than the runner moved: the
    rejoin was put on the wrong pass (the course doubles back there) and is now corrected.
    The direction is judged afresh from here; the runner is still watched closely."""
    if st[REJOINED] != 1.0 or st[STATE] != 0.0:
        return
    _furthest_at(st, t, s, x, y)
    st[BACK_S] = s
    st[BACK_T] = t
