"""Off course: sequential change detection (CUSUM) on the offset from the matched course.

Each fix adds evidence ``w * clip((offset - d_ref) / scale, -z_lo, z_hi)`` where ``w`` counts
how independent the fix is (GPS error is correlated over seconds, so ten 1 s fixes are worth
about one 10 s fix). The alarm rises when the evidence reaches ``h``; where it last stood at
zero is the estimate of where the runner left. The alarm clears (hysteresis) only when
evidence of being back within ``d_clear`` reaches ``h_clear``; if the runner rejoined further
along than the distance they ran off course allows, the course was cut: a shortcut.

A way back that comes near the line far from where the runner left it (more than ``follow_m``
behind, or further along than the distance run plus ``follow_m``: a wrong trail that crosses
another part of the course, the way out on the way back) is a rejoin only once the runner
follows the course there ``follow_m`` forward: a trail that crosses the course and goes on is
one excursion, not an alarm, a back-on-course and another alarm.
"""

from __future__ import annotations

import math

import numba as nb

from coursewatch.detectors.rows import write_event
from coursewatch.engine import layout as L
from coursewatch.geo import FloatArray

# fields of the detector's slice of the state vector
STATE = 0  # 0 on course, 1 alarmed
EVIDENCE = 1
CP_T = 2  # change point: the last fix on course before the evidence rose
CP_S = 3
CP_X = 4
CP_Y = 5
ALARM_T = 6
MAX_OFF = 7
PATH = 8  # distance travelled since the change point, m
CLEAR = 9
REJ_T = 10  # first fix of the current run of fixes back on the course
REJ_S = 11
REJ_X = 12
REJ_Y = 13
REJ_PATH = 14  # PATH at REJ_T
ARMED = 15  # 1 once a fix was on the line: nothing is raised before (pre-race, start pens)
ACC = 16  # recent accuracy the receiver reported, m (0 when it reports none)
HELD = 17  # 1: alarmed, back on the line but going backwards; clears on forward progress run
S_LOW = 18  # the lowest progress since
NEAR_T = 19  # time of the last fix within d_clear of the line
REJ_FAR = 20  # 1: the current way back came near the line far from where the runner left;
# it is a rejoin only once they follow the course there forward
LOW_X = 21  # where the runner was when progress was at S_LOW
LOW_Y = 22


@nb.njit(cache=True)
def weight(dt: float, tau: float) -> float:
    """How many independent fixes one fix ``dt`` after the last is worth (at most one)."""
    if dt <= 0.0 or dt >= tau:
        return 1.0
    return dt / tau


@nb.njit(cache=True, inline="always")
def offcourse_step(
    st: FloatArray,
    t: float,
    dt: float,
    step_m: float,
    x: float,
    y: float,
    offset_m: float,
    s: float,
    accuracy_m: float,
    noise_m: float,
    at_station: bool,
    end_m: float,
    cfg: FloatArray,
    ev: FloatArray,
) -> int:
    """Advance the detector by one fix. Returns an event code (0 when nothing happened).

    ``accuracy_m`` is the horizontal accuracy the receiver reported (NaN when none): a
    receiver that says it is worse gets a wider margin before the alarm. One that reports
    none gets a margin from ``noise_m``, its noise estimated from its fixes
    (:mod:`coursewatch.engine.noise`). ``at_station``: the
    fix is inside an aid station's zone, where runners leave the line to eat and sleep.
    ``end_m``: the course's length (a way back near the finish needs no following).
    """
    if accuracy_m == accuracy_m and accuracy_m > 0.0:
        st[ACC] = accuracy_m if st[ACC] == 0.0 else 0.8 * st[ACC] + 0.2 * accuracy_m
    w = weight(dt, cfg[L.C_OC_TAU])
    if st[STATE] == 0.0:
        # a runner standing still beside the line (aid station, toilet, car) is not lost:
        # evidence only accrues while moving
        if dt > 0.0:
            w *= min(step_m / dt / cfg[L.C_OC_MOVING_MPS], 1.0)
        if st[ARMED] == 0.0:
            if offset_m >= cfg[L.C_OC_D_CLEAR]:
                return 0
            st[ARMED] = 1.0
        threshold = _threshold_m(st, t, dt, offset_m, noise_m, cfg)
        z = (offset_m - threshold) / cfg[L.C_OC_SCALE]
        z = min(max(z, -cfg[L.C_OC_Z_LO]), cfg[L.C_OC_Z_HI])
        if at_station:
            z = min(z, 0.0)
        ev_s = st[EVIDENCE] + w * z
        if ev_s <= 0.0:
            st[EVIDENCE] = 0.0
            st[CP_T] = t
            st[CP_S] = s
            st[CP_X] = x
            st[CP_Y] = y
            st[PATH] = 0.0
            st[MAX_OFF] = offset_m
            return 0
        st[EVIDENCE] = ev_s
        st[PATH] += step_m
        st[MAX_OFF] = max(st[MAX_OFF], offset_m)
        if ev_s < cfg[L.C_OC_H]:
            return 0
        st[STATE] = 1.0
        st[ALARM_T] = t
        st[CLEAR] = 0.0
        _fill(ev, L.CODE_OFF_COURSE, t, x, y, s, offset_m, st)
        return L.CODE_OFF_COURSE
    # alarmed: look for the way back
    st[PATH] += step_m
    st[MAX_OFF] = max(st[MAX_OFF], offset_m)
    c = (cfg[L.C_OC_D_CLEAR] - offset_m) / cfg[L.C_OC_SCALE]
    c = min(max(c, -cfg[L.C_OC_Z_HI]), cfg[L.C_OC_Z_LO])
    was = st[CLEAR]
    now = max(0.0, was + w * c)
    follow = cfg[L.C_OC_FOLLOW]
    if st[REJ_FAR] == 1.0 and st[HELD] == 0.0:
        now = min(now, 2.0 * cfg[L.C_OC_H_CLEAR])  # so that a crossing is soon forgotten
    if was > 0.0 and now == 0.0:
        st[REJ_FAR] = 0.0  # that way back is over; the next one is judged afresh
    if offset_m >= cfg[L.C_OC_D_REF]:
        st[HELD] = 0.0  # clearly off the line again (not 30-40 m beside it in noisy fixes)
    if was == 0.0 and now > 0.0:
        st[REJ_T] = t
        st[REJ_S] = s
        st[REJ_X] = x
        st[REJ_Y] = y
        st[REJ_PATH] = st[PATH] - step_m
        # behind where they left, or further along than they ran, by more than follow_m (not
        # at an aid station, nor near the finish: runners come back to the course there)
        far = s < st[CP_S] - follow or s > st[CP_S] + st[REJ_PATH] + follow
        st[REJ_FAR] = 1.0 if far and not at_station and s < end_m - follow else 0.0
    st[CLEAR] = now
    if now < cfg[L.C_OC_H_CLEAR]:
        return 0
    if st[HELD] == 0.0 and s < st[REJ_S] - cfg[L.C_WW_REJOIN_M]:
        # back on the line but running it backwards since: the same episode goes on (one
        # alarm, not a back-on-course and a wrong-way on top) until they go forward again
        st[HELD] = 1.0
        st[S_LOW] = s
        st[LOW_X] = x
        st[LOW_Y] = y
    if st[HELD] == 1.0:
        if s < st[S_LOW]:
            st[S_LOW] = s
            st[LOW_X] = x
            st[LOW_Y] = y
        # forward again: progress regained, and run (a filter that changes its mind about
        # the pass moves the progress without the runner moving; GPS jitter is no running)
        moved = math.hypot(x - st[LOW_X], y - st[LOW_Y])
        if s < st[S_LOW] + cfg[L.C_WW_CLEAR] or moved < 0.5 * cfg[L.C_WW_CLEAR]:
            return 0
        st[REJ_T] = t
        st[REJ_S] = s
        st[REJ_X] = x
        st[REJ_Y] = y
        st[REJ_PATH] = st[PATH]
    elif st[REJ_FAR] == 1.0:
        # near the line far from where they left: crossing it, until they follow it (on,
        # near it now, and moved: not the filter changing its mind about the pass)
        moved = math.hypot(x - st[REJ_X], y - st[REJ_Y])
        on = offset_m < cfg[L.C_OC_D_CLEAR]
        if s < st[REJ_S] + follow or moved < 0.5 * follow or not on:
            return 0
    skipped = st[REJ_S] - st[CP_S]
    code = L.CODE_BACK_ON_COURSE
    if skipped > st[REJ_PATH] + cfg[L.C_SHORTCUT_M]:
        code = L.CODE_SHORTCUT
    _fill(ev, code, st[REJ_T], st[REJ_X], st[REJ_Y], st[REJ_S], offset_m, st)
    ev[L.EV_PATH] = st[REJ_PATH]
    reset(st, t, s, x, y)
    return code


@nb.njit(cache=True, inline="always")
def _threshold_m(
    st: FloatArray, t: float, dt: float, offset_m: float, noise_m: float, cfg: FloatArray
) -> float:
    """The offset at which evidence starts to accrue: ``d_ref`` plus the runner's margins.

    Keeps the clock of time beside the line (``NEAR_T``) as it goes.
    """
    threshold = cfg[L.C_OC_D_REF]
    if st[ACC] > 0.0:
        threshold += cfg[L.C_OC_K_ACC] * max(st[ACC] - cfg[L.C_OC_ACC_REF], 0.0)
    else:
        extra = cfg[L.C_OC_K_NOISE] * max(noise_m - cfg[L.C_OC_NOISE_REF], 0.0)
        threshold += min(extra, cfg[L.C_OC_NOISE_CAP])
    # time beside the line without coming back to it, seen by fixes close enough to tell
    # (pings cannot, nor a gap in the fixes)
    if offset_m < cfg[L.C_OC_D_CLEAR] or dt > cfg[L.C_OC_BAND_S] / 4.0:
        st[NEAR_T] = t
    elif t - st[NEAR_T] >= cfg[L.C_OC_BAND_S]:
        # a minute and more of it: a path beside the course (an older version of it, a
        # road along the trail), not a wrong turn just taken, which goes from the line to
        # the margin in well under that
        threshold += cfg[L.C_OC_BAND_M]
    return threshold


@nb.njit(cache=True)
def reset(st: FloatArray, t: float, s: float, x: float, y: float) -> None:
    """Back to 'on course' with the change point here; keeps what was learned."""
    armed = st[ARMED]
    acc = st[ACC]
    st[:] = 0.0
    st[ARMED] = armed
    st[ACC] = acc
    st[CP_T] = t
    st[CP_S] = s
    st[CP_X] = x
    st[CP_Y] = y
    st[NEAR_T] = t


@nb.njit(cache=True)
def _fill(
    ev: FloatArray, code: int, t: float, x: float, y: float, s: float, off: float, st: FloatArray
) -> None:
    write_event(ev, code, (t, s, x, y), (st[CP_T], st[CP_S], st[CP_X], st[CP_Y]), off)
    ev[L.EV_MAXOFF] = st[MAX_OFF]
    ev[L.EV_PATH] = st[PATH]
    ev[L.EV_ALARM_T] = st[ALARM_T]
