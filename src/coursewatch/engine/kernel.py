"""The course filter: one numba kernel that takes a runner's state and one fix.

The state is the distance along the *unrolled* course (so laps and the legs of an
out-and-back are different places), kept as a handful of hypotheses scored Viterbi-style:

- candidates: every pass of the course within ``radius`` of the fix (a run of neighbouring
  segments is one pass), plus one *coast* hypothesis that the runner is off the line;
- transition: a forward-progress prior on the change of course distance, with the learned pace,
  free small backtracks, and linear penalties for going back or for progress faster than
  possible in the time since that hypothesis last matched the line (so 10-minute pings work);
- emission: a Student-t on the offset with the fix's accuracy as scale (GPS under trees has
  heavy tails).

The best hypothesis gives progress; the detectors (``coursewatch.detectors``) then read the
offset from the course near that progress and raise events. Live and batch run this same code.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from coursewatch.detectors.offcourse import STATE as OC_STATE
from coursewatch.detectors.offcourse import offcourse_step
from coursewatch.detectors.offcourse import reset as offcourse_reset
from coursewatch.detectors.rows import write_event
from coursewatch.detectors.wrongway import rejoined as wrongway_rejoined
from coursewatch.detectors.wrongway import rematched as wrongway_rematched
from coursewatch.detectors.wrongway import restart as wrongway_restart
from coursewatch.detectors.wrongway import wrongway_step
from coursewatch.engine import layout as L
from coursewatch.engine.grid import offset_between, segments_near
from coursewatch.engine.noise import EST as NOISE_EST
from coursewatch.engine.noise import noise_step
from coursewatch.engine.projection import lattice_xy
from coursewatch.engine.reach import offset_m as reach_offset_m
from coursewatch.engine.reach import on_line as reach_on_line
from coursewatch.engine.reach import reach_m
from coursewatch.engine.reach import restart as reach_restart
from coursewatch.geo import FloatArray

MAX_CAND = 16
SCRATCH = 96
INT_SCRATCH = SCRATCH + 2 * MAX_CAND + 1
FLOAT_SCRATCH = 2 * SCRATCH + 2 * MAX_CAND + 6 * (MAX_CAND + 1)
OFF_WINDOW_M = 3000.0


@nb.njit(cache=True, inline="always")
def emission(d: float, sigma: float, nu: float) -> float:
    r = d / sigma
    return -0.5 * (nu + 1.0) * np.log1p(r * r / nu)


@nb.njit(cache=True, inline="always")
def transition(
    s_from: float, hwm: float, s_to: float, dt: float, pace: float, sigma: float, cfg: FloatArray
) -> float:
    """Log-prior of a hypothesis moving from ``s_from`` to ``s_to`` in ``dt`` seconds.

    ``hwm`` is the furthest the hypothesis has been: going back costs per metre of *net*
    backward progress beyond a small slack, however many small steps it is made of, so a
    lineage cannot drift backwards for free a few metres at a time.
    """
    slack = cfg[L.C_BACK_SLACK]
    deficit_from = max(hwm - s_from - slack, 0.0)
    deficit_to = max(hwm - s_to - slack, 0.0)
    lp = -(deficit_to - deficit_from) / cfg[L.C_LAMBDA_BACK]
    ds = s_to - s_from
    hi = reach_m(dt, pace, sigma, cfg)
    if ds > hi:
        return lp - (ds - hi) / cfg[L.C_LAMBDA_FWD]
    if ds < 0.0:
        return lp
    sig_t = 30.0 + pace * dt
    r = (ds - pace * dt) / sig_t
    return lp + max(-0.5 * r * r, -2.0)


@nb.njit(cache=True, inline="always")
def rejoin_prior(
    s_from: float, s_to: float, dt: float, pace: float, sigma: float, cfg: FloatArray
) -> float:
    """Log-prior of rejoining the line at ``s_to`` after leaving it at ``s_from``."""
    ds = s_to - s_from
    if ds < 0.0:
        return ds / cfg[L.C_LAMBDA_REJOIN_BACK]
    hi = reach_m(dt, pace, sigma, cfg)
    if ds > hi:
        return -(ds - hi) / cfg[L.C_LAMBDA_FWD]
    return 0.0


@nb.njit(cache=True, inline="always")
def step_fix(
    st: FloatArray,
    geo: tuple,  # type: ignore[type-arg]
    cfg: FloatArray,
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
    x_v, y_v, cum = geo[0], geo[1], geo[2]
    if st[L.N_FIX] > 0 and t <= st[L.LAST_T]:
        return ne
    x, y, inside = lattice_xy(lat, lon, geo[10], geo[11], geo[12], geo[13], geo[14])
    if not inside:
        x, y = 1e9, 1e9  # hundreds of km from the course: nothing can match
    sigma = cfg[L.C_SIGMA]
    if acc == acc and acc > sigma:
        sigma = acc
    first = st[L.N_FIX] == 0
    dt = 0.0 if first else t - st[L.LAST_MOVE_T]
    step_m = 0.0 if first else np.hypot(x - st[L.LAST_X], y - st[L.LAST_Y])
    if not first and step_m == 0.0:
        # the receiver repeated its last position (watches do for minutes): no new
        # evidence, so the hypotheses keep their times and the next real fix spans the gap
        st[L.N_FIX] += 1
        st[L.LAST_T] = t
        return ne
    if not first and step_m > 5e5:
        step_m = 0.0

    # candidates: one per pass within the radius
    # scratch buffers live with the course model (geo[17], geo[18]): no allocation per fix
    wi = geo[17]
    wf = geo[18]
    seg = wi[:SCRATCH]
    tt = wf[0:SCRATCH]
    dd = wf[SCRATCH : 2 * SCRATCH]
    n = 0
    if inside:
        n = segments_near(
            x, y, cfg[L.C_RADIUS], x_v, y_v, geo[3], geo[4], geo[5], geo[6], geo[7],
            geo[8], geo[9], seg, tt, dd, geo[19], geo[20], geo[21],
        )  # fmt: skip
    # candidates: every local minimum of the offset along the line within the radius, so
    # the two legs of a short spur (one run of segments) are two passes
    o = 2 * SCRATCH
    cs = wf[o : o + MAX_CAND]
    cd = wf[o + MAX_CAND : o + 2 * MAX_CAND]
    cseg = wi[SCRATCH + MAX_CAND + 1 : SCRATCH + 2 * MAX_CAND + 1]
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

    nu = cfg[L.C_NU]
    # GPS error is correlated in time and watches repeat their last fix for minutes: a fix
    # soon after the last one, or at the very same place, carries little new evidence.
    w_e = 1.0 if first else min(dt / cfg[L.C_EMIT_TAU], 1.0)
    e_off = w_e * emission(cfg[L.C_E_OFF], sigma, nu)
    nh = int(st[L.N_HYP])
    pace = st[L.PACE]
    prev_s = st[L.S_EST]
    prev_matched = st[L.MATCHED] == 1.0
    # new hypotheses: candidates, then the coast hypothesis
    o = 2 * SCRATCH + 2 * MAX_CAND
    k1 = MAX_CAND + 1
    ns = wf[o : o + k1]
    nsc = wf[o + k1 : o + 2 * k1]
    nco = wf[o + 2 * k1 : o + 3 * k1]
    nco[:] = 0.0
    nt = wf[o + 3 * k1 : o + 4 * k1]
    nhwm = wf[o + 4 * k1 : o + 5 * k1]
    best_trans = wf[o + 5 * k1 : o + 6 * k1]
    m = 0
    for c in range(nc):
        e = w_e * emission(cd[c], sigma, nu)
        if nh == 0:
            # first match: prefer the earliest pass (a runner starts at the start)
            sc = e - cs[c] / cfg[L.C_START_PRIOR_M]
            bt = 0.0
            hw = cs[c]
        else:
            sc = -np.inf
            bt = -np.inf
            hw = cs[c]
            for h in range(nh):
                b = L.HYP + h * L.HYP_FIELDS
                dth = t - st[b + L.H_T]
                if st[b + L.H_COAST] == 1.0:
                    # back from off the line: people retrace to the last marker they saw,
                    # so rejoining behind costs little, and progress counts afresh from there
                    tr = rejoin_prior(st[b + L.H_S], cs[c], dth, pace, sigma, cfg)
                    hw_new = cs[c]
                else:
                    tr = transition(st[b + L.H_S], st[b + L.H_HWM], cs[c], dth, pace, sigma, cfg)
                    hw_new = max(st[b + L.H_HWM], cs[c])
                v = st[b + L.H_SCORE] + tr + e
                if v > sc:
                    sc = v
                    bt = tr
                    hw = hw_new
        nhwm[m] = hw
        ns[m] = cs[c]
        nsc[m] = sc
        nt[m] = t
        best_trans[m] = bt
        m += 1
    coast_ok = False
    if nh > 0:
        cs_best = -np.inf
        cs_s = 0.0
        cs_t = 0.0
        cs_hw = 0.0
        for h in range(nh):
            b = L.HYP + h * L.HYP_FIELDS
            v = st[b + L.H_SCORE] + e_off
            if st[b + L.H_COAST] == 0.0:
                v -= cfg[L.C_P_LEAVE]
            if v > cs_best:
                cs_best = v
                cs_s = st[b + L.H_S]
                cs_t = st[b + L.H_T]
                cs_hw = st[b + L.H_HWM]
        nhwm[m] = cs_hw
        ns[m] = cs_s
        nsc[m] = cs_best
        nco[m] = 1.0
        nt[m] = cs_t
        best_trans[m] = 0.0
        m += 1
        coast_ok = True
    else:
        # not yet on the course: "waiting at the start" competes with every pass nearby,
        # so a runner warming up beside the finish of a loop is not put at its end
        nhwm[m] = 0.0
        ns[m] = 0.0
        nsc[m] = emission(cfg[L.C_E_OFF], sigma, nu)
        nco[m] = 1.0
        nt[m] = t
        best_trans[m] = 0.0
        m += 1

    st[L.N_FIX] += 1
    st[L.LAST_T] = t
    st[L.LAST_MOVE_T] = t
    st[L.LAST_X] = x
    st[L.LAST_Y] = y
    st[L.PATH_M] += step_m
    if not first and dt > 0:
        st[L.INTERVAL] = dt if st[L.INTERVAL] == 0 else 0.9 * st[L.INTERVAL] + 0.1 * dt
    if m == 0:
        # nothing near and no history: the runner has not reached the course yet
        st[L.MATCHED] = 0.0
        st[L.D_EST] = cfg[L.C_RADIUS]
        return ne

    if coast_ok:
        # the coast hypothesis follows the runner's projection on the course when there is
        # one within reach: a runner on a path beside the line keeps making progress
        ci = m - 1
        ahead_m = reach_m(max(t - nt[ci], 1.0), pace, sigma, cfg)
        best_d = np.inf
        s0 = ns[ci]  # the window is around where the runner left, not the last pick
        for c in range(nc):
            if s0 - cfg[L.C_COAST_BACK_M] <= cs[c] <= s0 + ahead_m and cd[c] < best_d:
                best_d = cd[c]
                ns[ci] = cs[c]
        nhwm[ci] = max(nhwm[ci], ns[ci])

    # keep the best MAX_HYP, normalised so the best scores 0
    best = 0
    for q in range(1, m):
        if nsc[q] > nsc[best]:
            best = q
    top = nsc[best]
    order = wi[SCRATCH : SCRATCH + m]
    for q in range(m):  # insertion sort, best first: m is at most MAX_CAND + 1
        j = q
        while j > 0 and nsc[order[j - 1]] < nsc[q]:
            order[j] = order[j - 1]
            j -= 1
        order[j] = q
    kept = 0
    for q in order:
        if kept >= L.MAX_HYP or nsc[q] - top < -cfg[L.C_BEAM]:
            break
        # a worse hypothesis a few metres from a better one of the same kind adds nothing
        twin = False
        for j in range(kept):
            bj = L.HYP + j * L.HYP_FIELDS
            if st[bj + L.H_COAST] == nco[q] and abs(st[bj + L.H_S] - ns[q]) < cfg[L.C_MERGE_M]:
                twin = True
                break
        if twin:
            continue
        b = L.HYP + kept * L.HYP_FIELDS
        st[b + L.H_S] = ns[q]
        st[b + L.H_SCORE] = nsc[q] - top
        st[b + L.H_COAST] = nco[q]
        st[b + L.H_T] = nt[q]
        st[b + L.H_HWM] = nhwm[q]
        kept += 1
    st[L.N_HYP] = kept
    matched = nco[best] == 0.0
    s_new = ns[best]
    jumped = matched and best_trans[best] < -10.0 and nh > 0

    # offset from the course near the progress: the matched pass itself; when coasting, the
    # nearest pass the runner could have reached from where they left the line
    d_eff = np.inf
    s_det = s_new
    s_off = s_new  # where on the course d_eff is measured from
    if matched:
        # when another pass scores almost as well and lies nearer, the runner may well be
        # on it: ambiguity is no evidence of being lost
        d_eff = cd[best]
        for c in range(nc):
            if nsc[c] >= top - cfg[L.C_AMBIGUOUS] and cd[c] < d_eff:
                d_eff = cd[c]
                s_off = cs[c]
    else:
        ahead_m = reach_m(max(t - nt[best], 1.0), pace, sigma, cfg)
        for c in range(nc):
            if s_new - cfg[L.C_COAST_BACK_M] <= cs[c] <= s_new + ahead_m and cd[c] < d_eff:
                d_eff = cd[c]
                s_det = cs[c]
        # a pass on the line that scores almost as well as coasting may be where they are
        for c in range(nc):
            if nsc[c] >= top - cfg[L.C_AMBIGUOUS] and cd[c] < d_eff:
                d_eff = cd[c]
                s_det = cs[c]
        s_off = s_det
    if d_eff == np.inf:
        far_m = cfg[L.C_VMAX] * max(dt, 1.0) + OFF_WINDOW_M
        d_eff = offset_between(x, y, s_new - OFF_WINDOW_M, s_new + far_m, x_v, y_v, cum)
    # and from the course the runner can have reached since they were on the line, once
    # clear of the whole line (alarmed too: 25-30 m from a part of the course they cannot have
    # reached is not back on course; nearer, a rejoin anywhere ends the alarm)
    rc = st[L.REACH : L.REACH + L.REACH_LEN]
    d_line = np.inf
    for c in range(nc):
        d_line = min(d_line, cd[c])
    if d_line >= cfg[L.C_REACH_MIN]:
        d_reach = reach_offset_m(rc, x, y, t, s_off, st[L.PATH_M], pace, sigma, cfg, x_v, y_v,
                                 cum)  # fmt: skip
        d_eff = max(d_eff, d_reach)
    if matched and d_eff < cfg[L.C_REACH_ON] and not jumped:
        reach_on_line(rc, t, st[L.PATH_M], s_new, cs, cd, nc, d_line, pace, sigma, cfg)
    st[L.S_EST] = s_new
    st[L.D_EST] = d_eff
    st[L.MATCHED] = 1.0 if matched else 0.0
    st[L.JUMP] = 1.0 if jumped else 0.0

    # pace along the course, learned while moving
    if matched and prev_matched and 0.0 < dt <= 1800.0 and not jumped:
        v_obs = (s_new - prev_s) / dt
        if 0.3 < v_obs < cfg[L.C_VMAX]:
            a = 1.0 - np.exp(-dt / 1800.0)
            st[L.PACE] = pace + a * (v_obs - pace)

    oc = st[L.OC : L.OC + L.OC_LEN]
    ww = st[L.WW : L.WW + L.WW_LEN]
    if matched and s_new >= cum[-1] - cfg[L.C_FINISH_M] and st[L.PATH_M] > 0.5 * cum[-1]:
        st[L.FINISHED] = 1.0
    if st[L.FINISHED] == 1.0:
        # past the finish line nothing is a wrong turn any more
        return ne
    if first or (nh == 0):
        offcourse_reset(oc, t, s_det, x, y)
    if jumped and oc[OC_STATE] == 0.0 and s_new > prev_s:
        # the line was rejoined further along than anyone could have run: a cut
        row = ev[ne]
        write_event(row, L.CODE_SHORTCUT, (t, s_new, x, y), (oc[2], oc[3], oc[4], oc[5]), d_eff)
        row[L.EV_PATH] = oc[8]
        ne += 1
        offcourse_reset(oc, t, s_new, x, y)
        wrongway_restart(ww, t, s_new, x, y)
        reach_restart(rc)
        reach_on_line(rc, t, st[L.PATH_M], s_new, cs, cd, nc, d_line, pace, sigma, cfg)
        return ne
    at_station = False
    sx, sy = geo[15], geo[16]
    zone2 = cfg[L.C_STATION_ZONE_M] ** 2
    for k in range(len(sx)):
        if (x - sx[k]) ** 2 + (y - sy[k]) ** 2 < zone2:
            at_station = True
            break
    # a receiver that reports no accuracy gets one estimated from its jitter across the line
    nz = st[L.NOISE : L.NOISE + L.NOISE_LEN]
    near = matched and d_eff < cfg[L.C_NOISE_NEAR_M] and not at_station
    d_signed = _signed_offset(x, y, cseg[best], x_v, y_v) if near else 0.0
    noise_step(nz, t, d_signed, near, cfg[L.C_NOISE_PRIOR], cfg[L.C_NOISE_TAU],
               cfg[L.C_NOISE_LEARN])  # fmt: skip
    code = offcourse_step(oc, t, dt, step_m, x, y, d_eff, s_det, acc, nz[NOISE_EST], at_station,
                          cum[-1], cfg, ev[ne])  # fmt: skip
    if code != 0:
        ne += 1
        if code != L.CODE_OFF_COURSE:
            reach_restart(rc)
            reach_on_line(rc, t, st[L.PATH_M], s_new, cs, cd, nc, d_line, pace, sigma, cfg)
        if code != L.CODE_OFF_COURSE and ww[0] == 0.0:
            # back on the line: progress is measured afresh from here, unless the runner
            # was already going the wrong way (one alarm per episode, not one per rejoin);
            # a runner back from being lost who heads the wrong way is caught sooner
            row = ev[ne - 1]
            wrongway_restart(ww, row[L.EV_T], row[L.EV_S], row[L.EV_X], row[L.EV_Y])
            wrongway_rejoined(ww, row[L.EV_T])
    # runners mill about aid stations: direction there says nothing
    on_line = matched and oc[OC_STATE] == 0.0 and d_eff < cfg[L.C_OC_D_CLEAR] and not at_station
    # progress matched back further than the runner moved, from one match on the line to the
    # next: a correction of the pass, not running
    rematch = matched and prev_matched and not at_station
    if rematch and prev_s - s_new > 2.0 * step_m + cfg[L.C_WW_REJOIN_M] / 3.0:
        wrongway_rematched(ww, t, s_new, x, y)
    code = wrongway_step(ww, t, x, y, s_new, on_line, cfg, ev[ne])
    if code != 0:
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
    geo: tuple,  # type: ignore[type-arg]
    cfg: FloatArray,
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
        ne = step_fix(st, geo, cfg, t[i], lat[i], lon[i], acc[i], ev, ne)
        for k in range(before, ne):
            ev[k, L.EV_FIX] = i
        out[i, 0] = st[L.S_EST]
        out[i, 1] = st[L.D_EST]
        out[i, 2] = st[L.MATCHED]
        out[i, 3] = st[L.OC]
        if ne + 4 > ev.shape[0]:
            return ne, i + 1
    return ne, len(t)
