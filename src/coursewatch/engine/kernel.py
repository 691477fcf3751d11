"""The course filter: one numba kernel that takes a runner's state and one fix.

The state is the distance along the *unrolled* course (so laps and the legs of an
out-and-back are different places), kept as a handful of hypotheses scored Viterbi-style
(:mod:`coursewatch.engine.hypotheses`). :func:`step_fix` runs the phases of one fix in order:

1. **candidates**: the passes of the course near the fix;
2. **scoring**: each pass, and coasting off the line, scored from the runner's hypotheses
   (a forward-progress prior that knows how far a runner can get in the time since that
   hypothesis last matched the line, so 10-minute pings work);
3. **pruning**: the best hypotheses kept; the best gives progress;
4. **offset**: the distance from the course near that progress, and from the part of the
   course the runner can have reached (:mod:`coursewatch.engine.reach`);
5. **detectors**: pace and the receiver's noise learned, then the in-kernel state machines,
   off course (:mod:`coursewatch.engine.offcourse`) and wrong way
   (:mod:`coursewatch.engine.wrongway`), which write event rows
   (:mod:`coursewatch.engine.events`).

Live and batch run this same code: :func:`run_many` feeds a runner's fixes one by one.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from coursewatch.engine import events as E
from coursewatch.engine import offcourse as OC
from coursewatch.engine import reach as R
from coursewatch.engine import state as S
from coursewatch.engine import wrongway as WW
from coursewatch.engine.config import C, KernelCfg
from coursewatch.engine.grid import offset_between
from coursewatch.engine.hypotheses import candidates, coast_along, prune, score
from coursewatch.engine.model import (
    CAND_D,
    CAND_S,
    CAND_SEG,
    HYP_COAST,
    HYP_S,
    HYP_SCORE,
    HYP_T,
    HYP_TRANS,
    CourseArrays,
    Scratch,
)  # fmt: skip
from coursewatch.engine.noise import EST as NOISE_EST
from coursewatch.engine.noise import noise_step
from coursewatch.engine.projection import lattice_xy
from coursewatch.engine.reach import reach_m
from coursewatch.geo import FloatArray

OFF_WINDOW_M = 3000.0
FAR_M = 1e9  # where a fix off the projection lattice is put: nothing can match it


@nb.njit(cache=True, inline="always")
def step_fix(
    st: FloatArray,
    geo: CourseArrays,
    scr: Scratch,
    cfg: KernelCfg,
    t: float,
    lat: float,
    lon: float,
    acc: float,
    ev: FloatArray,
    ne: int,
) -> int:
    """Feed one fix. Writes events to ``ev[ne:]``; returns the new event count.

    A fix at or before the last accepted time is ignored (the live matcher is causal; the
    server rewinds and replays a runner for late fixes).
    """
    if st[S.N_FIX] > 0 and t <= st[S.LAST_T]:
        return ne
    x, y, inside = lattice_xy(lat, lon, geo.lattice)
    if not inside:
        x, y = FAR_M, FAR_M  # hundreds of km from the course: nothing can match
    sigma = cfg[C.sigma_m]
    if acc == acc and acc > sigma:
        sigma = acc
    first = st[S.N_FIX] == 0
    dt = 0.0 if first else t - st[S.LAST_MOVE_T]
    step_m = 0.0 if first else np.hypot(x - st[S.LAST_X], y - st[S.LAST_Y])
    if not first and step_m == 0.0:
        # the receiver repeated its last position (watches do for minutes): no new
        # evidence, so the hypotheses keep their times and the next real fix spans the gap
        st[S.N_FIX] += 1
        st[S.LAST_T] = t
        return ne
    if not first and step_m > 5e5:
        step_m = 0.0
    # the tables are unpacked once: numba would count a reference to every array of a tuple
    # at each helper it is handed to
    x_v, y_v, cum, sf, si = geo.x, geo.y, geo.cum, scr.f, scr.i

    # 1-3: candidates, scoring, pruning
    nc = 0
    if inside:
        nc = candidates(x, y, cfg, x_v, y_v, cum, geo.grid, sf, si, scr.stamp, scr.memo_i,
                        scr.memo_f)  # fmt: skip
    # GPS error is correlated in time and watches repeat their last fix for minutes: a fix
    # soon after the last one, or at the very same place, carries little new evidence.
    w_e = 1.0 if first else min(dt / cfg[C.emit_tau_s], 1.0)
    nh = int(st[S.N_HYP])
    pace = st[S.PACE]
    prev_s = st[S.S_EST]
    prev_matched = st[S.MATCHED] == 1.0
    m = score(st, sf, cfg, t, nc, sigma, w_e)
    _record_fix(st, t, x, y, step_m, first, dt)
    if nh > 0:
        coast_along(sf, cfg, t, m, nc, pace, sigma)
    best = prune(st, sf, si, cfg, m)
    matched = sf[HYP_COAST, best] == 0.0
    s_new = sf[HYP_S, best]
    jumped = matched and sf[HYP_TRANS, best] < -10.0 and nh > 0

    # 4: offset
    d_eff, s_det, s_off = _offset(sf, cfg, t, x, y, dt, nc, best, pace, sigma, x_v, y_v, cum)
    d_line = np.inf
    for c in range(nc):
        d_line = min(d_line, sf[CAND_D, c])
    d_eff = _reachable(st, sf, cfg, t, x, y, d_eff, d_line, s_off, nc, matched and not jumped,
                       s_new, pace, sigma, x_v, y_v, cum)  # fmt: skip
    st[S.S_EST] = s_new
    st[S.D_EST] = d_eff
    st[S.MATCHED] = 1.0 if matched else 0.0
    st[S.JUMP] = 1.0 if jumped else 0.0

    # 5: learning, then the detectors
    _learn_pace(st, cfg, dt, s_new, prev_s, matched and prev_matched and not jumped, pace)
    if matched and s_new >= cum[-1] - cfg[C.finish_m] and st[S.PATH_M] > 0.5 * cum[-1]:
        st[S.FINISHED] = 1.0
    if st[S.FINISHED] == 1.0:
        # past the finish line nothing is a wrong turn any more
        return ne
    oc = st[S.OC : S.OC + S.OC_LEN]
    if first or (nh == 0):
        OC.reset(oc, t, s_det, x, y)
    if jumped and oc[OC.STATE] == 0.0 and s_new > prev_s:
        return _cut(st, sf, cfg, t, x, y, s_new, d_eff, d_line, nc, pace, sigma, ev, ne)
    at_station = _at_station(geo.station_x, geo.station_y, cfg, x, y)
    if matched and d_eff < cfg[C.noise_near_m] and not at_station:
        _learn_noise(st, cfg, t, _signed_offset(x, y, si[CAND_SEG, best], x_v, y_v), True)
    else:
        _learn_noise(st, cfg, t, 0.0, False)
    ne = _off_course(st, sf, cfg, t, dt, step_m, x, y, d_eff, s_det, s_new, acc, at_station,
                     d_line, nc, pace, sigma, cum[-1], ev, ne)  # fmt: skip
    return _wrong_way(st, cfg, t, x, y, s_new, prev_s, step_m, d_eff, matched, prev_matched,
                      at_station, ev, ne)  # fmt: skip


@nb.njit(cache=True, inline="always")
def _record_fix(
    st: FloatArray, t: float, x: float, y: float, step_m: float, first: bool, dt: float
) -> None:
    st[S.N_FIX] += 1
    st[S.LAST_T] = t
    st[S.LAST_MOVE_T] = t
    st[S.LAST_X] = x
    st[S.LAST_Y] = y
    st[S.PATH_M] += step_m
    if not first and dt > 0:
        st[S.INTERVAL] = dt if st[S.INTERVAL] == 0 else 0.9 * st[S.INTERVAL] + 0.1 * dt


@nb.njit(cache=True, inline="always")
def _offset(
    sf: FloatArray,
    cfg: KernelCfg,
    t: float,
    x: float,
    y: float,
    dt: float,
    nc: int,
    best: int,
    pace: float,
    sigma: float,
    x_v: FloatArray,
    y_v: FloatArray,
    cum: FloatArray,
) -> tuple[float, float, float]:
    """Phase 4: (offset, course distance the detectors use, course distance the offset was
    measured from). On the line: the matched pass itself; coasting: the nearest pass the
    runner could have reached from where they left the line."""
    cs, cd, nsc = sf[CAND_S], sf[CAND_D], sf[HYP_SCORE]
    top = nsc[best]
    s_new = sf[HYP_S, best]
    d_eff = np.inf
    s_det = s_new
    s_off = s_new  # where on the course d_eff is measured from
    if sf[HYP_COAST, best] == 0.0:
        # when another pass scores almost as well and lies nearer, the runner may well be
        # on it: ambiguity is no evidence of being lost
        d_eff = cd[best]
        for c in range(nc):
            if nsc[c] >= top - cfg[C.ambiguous] and cd[c] < d_eff:
                d_eff = cd[c]
                s_off = cs[c]
    else:
        ahead_m = reach_m(max(t - sf[HYP_T, best], 1.0), pace, sigma, cfg)
        for c in range(nc):
            if s_new - cfg[C.coast_back_m] <= cs[c] <= s_new + ahead_m and cd[c] < d_eff:
                d_eff = cd[c]
                s_det = cs[c]
        # a pass on the line that scores almost as well as coasting may be where they are
        for c in range(nc):
            if nsc[c] >= top - cfg[C.ambiguous] and cd[c] < d_eff:
                d_eff = cd[c]
                s_det = cs[c]
        s_off = s_det
    if d_eff == np.inf:
        far_m = cfg[C.vmax_mps] * max(dt, 1.0) + OFF_WINDOW_M
        d_eff = offset_between(x, y, s_new - OFF_WINDOW_M, s_new + far_m, x_v, y_v, cum)
    return d_eff, s_det, s_off


@nb.njit(cache=True, inline="always")
def _reachable(
    st: FloatArray,
    sf: FloatArray,
    cfg: KernelCfg,
    t: float,
    x: float,
    y: float,
    d_eff: float,
    d_line: float,
    s_off: float,
    nc: int,
    on_the_line: bool,
    s_new: float,
    pace: float,
    sigma: float,
    x_v: FloatArray,
    y_v: FloatArray,
    cum: FloatArray,
) -> float:
    """The offset, also from the course the runner can have reached since they were on the
    line, once clear of the whole line (alarmed too: 25-30 m from a part of the course they
    cannot have reached is not back on course; nearer, a rejoin anywhere ends the alarm).
    A fix matched (no jump) close to the line places the runner there."""
    rc = st[S.REACH : S.REACH + S.REACH_LEN]
    if d_line >= cfg[C.reach_min_m]:
        d_reach = R.offset_m(rc, x, y, t, s_off, st[S.PATH_M], pace, sigma, cfg, x_v, y_v, cum)
        d_eff = max(d_eff, d_reach)
    if on_the_line and d_eff < cfg[C.reach_on_m]:
        R.on_line(rc, t, st[S.PATH_M], s_new, sf[CAND_S], sf[CAND_D], nc, d_line, pace, sigma,
                  cfg)  # fmt: skip
    return d_eff


@nb.njit(cache=True, inline="always")
def _learn_pace(
    st: FloatArray, cfg: KernelCfg, dt: float, s_new: float, prev_s: float, ok: bool, pace: float
) -> None:
    """Pace along the course, learned while moving from one match on the line to the next."""
    if ok and 0.0 < dt <= 1800.0:
        v_obs = (s_new - prev_s) / dt
        if 0.3 < v_obs < cfg[C.vmax_mps]:
            a = 1.0 - np.exp(-dt / 1800.0)
            st[S.PACE] = pace + a * (v_obs - pace)


@nb.njit(cache=True, inline="always")
def _cut(
    st: FloatArray,
    sf: FloatArray,
    cfg: KernelCfg,
    t: float,
    x: float,
    y: float,
    s_new: float,
    d_eff: float,
    d_line: float,
    nc: int,
    pace: float,
    sigma: float,
    ev: FloatArray,
    ne: int,
) -> int:
    """The line was rejoined further along than anyone could have run: a shortcut."""
    oc = st[S.OC : S.OC + S.OC_LEN]
    row = ev[ne]
    left = (oc[OC.CP_T], oc[OC.CP_S], oc[OC.CP_X], oc[OC.CP_Y])
    E.write_event(row, E.CODE_SHORTCUT, (t, s_new, x, y), left, d_eff)
    row[E.EV_PATH] = oc[OC.PATH]
    OC.reset(oc, t, s_new, x, y)
    WW.restart(st[S.WW : S.WW + S.WW_LEN], t, s_new, x, y)
    _restart_reach(st, sf, cfg, t, s_new, d_line, nc, pace, sigma)
    return ne + 1


@nb.njit(cache=True, inline="always")
def _restart_reach(
    st: FloatArray,
    sf: FloatArray,
    cfg: KernelCfg,
    t: float,
    s_new: float,
    d_line: float,
    nc: int,
    pace: float,
    sigma: float,
) -> None:
    """Back on the line (or cut): the reachable course starts again from here."""
    rc = st[S.REACH : S.REACH + S.REACH_LEN]
    R.restart(rc)
    R.on_line(rc, t, st[S.PATH_M], s_new, sf[CAND_S], sf[CAND_D], nc, d_line, pace, sigma, cfg)


@nb.njit(cache=True, inline="always")
def _at_station(sx: FloatArray, sy: FloatArray, cfg: KernelCfg, x: float, y: float) -> bool:
    zone2 = cfg[C.station_zone_m] ** 2
    for k in range(len(sx)):  # noqa: SIM110 (numba compiles no generator)
        if (x - sx[k]) ** 2 + (y - sy[k]) ** 2 < zone2:
            return True
    return False


@nb.njit(cache=True, inline="always")
def _learn_noise(st: FloatArray, cfg: KernelCfg, t: float, d_signed: float, near: bool) -> None:
    """A receiver that reports no accuracy gets one estimated from its jitter across the line
    (``d_signed``: the fix's signed offset, when ``near`` the line it is matched to)."""
    nz = st[S.NOISE : S.NOISE + S.NOISE_LEN]
    noise_step(
        nz, t, d_signed, near, cfg[C.noise_prior_m], cfg[C.noise_tau_s], cfg[C.noise_learn_s]
    )


@nb.njit(cache=True, inline="always")
def _off_course(
    st: FloatArray,
    sf: FloatArray,
    cfg: KernelCfg,
    t: float,
    dt: float,
    step_m: float,
    x: float,
    y: float,
    d_eff: float,
    s_det: float,
    s_new: float,
    acc: float,
    at_station: bool,
    d_line: float,
    nc: int,
    pace: float,
    sigma: float,
    end_m: float,
    ev: FloatArray,
    ne: int,
) -> int:
    """The off-course detector; back on the line, the reachable course and the wrong-way
    detector start afresh from the rejoin."""
    oc = st[S.OC : S.OC + S.OC_LEN]
    noise_m = st[S.NOISE + NOISE_EST]
    code = OC.offcourse_step(oc, t, dt, step_m, x, y, d_eff, s_det, acc, noise_m, at_station,
                             end_m, cfg, ev[ne])  # fmt: skip
    if code == 0:
        return ne
    ne += 1
    if code == E.CODE_OFF_COURSE:
        return ne
    _restart_reach(st, sf, cfg, t, s_new, d_line, nc, pace, sigma)
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
    t: float,
    x: float,
    y: float,
    s_new: float,
    prev_s: float,
    step_m: float,
    d_eff: float,
    matched: bool,
    prev_matched: bool,
    at_station: bool,
    ev: FloatArray,
    ne: int,
) -> int:
    """The wrong-way detector, on fixes on the line (runners mill about aid stations:
    direction there says nothing)."""
    oc = st[S.OC : S.OC + S.OC_LEN]
    ww = st[S.WW : S.WW + S.WW_LEN]
    on_line = matched and oc[OC.STATE] == 0.0 and d_eff < cfg[C.oc_d_clear_m] and not at_station
    # progress matched back further than the runner moved, from one match on the line to the
    # next: a correction of the pass, not running
    rematch = matched and prev_matched and not at_station
    if rematch and prev_s - s_new > 2.0 * step_m + cfg[C.ww_rejoin_m] / 3.0:
        WW.rematched(ww, t, s_new, x, y)
    if WW.wrongway_step(ww, t, x, y, s_new, on_line, cfg, ev[ne]) != 0:
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


@nb.njit(cache=True)
def run_many(
    st: FloatArray,
    geo: CourseArrays,
    scr: Scratch,
    cfg: KernelCfg,
    t: FloatArray,
    lat: FloatArray,
    lon: FloatArray,
    acc: FloatArray,
    start: int,
    out: FloatArray,
    ev: FloatArray,
) -> tuple[int, int]:
    """Feed fixes ``start:`` of one runner; ``out[i]`` = (progress, offset, matched, alarmed).

    Returns (events written, next fix): when ``ev`` is nearly full it stops early so that the
    caller can collect the events and go on from the next fix.
    """
    ne = 0
    for i in range(start, len(t)):
        before = ne
        ne = step_fix(st, geo, scr, cfg, t[i], lat[i], lon[i], acc[i], ev, ne)
        for k in range(before, ne):
            ev[k, E.EV_FIX] = i
        out[i, 0] = st[S.S_EST]
        out[i, 1] = st[S.D_EST]
        out[i, 2] = st[S.MATCHED]
        out[i, 3] = st[S.OC + OC.STATE]
        if ne + 4 > ev.shape[0]:
            return ne, i + 1
    return ne, len(t)
