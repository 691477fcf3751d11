"""Phase 5 of a fix: the in-kernel detectors, in order, over the filter's estimate.

The runner's pace and their receiver's noise are learned first; then a jump along the line
further than anyone could run is a cut (a shortcut), else the off-course detector
(:mod:`coursewatch.engine.offcourse`) and the wrong-way detector
(:mod:`coursewatch.engine.wrongway`) take the fix, each over its own slice of the state vector,
and write event rows (:mod:`coursewatch.engine.events`). Back on the line, the reachable course
(:mod:`coursewatch.engine.reach`) and the wrong-way detector start afresh from the rejoin.
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np

from coursewatch.engine import confirm as CF
from coursewatch.engine import events as E
from coursewatch.engine import offcourse as OC
from coursewatch.engine import reach as R
from coursewatch.engine import state as S
from coursewatch.engine import wrongway as WW
from coursewatch.engine.config import C, KernelCfg
from coursewatch.engine.grid import IntArray, nearest_distance
from coursewatch.engine.hypotheses import being_placed
from coursewatch.engine.model import CAND_D, CAND_S, CAND_SEG, CourseArrays
from coursewatch.engine.noise import EST as NOISE_EST
from coursewatch.engine.noise import noise_step
from coursewatch.engine.reach import reach_m
from coursewatch.geo import FloatArray

NEAR_TIE_M = 25.0  # passes this much further from a fix than the nearest are as near
UNPLACED_S = -1.0  # the course distance of a runner not yet on the line (events: None)
FAR_WORDS_M = 20_000.0  # how far off an episode went is measured up to this far (further: not)


class Fix(NamedTuple):
    """One fix as the phases see it (numba builds and passes it as plain numbers)."""

    t: float
    x: float  # in the course's local frame, m
    y: float
    acc: float  # the accuracy the receiver reported, m (NaN: none)
    sigma: float  # the GPS error scale used for it, m
    dt: float  # since the runner's last fix at a new position, s
    step_m: float  # distance from it, m
    first: bool


class Before(NamedTuple):
    """The runner as they were before this fix."""

    n_hyp: int
    pace: float
    s: float
    matched: bool


class Estimate(NamedTuple):
    """What phases 1-4 made of the fix."""

    nc: int  # candidate passes near it
    best: int  # the best hypothesis
    matched: bool  # on the line, not coasting
    jumped: bool  # further along than anyone could have run
    s: float  # progress, m
    s_det: float  # course distance the detectors use, m
    d_eff: float  # offset, m
    d_line: float  # offset from the nearest pass of the whole line, m
    s_near: float  # coasting: course distance of the part of the line the offset came from


@nb.njit(cache=True, inline="always")
def detect(
    st: FloatArray,
    geo: CourseArrays,
    sf: FloatArray,
    si: IntArray,
    cfg: KernelCfg,
    fx: Fix,
    was: Before,
    est: Estimate,
    ev: FloatArray,
    ne: int,
) -> int:
    """Phase 5: learning, then the detectors; returns the new event count."""
    if est.matched and was.matched and not est.jumped and 0.0 < fx.dt <= 1800.0:
        _learn_pace(st, cfg, fx.dt, est.s, was.s, was.pace)
    end_m = geo.cum[-1]
    if est.matched and est.s >= end_m - cfg[C.finish_m] and st[S.PATH_M] > 0.5 * end_m:
        st[S.FINISHED] = 1.0
    if st[S.FINISHED] == 1.0:
        # past the finish line nothing is a wrong turn any more
        return ne
    oc = st[S.OC : S.OC + S.OC_LEN]
    if fx.first or was.n_hyp == 0:
        OC.reset(oc, fx.t, _placed(st, geo, fx, est.s_det), fx.x, fx.y)
        # a runner first seen long after the start is on the course, or should be: a
        # tracker started mid-race is watched from its first fix (not only once on the line)
        if st[S.START_T] > 0.0 and fx.t - st[S.START_T] >= cfg[C.arm_after_s]:
            oc[OC.ARMED] = 1.0
    if est.jumped and oc[OC.STATE] == 0.0 and est.s > was.s:
        return _cut(st, sf, cfg, fx, was, est, ev, ne)
    at_station = _at_station(geo.station_x, geo.station_y, cfg, fx.x, fx.y)
    d_signed = 0.0
    near = est.matched and est.d_eff < cfg[C.noise_near_m] and not at_station
    if near:
        d_signed = _signed_offset(fx.x, fx.y, si[CAND_SEG, est.best], geo.x, geo.y)
    nz = st[S.NOISE : S.NOISE + S.NOISE_LEN]
    noise_step(nz, fx.t, d_signed, near, cfg[C.noise_prior_m], cfg[C.noise_tau_s],
               cfg[C.noise_learn_s])  # fmt: skip
    # a fix far from every part of the course (another race, a car) is the far detector's:
    # it starts no off-course episode (one under way goes on, and takes it in)
    if not (est.d_line >= cfg[C.far_course_m] and oc[OC.STATE] == 0.0):
        ne = _off_course(st, geo, sf, cfg, fx, was, est, at_station, end_m, ev, ne)
        ne = _wrong_way(st, cfg, fx, was, est, at_station, ev, ne)
    ne = _far(st, geo, sf, cfg, fx, est, ev, ne)
    return _confirm(st, geo, cfg, fx, est, ev, ne)


@nb.njit(cache=True, inline="always")
def _far(
    st: FloatArray, geo: CourseArrays, sf: FloatArray, cfg: KernelCfg, fx: Fix, est: Estimate,
    ev: FloatArray, ne: int,
) -> int:  # fmt: skip
    """Far from every part of the course (a wrong race, a tracker at home, a car), and back.

    Far during an off-course episode is part of it (``S.FAR`` 2): both events carry the
    episode's key (its alarm time) and a ``left`` (where the runner left; NaN positions
    when that episode ended first); far on its own is an episode of its own (``S.FAR`` 1)."""
    oc = st[S.OC : S.OC + S.OC_LEN]
    if st[S.FAR] == 0.0 and est.d_line >= cfg[C.far_course_m]:
        joined = oc[OC.STATE] == 1.0
        st[S.FAR] = 2.0 if joined else 1.0
        st[S.FAR_T] = oc[OC.ALARM_T] if joined else fx.t
        code = E.CODE_FAR
    elif st[S.FAR] > 0.0 and est.d_line < cfg[C.near_course_m]:
        code = E.CODE_NEAR
    else:
        return ne
    nan = np.nan
    left = (nan, nan, nan, nan)
    if st[S.FAR] == 2.0:
        left = (st[S.FAR_T], nan, nan, nan)
        if oc[OC.STATE] == 1.0:
            left = (oc[OC.CP_T], oc[OC.CP_S], oc[OC.CP_X], oc[OC.CP_Y])
    at_s = est.s
    if code == E.CODE_NEAR:
        st[S.FAR] = 0.0
        # back near the course where the fix is (Dark Sky's shuttle: "back near the course
        # at mile 153.68", where the filter held the runner, for a fix at mile 169.25)
        at_s = _nearest_pass_s(geo, sf, cfg, fx, est)
    E.write_event(ev[ne], code, (fx.t, at_s, fx.x, fx.y), left, est.d_line)
    ev[ne, E.EV_ALARM_T] = st[S.FAR_T]  # the episode's key, in both its events
    return ne + 1


@nb.njit(cache=True, inline="always")
def _nearest_pass_s(
    geo: CourseArrays, sf: FloatArray, cfg: KernelCfg, fx: Fix, est: Estimate
) -> float:
    """The course distance of the pass the fix is nearest: of the candidate passes about as
    near, the one nearest the runner's progress (the two legs of an out-and-back); with none
    (further than they are looked for), the nearest part of the whole line."""
    if est.nc == 0:
        seg, t, _ = nearest_distance(fx.x, fx.y, cfg[C.near_course_m] + 1.0, geo.x, geo.y,
                                     geo.grid)  # fmt: skip
        if seg < 0:
            return est.s
        return geo.cum[seg] + t * (geo.cum[seg + 1] - geo.cum[seg])
    near = np.inf
    for c in range(est.nc):
        near = min(near, sf[CAND_D, c])
    at_s = est.s
    best = np.inf
    for c in range(est.nc):
        if sf[CAND_D, c] <= near + NEAR_TIE_M and abs(sf[CAND_S, c] - est.s) < best:
            best = abs(sf[CAND_S, c] - est.s)
            at_s = sf[CAND_S, c]
    return at_s


@nb.njit(cache=True, inline="always")
def _confirm(
    st: FloatArray, geo: CourseArrays, cfg: KernelCfg, fx: Fix, est: Estimate, ev: FloatArray,
    ne: int,
) -> int:  # fmt: skip
    """Race HQ is told once a flagged episode is confirmed (engine/confirm.py): the alert
    says where the runner left (off course) or turned (wrong way), and when they were flagged."""
    oc = st[S.OC : S.OC + S.OC_LEN]
    ww = st[S.WW : S.WW + S.WW_LEN]
    cf = st[S.CF : S.CF + S.CF_LEN]
    flagged = oc[OC.STATE] == 1.0 or ww[WW.STATE] > 0.0
    if not flagged:
        CF.reset(cf, fx.t)
        return ne
    row = ev[ne]
    if CF.confirm_step(cf, fx.t, est.d_line, flagged, cfg, row) == 0:
        return ne
    row[E.EV_S], row[E.EV_X], row[E.EV_Y] = _placed(st, geo, fx, est.s), fx.x, fx.y
    if oc[OC.STATE] == 1.0:
        row[E.EV_LEFT_T], row[E.EV_LEFT_S] = oc[OC.CP_T], oc[OC.CP_S]
        row[E.EV_LEFT_X], row[E.EV_LEFT_Y] = oc[OC.CP_X], oc[OC.CP_Y]
        row[E.EV_ALARM_T] = oc[OC.ALARM_T]
    else:
        row[E.EV_LEFT_T], row[E.EV_LEFT_S] = ww[WW.MAX_T], ww[WW.MAX_S]
        row[E.EV_LEFT_X], row[E.EV_LEFT_Y] = ww[WW.MAX_X], ww[WW.MAX_Y]
        row[E.EV_ALARM_T] = ww[WW.FLAG_T]
    return ne + 1


@nb.njit(cache=True, inline="always")
def _learn_pace(
    st: FloatArray, cfg: KernelCfg, dt: float, s_new: float, prev_s: float, pace: float
) -> None:
    """Pace along the course, learned while moving from one match on the line to the next."""
    v_obs = (s_new - prev_s) / dt
    if 0.3 < v_obs < cfg[C.vmax_mps]:
        a = 1.0 - np.exp(-dt / 1800.0)
        st[S.PACE] = pace + a * (v_obs - pace)


@nb.njit(cache=True, inline="always")
def _cut(
    st: FloatArray,
    sf: FloatArray,
    cfg: KernelCfg,
    fx: Fix,
    was: Before,
    est: Estimate,
    ev: FloatArray,
    ne: int,
) -> int:
    """The line was rejoined further along than anyone could have run: a shortcut."""
    oc = st[S.OC : S.OC + S.OC_LEN]
    row = ev[ne]
    left = (oc[OC.CP_T], oc[OC.CP_S], oc[OC.CP_X], oc[OC.CP_Y])
    E.write_event(row, E.CODE_SHORTCUT, (fx.t, est.s, fx.x, fx.y), left, est.d_eff)
    row[E.EV_PATH] = oc[OC.PATH]
    OC.reset(oc, fx.t, est.s, fx.x, fx.y)
    WW.restart(st[S.WW : S.WW + S.WW_LEN], fx.t, est.s, fx.x, fx.y)
    restart_reach(st, sf, cfg, fx, was, est)
    return ne + 1


@nb.njit(cache=True, inline="always")
def restart_reach(
    st: FloatArray, sf: FloatArray, cfg: KernelCfg, fx: Fix, was: Before, est: Estimate
) -> None:
    """Back on the line (or cut): the reachable course starts again from here."""
    rc = st[S.REACH : S.REACH + S.REACH_LEN]
    R.restart(rc)
    R.on_line(rc, fx.t, st[S.PATH_M], est.s, sf[CAND_S], sf[CAND_D], est.nc, est.d_line,
              was.pace, fx.sigma, cfg)  # fmt: skip


@nb.njit(cache=True, inline="always")
def _placed(st: FloatArray, geo: CourseArrays, fx: Fix, s: float) -> float:
    """``s``, or UNPLACED_S while the runner is being placed (never on the line, and not
    waiting at the start nor on the way from it: a tracker started mid-race)."""
    start_d = np.hypot(fx.x - geo.x[0], fx.y - geo.y[0])
    return UNPLACED_S if being_placed(st, fx.t, start_d) else s


@nb.njit(cache=True, inline="always")
def _at_station(sx: FloatArray, sy: FloatArray, cfg: KernelCfg, x: float, y: float) -> bool:
    zone2 = cfg[C.station_zone_m] ** 2
    for k in range(len(sx)):  # noqa: SIM110 (numba compiles no generator)
        if (x - sx[k]) ** 2 + (y - sy[k]) ** 2 < zone2:
            return True
    return False


@nb.njit(cache=True, inline="always")
def _off_course(
    st: FloatArray,
    geo: CourseArrays,
    sf: FloatArray,
    cfg: KernelCfg,
    fx: Fix,
    was: Before,
    est: Estimate,
    at_station: bool,
    end_m: float,
    ev: FloatArray,
    ne: int,
) -> int:
    """The off-course detector; back on the line, the reachable course and the wrong-way
    detector start afresh from the rejoin."""
    oc = st[S.OC : S.OC + S.OC_LEN]
    noise_m = st[S.NOISE + NOISE_EST]
    # a shortcut needs evidence: fixes close enough to measure the distance run, or more
    # course skipped than anyone could have run since leaving (minutes apart, the straight
    # line between two fixes cuts every bend, and a runner beside the skipped part, however
    # far from the rest, may have run it)
    evidence_m = 0.0
    if st[S.INTERVAL] > cfg[C.dense_s]:
        evidence_m = reach_m(max(fx.t - oc[OC.CP_T], 1.0), was.pace, fx.sigma, cfg)
    # coasting, the detector follows where the runner is near the line, not where the filter
    # holds them (a hairpin cut across: held where they left for minutes, the way back read
    # "back on course" there and the cut was never said; after it, the next excursion left
    # from there)
    s = _placed(st, geo, fx, est.s_det if est.matched else est.s_near)
    if s != UNPLACED_S:
        # first on the line (a tracker started mid-race off it): an episode under way left
        # from nowhere known, so it ends where they joined the course, never as a cut; a way
        # back begun before is from there too
        if oc[OC.CP_S] == UNPLACED_S:
            oc[OC.CP_S] = s
        if oc[OC.REJ_S] == UNPLACED_S:
            oc[OC.REJ_S] = s
    # how far off, for the words: from the whole line, looked for further out when it is not
    # near (Dark Sky's shuttle, 2.9 km out: "at most inf m off" broke a message in miles)
    line_m = est.d_line
    if line_m == np.inf and oc[OC.STATE] == 1.0:
        line_m = nearest_distance(fx.x, fx.y, FAR_WORDS_M, geo.x, geo.y, geo.grid)[2]
    code = OC.offcourse_step(oc, fx.t, fx.dt, fx.step_m, fx.x, fx.y, est.d_eff, line_m, s,
                             fx.acc, noise_m, at_station, end_m, evidence_m, cfg,
                             ev[ne])  # fmt: skip
    if code == 0:
        return ne
    ne += 1
    if code == E.CODE_OFF_COURSE:
        return ne
    restart_reach(st, sf, cfg, fx, was, est)
    ww = st[S.WW : S.WW + S.WW_LEN]
    if ww[WW.STATE] == 0.0:
        # back on the line: progress is measured afresh from here, unless the runner
        # was already going the wrong way (one alarm per episode, not one per rejoin);
        # a runner back from being lost who heads the wrong way is caught sooner
        row = ev[ne - 1]
        WW.restart(ww, row[E.EV_T], row[E.EV_S], row[E.EV_X], row[E.EV_Y])
        WW.rejoined(ww, row[E.EV_T])
    return ne


@nb.njit(cache=True, inline="always")
def _wrong_way(
    st: FloatArray,
    cfg: KernelCfg,
    fx: Fix,
    was: Before,
    est: Estimate,
    at_station: bool,
    ev: FloatArray,
    ne: int,
) -> int:
    """The wrong-way detector, on fixes on the line (runners mill about aid stations:
    direction there says nothing)."""
    oc = st[S.OC : S.OC + S.OC_LEN]
    ww = st[S.WW : S.WW + S.WW_LEN]
    on_line = (
        est.matched and oc[OC.STATE] == 0.0 and est.d_eff < cfg[C.oc_d_clear_m] and not at_station
    )
    # progress matched back further than the runner moved, from one match on the line to the
    # next: a correction of the pass, not running
    rematch = est.matched and was.matched and not at_station
    if rematch and was.s - est.s > 2.0 * fx.step_m + cfg[C.ww_rejoin_m] / 3.0:
        WW.rematched(ww, fx.t, est.s, fx.x, fx.y)
    if WW.wrongway_step(ww, fx.t, fx.x, fx.y, est.s, on_line, cfg, ev[ne]) != 0:
        ne += 1
    return ne


@nb.njit(cache=True, inline="always")
def _signed_offset(x: float, y: float, i: int, x_v: FloatArray, y_v: FloatArray) -> float:
    """Offset of (x, y) from course segment ``i``: left of it positive."""
    dx = x_v[i + 1] - x_v[i]
    dy = y_v[i + 1] - y_v[i]
    length = np.hypot(dx, dy)
    if length == 0.0:
        return 0.0
    return ((y - y_v[i]) * dx - (x - x_v[i]) * dy) / length
