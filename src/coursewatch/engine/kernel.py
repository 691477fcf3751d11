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
   off course and wrong way (:mod:`coursewatch.engine.detect`).

Live and batch run this same code: :func:`run_many` feeds a runner's fixes one by one.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

from coursewatch.engine import events as E
from coursewatch.engine import offcourse as OC
from coursewatch.engine import reach as R
from coursewatch.engine import state as S
from coursewatch.engine.config import C, KernelCfg
from coursewatch.engine.detect import Before, Estimate, Fix, detect
from coursewatch.engine.grid import IntArray, nearest_between_from, nearest_distance
from coursewatch.engine.hypotheses import (
    AT_START_M,
    candidates,
    coast_along,
    prune,
    score,
    under_way,
)
from coursewatch.engine.model import (
    CAND_D,
    CAND_S,
    HYP_COAST,
    HYP_S,
    HYP_SCORE,
    HYP_T,
    HYP_TRANS,
    CourseArrays,
    Scratch,
)  # fmt: skip
from coursewatch.engine.projection import lattice_xy
from coursewatch.engine.reach import reach_m
from coursewatch.geo import FloatArray

# The kernel runs without numba's runtime: it allocates nothing, and every array it touches
# belongs to its caller, so it needs no reference counts. With them (numba counts a reference
# at every helper an array is handed to, and every view) it ran about a third slower
# (benchmarks/speed.py). numba checks the claim: an allocation in the kernel fails to compile.
WITHOUT_RUNTIME: dict[str, Any] = {"_nrt": False}
OFF_WINDOW_M = 3000.0
FAR_M = 1e9  # where a fix off the projection lattice is put: nothing can match it
FAR_STEP_M = 5e5  # a step longer than this is no running (a fix from another continent)
FAR_MARGIN_M = 500.0  # the whole line is searched this much beyond far_course_m
PLACE_WIDEN = 3.0  # a runner being placed: candidates this many search radii away


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
    fx, inside = _arrive(st, geo, cfg, t, lat, lon, acc)
    if not fx.first and fx.step_m == 0.0:
        # the receiver repeated its last position (watches do for minutes): no new
        # evidence, so the hypotheses keep their times and the next real fix spans the gap
        st[S.N_FIX] += 1
        st[S.LAST_T] = t
        return ne
    was = Before(int(st[S.N_HYP]), st[S.PACE], st[S.S_EST], st[S.MATCHED] == 1.0)
    # the tables are unpacked once: numba counts a reference to every array of a tuple at
    # each helper it is handed to
    x_v, y_v, cum, sf, si = geo.x, geo.y, geo.cum, scr.f, scr.i
    # 1-3: candidates, scoring, pruning
    # until the runner is first on the line, "waiting at the start" is only as likely as the
    # fix is near the start
    start_d = np.hypot(fx.x - x_v[0], fx.y - y_v[0]) if st[S.SEEN] == 0.0 else 0.0
    nc = 0
    if inside:
        # a runner being placed away from the start (not yet on the line, the race long under
        # way, or a first fix far from the start) may be at an aid station or a car park
        # beside the course: look wider
        placing = st[S.SEEN] == 0.0 and (under_way(st, fx.t) or start_d > AT_START_M)
        nc = candidates(fx.x, fx.y, cfg, x_v, y_v, cum, geo.grid, sf, si, scr.stamp,
                        scr.memo_i, scr.memo_f, PLACE_WIDEN if placing else 1.0)  # fmt: skip
    best = _hypotheses(st, sf, si, cfg, fx, was, nc, start_d)
    matched = sf[HYP_COAST, best] == 0.0
    s_new = sf[HYP_S, best]
    jumped = matched and sf[HYP_TRANS, best] < -10.0 and was.n_hyp > 0
    # 4: offset
    d_eff, s_det, s_off, s_near = _offset(sf, cfg, fx, was, nc, best, x_v, y_v, cum)
    d_line = np.inf  # from the whole line: the nearest pass, or beyond the candidates' radius
    for c in range(nc):
        d_line = min(d_line, sf[CAND_D, c])
    if nc == 0:
        far_m = cfg[C.far_course_m] + FAR_MARGIN_M
        d_line = nearest_distance(fx.x, fx.y, far_m, x_v, y_v, geo.grid)[2]
    if matched:
        st[S.SEEN] = 1.0
    elif st[S.SEEN] == 0.0 and d_line < np.inf:
        d_eff = d_line  # not yet on the course: the offset is from every part of it
    est = Estimate(nc, best, matched, jumped, s_new, s_det, d_eff, d_line, s_near)
    d_eff = _reachable(st, sf, cfg, fx, was, est, s_off, x_v, y_v, cum)
    est = Estimate(nc, best, matched, jumped, s_new, s_det, d_eff, d_line, s_near)
    st[S.S_EST] = s_new
    st[S.D_EST] = d_eff
    st[S.MATCHED] = 1.0 if matched else 0.0
    st[S.JUMP] = 1.0 if jumped else 0.0
    # 5: learning, then the detectors
    return detect(st, geo, sf, si, cfg, fx, was, est, ev, ne)


@nb.njit(cache=True, inline="always")
def _arrive(
    st: FloatArray,
    geo: CourseArrays,
    cfg: KernelCfg,
    t: float,
    lat: float,
    lon: float,
    acc: float,
) -> tuple[Fix, bool]:
    """The fix in the course frame, with its error scale and the step from the last one; and
    whether it is on the projection lattice at all (hundreds of km from the course: not)."""
    x, y, inside = lattice_xy(lat, lon, geo.lattice)
    if not inside:
        x, y = FAR_M, FAR_M  # nothing can match
    sigma = cfg[C.sigma_m]
    if acc == acc and acc > sigma:
        sigma = acc
    first = st[S.N_FIX] == 0
    dt = 0.0 if first else t - st[S.LAST_MOVE_T]
    step_m = 0.0 if first else np.hypot(x - st[S.LAST_X], y - st[S.LAST_Y])
    if not first and step_m > FAR_STEP_M:
        step_m = 0.0
    return Fix(t, x, y, acc, sigma, dt, step_m, first), inside


@nb.njit(cache=True, inline="always")
def _hypotheses(
    st: FloatArray,
    sf: FloatArray,
    si: IntArray,
    cfg: KernelCfg,
    fx: Fix,
    was: Before,
    nc: int,
    start_d: float,
) -> int:
    """Phases 2-3: score and prune the hypotheses (the fix is recorded in between: the coast
    hypothesis follows from it); returns the index of the best."""
    # GPS error is correlated in time and watches repeat their last fix for minutes: a fix
    # soon after the last one, or at the very same place, carries little new evidence.
    w_e = 1.0 if fx.first else min(fx.dt / cfg[C.emit_tau_s], 1.0)
    m = score(st, sf, cfg, fx.t, nc, fx.sigma, w_e, start_d)
    st[S.N_FIX] += 1
    st[S.LAST_T] = fx.t
    st[S.LAST_MOVE_T] = fx.t
    st[S.LAST_X] = fx.x
    st[S.LAST_Y] = fx.y
    st[S.PATH_M] += fx.step_m
    if not fx.first and fx.dt > 0:
        iv = st[S.INTERVAL]
        st[S.INTERVAL] = fx.dt if iv == 0 else 0.9 * iv + 0.1 * fx.dt
    if was.n_hyp > 0:
        coast_along(sf, cfg, fx.t, m, nc, was.pace, fx.sigma)
    return prune(st, sf, si, cfg, m)


@nb.njit(cache=True, inline="always")
def _offset(
    sf: FloatArray,
    cfg: KernelCfg,
    fx: Fix,
    was: Before,
    nc: int,
    best: int,
    x_v: FloatArray,
    y_v: FloatArray,
    cum: FloatArray,
) -> tuple[float, float, float, float]:
    """Phase 4: (offset, course distance the detectors use, course distance the offset was
    measured from, and the nearest part of the line it came from). On the line: the matched
    pass itself; coasting: the nearest pass the runner could have reached from where they
    left the line, else the nearest part of the course within 3 km behind and ahead (its
    course distance the last one: a hairpin's way back, cut across to)."""
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
        ahead_m = reach_m(max(fx.t - sf[HYP_T, best], 1.0), was.pace, fx.sigma, cfg)
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
    s_near = s_off
    if d_eff == np.inf:
        far_m = cfg[C.vmax_mps] * max(fx.dt, 1.0) + OFF_WINDOW_M
        # (of passes as near, a loop's laps, the one nearest where they are on the course)
        d_eff, s_near = nearest_between_from(fx.x, fx.y, s_new - OFF_WINDOW_M, s_new + far_m,
                                             x_v, y_v, cum, s_new)  # fmt: skip
    return d_eff, s_det, s_off, s_near


@nb.njit(cache=True, inline="always")
def _reachable(
    st: FloatArray,
    sf: FloatArray,
    cfg: KernelCfg,
    fx: Fix,
    was: Before,
    est: Estimate,
    s_off: float,
    x_v: FloatArray,
    y_v: FloatArray,
    cum: FloatArray,
) -> float:
    """The offset, also from the course the runner can have reached since they were on the
    line, once clear of the whole line (alarmed too: 25-30 m from a part of the course they
    cannot have reached is not back on course; nearer, a rejoin anywhere ends the alarm).
    A fix matched (no jump) close to the line places the runner there."""
    rc = st[S.REACH : S.REACH + S.REACH_LEN]
    d_eff = est.d_eff
    path_m, pace, sigma = st[S.PATH_M], was.pace, fx.sigma
    if est.d_line >= cfg[C.reach_min_m]:
        d_reach = R.offset_m(rc, fx.x, fx.y, fx.t, s_off, path_m, pace, sigma, cfg, x_v, y_v,
                             cum)  # fmt: skip
        d_eff = max(d_eff, d_reach)
    if est.matched and not est.jumped and d_eff < cfg[C.reach_on_m]:
        R.on_line(rc, fx.t, path_m, est.s, sf[CAND_S], sf[CAND_D], est.nc, est.d_line, pace,
                  sigma, cfg)  # fmt: skip
    return d_eff


@nb.njit(cache=True, **WITHOUT_RUNTIME)  # type: ignore[untyped-decorator]
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
