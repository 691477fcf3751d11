"""The filter's hypotheses: where on the unrolled course a runner may be, scored per fix.

Each fix goes through three phases (the kernel, :mod:`coursewatch.engine.kernel`, calls them
in order):

1. :func:`candidates`: every pass of the course within ``radius_m`` of the fix (every local
   minimum of the offset along the line, so the two legs of a short spur are two passes);
2. :func:`score`: each candidate scored Viterbi-style from the runner's hypotheses, plus one
   *coast* hypothesis that the runner is off the line: a forward-progress prior on the change
   of course distance (:func:`transition`; :func:`rejoin_prior` when coming back to the line)
   and a Student-t emission on the offset (:func:`emission`; GPS under trees has heavy tails);
3. :func:`prune`: the best ``MAX_HYP`` kept, normalised so the best scores 0.

Everything reads and writes the runner's state vector (:mod:`coursewatch.engine.state`) and
the scratch tables ``sf`` (floats) and ``si`` (ints), a named row each
(:mod:`coursewatch.engine.model`).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from coursewatch.engine import state as S
from coursewatch.engine.config import C, KernelCfg
from coursewatch.engine.grid import IntArray, SegmentGrid, segments_near
from coursewatch.engine.model import (
    CAND_D,
    CAND_S,
    CAND_SEG,
    HYP_COAST,
    HYP_HWM,
    HYP_S,
    HYP_SCORE,
    HYP_T,
    HYP_TRANS,
    MAX_CAND,
    ORDER,
    SEG,
    SEG_D,
    SEG_T,
)  # fmt: skip
from coursewatch.engine.reach import reach_m
from coursewatch.geo import FloatArray

ORDER_M = 1e8  # first fix: the earliest of passes otherwise alike, by a nat per this far
PACE_PRIOR_AFTER_S = 3600.0  # the average pace since the start means something from then on
AT_START_M = 1000.0  # a runner not yet on the line this near the start may be waiting there
VEHICLE_MPS = 30.0  # back from far from the course: as far along as a vehicle gets
DRIVEN_ORDER_M = 1e5  # ... the nearer of passes otherwise alike first, a nat per this far
PACE_PRIOR_CAP = 4.0  # nats: a fast or slow runner is still placed where the fixes say
NOT_STARTED_MPS = 0.25  # ... but slower than this since the start, they have hardly begun:
NOT_STARTED_CAP = 12.0  # nats at most, standing still (beside a turnaround at the start)


@nb.njit(cache=True, inline="always")
def emission(d: float, sigma: float, nu: float) -> float:
    r = d / sigma
    return -0.5 * (nu + 1.0) * np.log1p(r * r / nu)


@nb.njit(cache=True, inline="always")
def transition(
    s_from: float, hwm: float, s_to: float, dt: float, pace: float, sigma: float, cfg: KernelCfg
) -> float:
    """Log-prior of a hypothesis moving from ``s_from`` to ``s_to`` in ``dt`` seconds.

    ``hwm`` is the furthest the hypothesis has been: going back costs per metre of *net*
    backward progress beyond a small slack, however many small steps it is made of, so a
    lineage cannot drift backwards for free a few metres at a time.
    """
    slack = cfg[C.back_slack_m]
    deficit_from = max(hwm - s_from - slack, 0.0)
    deficit_to = max(hwm - s_to - slack, 0.0)
    lp = -(deficit_to - deficit_from) / cfg[C.lambda_back_m]
    ds = s_to - s_from
    hi = reach_m(dt, pace, sigma, cfg)
    if ds > hi:
        return lp - (ds - hi) / cfg[C.lambda_fwd_m]
    if ds < 0.0:
        return lp
    sig_t = 30.0 + pace * dt
    r = (ds - pace * dt) / sig_t
    return lp + max(-0.5 * r * r, -2.0)


@nb.njit(cache=True, inline="always")
def rejoin_prior(
    s_from: float, s_to: float, dt: float, pace: float, sigma: float, cfg: KernelCfg,
    driven: bool = False,
) -> float:  # fmt: skip
    """Log-prior of rejoining the line at ``s_to`` after leaving it at ``s_from``;
    ``driven``: the runner went far from every part of the course since (a car, a shuttle:
    anywhere a vehicle gets in the time is as likely, the nearest a little more)."""
    ds = s_to - s_from
    hi = reach_m(dt, pace, sigma, cfg)
    if driven:
        hi = max(hi, VEHICLE_MPS * dt)
    if ds < 0.0:
        # back to a marker seen before, as far as they could have gone back in the time; a
        # place further behind is an earlier pass of where they are (a loop's last lap, the
        # other leg of an out-and-back), as unlikely as skipping that much ahead
        back = -ds
        return (
            -min(back, hi) / cfg[C.lambda_rejoin_back_m] - max(back - hi, 0.0) / cfg[C.lambda_fwd_m]
        )
    if ds > hi:
        return -(ds - hi) / cfg[C.lambda_fwd_m]
    return -ds / DRIVEN_ORDER_M if driven else 0.0


@nb.njit(cache=True, inline="always")
def candidates(
    x: float,
    y: float,
    cfg: KernelCfg,
    x_v: FloatArray,
    y_v: FloatArray,
    cum: FloatArray,
    grid: SegmentGrid,
    sf: FloatArray,
    si: IntArray,
    stamp: IntArray,
    memo_i: IntArray,
    memo_f: FloatArray,
    widen: float = 1.0,
) -> int:
    """Phase 1: the passes of the course within ``widen`` times the search radius of (x, y)
    into the ``CAND_*`` rows; returns how many."""
    seg, tt, dd = si[SEG], sf[SEG_T], sf[SEG_D]
    radius = cfg[C.radius_m] * widen
    n = segments_near(x, y, radius, x_v, y_v, grid, seg, tt, dd, stamp, memo_i, memo_f)
    cs, cd, cseg = sf[CAND_S], sf[CAND_D], si[CAND_SEG]
    nc = 0
    for k in range(n):
        run_start = k == 0 or seg[k - 1] != seg[k] - 1
        run_end = k == n - 1 or seg[k + 1] != seg[k] + 1
        # neighbouring segments that share their nearest vertex tie: keep the first
        if not run_start and dd[k - 1] <= dd[k] + 1e-9:
            continue
        if not run_end and dd[k + 1] < dd[k] - 1e-9:
            continue
        sv = cum[seg[k]] + tt[k] * (cum[seg[k] + 1] - cum[seg[k]])
        if nc < MAX_CAND:
            cs[nc] = sv
            cd[nc] = dd[k]
            cseg[nc] = seg[k]
            nc += 1
        else:
            worst = 0
            for q in range(1, nc):
                if cd[q] > cd[worst]:
                    worst = q
            if dd[k] < cd[worst]:
                cs[worst] = sv
                cd[worst] = dd[k]
                cseg[worst] = seg[k]
    return nc


@nb.njit(cache=True, inline="always")
def score(
    st: FloatArray,
    sf: FloatArray,
    cfg: KernelCfg,
    t: float,
    nc: int,
    sigma: float,
    w_e: float,
    start_d: float,
) -> int:
    """Phase 2: the new hypotheses (each candidate, then the coast one) into the ``HYP_*``
    rows, scored from the runner's hypotheses; returns how many. ``start_d``: until the
    runner is first on the line, the fix's distance from the start of the course, m."""
    nu = cfg[C.nu]
    nh = int(st[S.N_HYP])
    pace = st[S.PACE]
    sf[HYP_COAST, : MAX_CAND + 1] = 0.0
    # the first fix: each pass is a first placement; and so on every fix before the runner is
    # first on the line when the race is long under way (nobody is waiting at the start: the
    # average pace since it, not the way from the start, says where they are) or, the start
    # unknown, the fix is far from it (a recording begun mid-race, its first fixes off the line)
    unseen = nh == 0 or being_placed(st, t, start_d)
    base = 0.0
    for h in range(nh):
        base = max(base, st[S.HYP + h * S.HYP_FIELDS + S.H_SCORE]) if h else st[S.HYP + S.H_SCORE]
    for c in range(nc):
        s_c = sf[CAND_S, c]
        e = w_e * emission(sf[CAND_D, c], sigma, nu)
        if unseen:
            # first match: a runner starts at the start, so a pass far along costs a few nats
            # (capped: a tracker started mid-race is on the course by its next fix), the
            # earliest of one place first (the later ones stay in the beam: what follows
            # tells the legs of an out-and-back apart), and none further than anyone could
            # have run since the start, when it is known
            sc = base + e - _late(st, cfg, t, s_c) - s_c / ORDER_M
            sc += _since_start(st, cfg, t, s_c, sigma)
            bt = 0.0
            hw = s_c
        else:
            sc, bt, hw = _best_origin(st, cfg, t, nh, s_c, e, pace, sigma)
        _put(sf, c, s_c, sc, 0.0, t, hw, bt)
    # waiting at the start is as likely as an off-line fix while the fix is near it (a warm-up,
    # a hotel, the start pens); a runner further away is somewhere on the course
    e_off = w_e * emission(cfg[C.e_off_m] if start_d <= AT_START_M else start_d, sigma, nu)
    if nh == 0:
        # not yet on the course: "waiting at the start" competes with every pass nearby,
        # so a runner warming up beside the finish of a loop is not put at its end; a
        # first fix far from the start is not waiting there (a tracker started mid-race)
        wait = emission(cfg[C.e_off_m] if start_d <= AT_START_M else start_d, sigma, nu)
        _put(sf, nc, 0.0, wait, 1.0, t, 0.0, 0.0)
        return nc + 1
    cs_best = -np.inf
    cs_s = 0.0
    cs_t = 0.0
    cs_hw = 0.0
    for h in range(nh):
        b = S.HYP + h * S.HYP_FIELDS
        v = st[b + S.H_SCORE] + e_off
        if st[b + S.H_COAST] == 0.0:
            v -= cfg[C.p_leave]
        if v > cs_best:
            cs_best = v
            cs_s = st[b + S.H_S]
            cs_t = st[b + S.H_T]
            cs_hw = st[b + S.H_HWM]
    _put(sf, nc, cs_s, cs_best, 1.0, cs_t, cs_hw, 0.0)
    return nc + 1


@nb.njit(cache=True, inline="always")
def being_placed(st: FloatArray, t: float, start_d: float) -> bool:
    """A runner not yet on the line who is not waiting at the start, or on the way from it:
    where they are along the course is not known until they are on it. ``start_d``: the fix's
    distance from the start of the course, m."""
    if st[S.SEEN] == 1.0:
        return False
    return under_way(st, t) or (st[S.START_KNOWN] == 0.0 and start_d > AT_START_M)


@nb.njit(cache=True, inline="always")
def under_way(st: FloatArray, t: float) -> bool:
    """The race's start is known and long past."""
    return st[S.START_KNOWN] == 1.0 and t - st[S.START_T] >= PACE_PRIOR_AFTER_S


@nb.njit(cache=True, inline="always")
def _late(st: FloatArray, cfg: KernelCfg, t: float, s_c: float) -> float:
    """A runner starts at the start: a first placement far along costs a few nats (capped),
    unless the race's start is known and long past (then the average pace prior speaks)."""
    if under_way(st, t):
        return 0.0
    return min(s_c / cfg[C.start_prior_m], cfg[C.start_prior_cap])


@nb.njit(cache=True, inline="always")
def _since_start(st: FloatArray, cfg: KernelCfg, t: float, s_c: float, sigma: float) -> float:
    """Log-prior of being at ``s_c`` at the first fix: nothing when the start is unknown,
    else a cost per metre further along than anyone could have run since it; and, when it is
    the race's start, a few nats for an average pace unlike most runners' (the laps of a lap
    course, the passes of a leg run twice, are alike on the map: the time tells them apart)."""
    if st[S.START_T] <= 0.0:
        return 0.0
    since_s = max(t - st[S.START_T], 0.0)
    hi = reach_m(since_s, st[S.PACE], sigma, cfg)
    prior = -max(s_c - hi, 0.0) / cfg[C.lambda_fwd_m]
    if st[S.START_KNOWN] == 1.0 and since_s >= PACE_PRIOR_AFTER_S:
        avg = max(s_c, 0.0) / since_s  # (at the start itself: still there, standing still)
        hardly = max(1.0 - avg / NOT_STARTED_MPS, 0.0)  # (0 at that pace, 1 standing still)
        cap = PACE_PRIOR_CAP + hardly * (NOT_STARTED_CAP - PACE_PRIOR_CAP)
        z = np.log(avg / cfg[C.avg_pace_mps]) / cfg[C.avg_pace_sigma] if avg > 0.0 else np.inf
        prior -= min(0.5 * z * z, cap)
    return prior


@nb.njit(cache=True, inline="always")
def _best_origin(
    st: FloatArray,
    cfg: KernelCfg,
    t: float,
    nh: int,
    s_c: float,
    e: float,
    pace: float,
    sigma: float,
) -> tuple[float, float, float]:
    """(score, log-prior of the move, furthest s) of the best way to candidate ``s_c`` from
    the runner's hypotheses."""
    sc = -np.inf
    bt = -np.inf
    hw = s_c
    for h in range(nh):
        b = S.HYP + h * S.HYP_FIELDS
        dth = t - st[b + S.H_T]
        if st[b + S.H_COAST] == 1.0:
            # back from off the line: people retrace to the last marker they saw,
            # so rejoining behind costs little, and progress counts afresh from there; after
            # going far from every part of the course since, as far as a vehicle goes (Dark
            # Sky's shuttle: held where they left for 1.5 h, 15 miles behind them)
            driven = st[S.FAR_T] > 0.0 and st[S.FAR_T] >= st[b + S.H_T]
            tr = rejoin_prior(st[b + S.H_S], s_c, dth, pace, sigma, cfg, driven)
            hw_new = s_c
        else:
            tr = transition(st[b + S.H_S], st[b + S.H_HWM], s_c, dth, pace, sigma, cfg)
            hw_new = max(st[b + S.H_HWM], s_c)
        v = st[b + S.H_SCORE] + tr + e
        if v > sc:
            sc = v
            bt = tr
            hw = hw_new
    return sc, bt, hw


@nb.njit(cache=True, inline="always")
def _put(
    sf: FloatArray, m: int, s: float, sc: float, coast: float, t: float, hwm: float, trans: float
) -> None:
    sf[HYP_S, m] = s
    sf[HYP_SCORE, m] = sc
    sf[HYP_COAST, m] = coast
    sf[HYP_T, m] = t
    sf[HYP_HWM, m] = hwm
    sf[HYP_TRANS, m] = trans


@nb.njit(cache=True, inline="always")
def coast_along(
    sf: FloatArray, cfg: KernelCfg, t: float, m: int, nc: int, pace: float, sigma: float
) -> None:
    """The coast hypothesis follows the runner's projection on the course when there is one
    within reach: a runner on a path beside the line keeps making progress."""
    ci = m - 1
    ahead_m = reach_m(max(t - sf[HYP_T, ci], 1.0), pace, sigma, cfg)
    best_d = np.inf
    s0 = sf[HYP_S, ci]  # the window is around where the runner left, not the last pick
    for c in range(nc):
        s_c = sf[CAND_S, c]
        if s0 - cfg[C.coast_back_m] <= s_c <= s0 + ahead_m and sf[CAND_D, c] < best_d:
            best_d = sf[CAND_D, c]
            sf[HYP_S, ci] = s_c
    sf[HYP_HWM, ci] = max(sf[HYP_HWM, ci], sf[HYP_S, ci])


@nb.njit(cache=True, inline="always")
def prune(st: FloatArray, sf: FloatArray, si: IntArray, cfg: KernelCfg, m: int) -> int:
    """Phase 3: keep the best ``MAX_HYP`` of the ``m`` new hypotheses, normalised so the best
    scores 0, into the runner's state; returns the index of the best."""
    nsc = sf[HYP_SCORE]
    best = 0
    for q in range(1, m):
        if nsc[q] > nsc[best]:
            best = q
    top = nsc[best]
    order = si[ORDER]
    for q in range(m):  # insertion sort, best first: m is at most MAX_CAND + 1
        j = q
        while j > 0 and nsc[order[j - 1]] < nsc[q]:
            order[j] = order[j - 1]
            j -= 1
        order[j] = q
    kept = 0
    for q in order[:m]:
        if kept >= S.MAX_HYP or nsc[q] - top < -cfg[C.beam]:
            break
        # a worse hypothesis a few metres from a better one of the same kind adds nothing
        twin = False
        for j in range(kept):
            bj = S.HYP + j * S.HYP_FIELDS
            same_kind = st[bj + S.H_COAST] == sf[HYP_COAST, q]
            if same_kind and abs(st[bj + S.H_S] - sf[HYP_S, q]) < cfg[C.merge_m]:
                twin = True
                break
        if twin:
            continue
        b = S.HYP + kept * S.HYP_FIELDS
        st[b + S.H_S] = sf[HYP_S, q]
        st[b + S.H_SCORE] = nsc[q] - top
        st[b + S.H_COAST] = sf[HYP_COAST, q]
        st[b + S.H_T] = sf[HYP_T, q]
        st[b + S.H_HWM] = sf[HYP_HWM, q]
        kept += 1
    st[S.N_HYP] = kept
    return best
