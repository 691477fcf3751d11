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

from coursewatch.engine import events as E
from coursewatch.engine.config import C, KernelCfg
from coursewatch.engine.events import write_event
from coursewatch.geo import FloatArray

# the detector's slice of the runner's state vector: these fields, in this order
FIELDS = (
    "STATE", "EVIDENCE", "CP_T", "CP_S", "CP_X", "CP_Y", "ALARM_T", "MAX_OFF", "PATH", "CLEAR",
    "REJ_T", "REJ_S", "REJ_X", "REJ_Y", "REJ_PATH", "ARMED", "ACC", "HELD", "S_LOW", "NEAR_T",
    "REJ_FAR", "LOW_X", "LOW_Y",
)  # fmt: skip
LEN = len(FIELDS)
STATE = 0  # 0 on course, 1 alarmed
EVIDENCE = 1
CP_T = 2  # change point: the last fix on course before the evidence rose
CP_S = 3
CP_X = 4
CP_Y = 5
ALARM_T = 6
MAX_OFF = 7  # the furthest from the whole course line since the change point, m
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
    line_m: float,
    s: float,
    accuracy_m: float,
    noise_m: float,
    at_station: bool,
    end_m: float,
    cut_evidence_m: float,
    cfg: KernelCfg,
    ev: FloatArray,
) -> int:
    """Advance the detector by one fix. Returns an event code (0 when nothing happened).

    ``offset_m``: how far the fix is from where the runner is on the course (what the
    detector decides on); ``line_m``: from the nearest part of the whole course (how far off
    the runner went, as people measure it: the runner page and ``analyze`` say the same; inf
    when not known, too far to look).

    ``accuracy_m`` is the horizontal accuracy the receiver reported (NaN when none): a
    receiver that says it is worse gets a wider margin before the alarm. One that reports
    none gets a margin from ``noise_m``, its noise estimated from its fixes
    (:mod:`coursewatch.engine.noise`). ``at_station``: the
    fix is inside an aid station's zone, where runners leave the line to eat and sleep.
    ``end_m``: the course's length (a way back near the finish needs no following).
    ``cut_evidence_m``: course skipped beyond which a way back is a shortcut whatever the
    distance run between the fixes says: 0 when the fixes are close enough to measure it,
    else how far anyone could have got since leaving: with minutes between pings, the
    straight line between two of them cuts every bend.
    """
    if accuracy_m == accuracy_m and accuracy_m > 0.0:
        st[ACC] = accuracy_m if st[ACC] == 0.0 else 0.8 * st[ACC] + 0.2 * accuracy_m
    w = weight(dt, cfg[C.oc_tau_s])
    if st[STATE] == 0.0:
        return _on_course(st, t, dt, step_m, x, y, offset_m, line_m, s, noise_m, at_station, w,
                          cfg, ev)  # fmt: skip
    # alarmed: look for the way back
    st[PATH] += step_m
    if line_m < math.inf:  # (further than the line is looked for: not known)
        st[MAX_OFF] = max(st[MAX_OFF], line_m)
    if not _clearing(st, t, w, step_m, x, y, offset_m, s, at_station, end_m, cfg):
        return 0
    if not _released(st, t, x, y, offset_m, s, cfg):
        return 0
    skipped = st[REJ_S] - st[CP_S]
    code = E.CODE_BACK_ON_COURSE
    if skipped > st[REJ_PATH] + cfg[C.shortcut_m] and skipped > cut_evidence_m:
        code = E.CODE_SHORTCUT
    _fill(ev, code, st[REJ_T], st[REJ_X], st[REJ_Y], st[REJ_S], offset_m, st)
    ev[E.EV_PATH] = st[REJ_PATH]
    reset(st, t, s, x, y)
    return code


@nb.njit(cache=True, inline="always")
def _on_course(
    st: FloatArray,
    t: float,
    dt: float,
    step_m: float,
    x: float,
    y: float,
    offset_m: float,
    line_m: float,
    s: float,
    noise_m: float,
    at_station: bool,
    w: float,
    cfg: KernelCfg,
    ev: FloatArray,
) -> int:
    """On course: evidence of being off it accrues (CUSUM) until the alarm."""
    # a runner standing still beside the line (aid station, toilet, car) is not lost:
    # evidence only accrues while moving
    if dt > 0.0:
        w *= min(step_m / dt / cfg[C.oc_moving_mps], 1.0)
    if st[ARMED] == 0.0:
        if offset_m >= cfg[C.oc_d_clear_m]:
            return 0
        st[ARMED] = 1.0
    threshold = _threshold_m(st, t, dt, offset_m, noise_m, cfg)
    z = (offset_m - threshold) / cfg[C.oc_scale_m]
    z = min(max(z, -cfg[C.oc_z_lo]), cfg[C.oc_z_hi])
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
        st[MAX_OFF] = line_m if line_m < math.inf else 0.0
        return 0
    st[EVIDENCE] = ev_s
    st[PATH] += step_m
    if line_m < math.inf:
        st[MAX_OFF] = max(st[MAX_OFF], line_m)
    if ev_s < cfg[C.oc_h]:
        return 0
    st[STATE] = 1.0
    st[ALARM_T] = t
    st[CLEAR] = 0.0
    _fill(ev, E.CODE_OFF_COURSE, t, x, y, s, offset_m, st)
    return E.CODE_OFF_COURSE


@nb.njit(cache=True, inline="always")
def _clearing(
    st: FloatArray,
    t: float,
    w: float,
    step_m: float,
    x: float,
    y: float,
    offset_m: float,
    s: float,
    at_station: bool,
    end_m: float,
    cfg: KernelCfg,
) -> bool:
    """Alarmed: evidence of being back on the line. True once it is enough to clear.

    Where a way back starts is kept (``REJ_*``), and whether it came to the line far from
    where the runner left it (``REJ_FAR``).
    """
    c = (cfg[C.oc_d_clear_m] - offset_m) / cfg[C.oc_scale_m]
    c = min(max(c, -cfg[C.oc_z_hi]), cfg[C.oc_z_lo])
    was = st[CLEAR]
    now = max(0.0, was + w * c)
    follow = cfg[C.oc_follow_m]
    if st[REJ_FAR] == 1.0 and st[HELD] == 0.0:
        now = min(now, 2.0 * cfg[C.oc_h_clear])  # so that a crossing is soon forgotten
    if was > 0.0 and now == 0.0:
        st[REJ_FAR] = 0.0  # that way back is over; the next one is judged afresh
    if offset_m >= cfg[C.oc_d_ref_m]:
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
    return now >= cfg[C.oc_h_clear]


@nb.njit(cache=True, inline="always")
def _released(
    st: FloatArray, t: float, x: float, y: float, offset_m: float, s: float, cfg: KernelCfg
) -> bool:
    """Back on the line: is the episode over? Not while running the course backwards, nor
    while crossing the line far from where the runner left it."""
    if st[HELD] == 0.0 and s < st[REJ_S] - cfg[C.ww_rejoin_m]:
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
        if s < st[S_LOW] + cfg[C.ww_clear_m] or moved < 0.5 * cfg[C.ww_clear_m]:
            return False
        st[REJ_T] = t
        st[REJ_S] = s
        st[REJ_X] = x
        st[REJ_Y] = y
        st[REJ_PATH] = st[PATH]
        return True
    if st[REJ_FAR] == 1.0:
        # near the line far from where they left: crossing it, until they follow it (on,
        # near it now, and moved: not the filter changing its mind about the pass)
        moved = math.hypot(x - st[REJ_X], y - st[REJ_Y])
        on = offset_m < cfg[C.oc_d_clear_m]
        follow = cfg[C.oc_follow_m]
        if s < st[REJ_S] + follow or moved < 0.5 * follow or not on:
            return False
    return True


@nb.njit(cache=True, inline="always")
def _threshold_m(
    st: FloatArray, t: float, dt: float, offset_m: float, noise_m: float, cfg: KernelCfg
) -> float:
    """The offset at which evidence starts to accrue: ``d_ref`` plus the runner's margins.

    Keeps the clock of time beside the line (``NEAR_T``) as it goes.
    """
    threshold = cfg[C.oc_d_ref_m]
    if st[ACC] > 0.0:
        threshold += cfg[C.oc_k_acc] * max(st[ACC] - cfg[C.oc_acc_ref_m], 0.0)
    else:
        extra = cfg[C.oc_k_noise] * max(noise_m - cfg[C.oc_noise_ref_m], 0.0)
        threshold += min(extra, cfg[C.oc_noise_cap_m])
    # time beside the line without coming back to it, seen by fixes close enough to tell
    # (pings cannot, nor a gap in the fixes)
    if offset_m < cfg[C.oc_d_clear_m] or dt > cfg[C.oc_band_s] / 4.0:
        st[NEAR_T] = t
    elif t - st[NEAR_T] >= cfg[C.oc_band_s]:
        # a minute and more of it: a path beside the course (an older version of it, a
        # road along the trail), not a wrong turn just taken, which goes from the line to
        # the margin in well under that
        threshold += cfg[C.oc_band_m]
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
    ev[E.EV_MAXOFF] = st[MAX_OFF]
    ev[E.EV_PATH] = st[PATH]
    ev[E.EV_ALARM_T] = st[ALARM_T]
