"""The part of the course a runner can have reached since they were last on the line.

A wrong trail often passes near another part of the course: a switchback below, the other
side of a loop, the way out on the way back. Measured from the whole line, such a runner looks
on course until they are 60 m from *every* part of it, and the filter may match them to that
other part for a while (rejoining behind costs it little: people do go back to the last
marker). But to be on that part of the course they would have had to run there along it. So,
once a runner is ``reach_min_m`` from the whole line, their offset is also measured from the
course they can have reached: from each *anchor* (a place on the course where they were last
seen on the line), back and forward by the distance they have run since (forward at least as
far as anyone could run in the time, for sparse fixes that cut corners), plus a slack. The
kernel gives the off-course detector the larger of the two offsets.

Nearer the line than ``reach_min_m`` the whole line decides: a real runner there, near another
part of the course, is as likely on an older version of the course or down a cut switchback
(the detection harness's recordings have both) as on a wrong trail.

Where the course passes a place more than once, or the filter wavers between passes, every
pass through the place is an anchor; an anchor that the runner's next place on the line does
not continue is kept until it is ``reach_expire_m`` of running old, so a filter that switches
to the wrong pass for a fix never leaves the runner with only that one.

A state machine over the runner's slice of the state vector, like the detectors: the kernel
calls :func:`offset_m` on every fix, :func:`on_line` when the runner is clearly on the line, and
:func:`restart` then :func:`on_line` where they come back from off course.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from coursewatch.engine.config import C, KernelCfg
from coursewatch.engine.grid import offset_between
from coursewatch.geo import FloatArray

# fields of the slice: the count, then MAX_ANCHORS anchors of A_FIELDS each
N = 0
ANCHOR = 1
A_S = 0  # course distance of the anchor, m
A_PATH = 1  # the runner's distance travelled (PATH_M) when they were there, m
A_T = 2  # the time they were there, s
A_FIELDS = 3
MAX_ANCHORS = 8
LEN = ANCHOR + MAX_ANCHORS * A_FIELDS
SAME_M = 10.0  # passes of one fix closer than this along the course are one place


@nb.njit(cache=True, inline="always")
def reach_m(dt: float, pace: float, sigma: float, cfg: KernelCfg) -> float:
    """The furthest along the course a runner can get in ``dt`` seconds.

    Fast for a couple of minutes (a downhill sprint), then no more than a sustained pace: a
    runner unseen for 45 minutes at an aid station hub is not 11 km further on.
    """
    burst = min(dt, cfg[C.burst_s])
    sustained = max(cfg[C.vsus_mps], 2.5 * pace)
    return cfg[C.vmax_mps] * burst + sustained * max(dt - burst, 0.0) + 2.0 * sigma + 20.0


@nb.njit(cache=True, inline="always")
def _window(
    rc: FloatArray, a: int, t: float, path_m: float, pace: float, sigma: float, cfg: KernelCfg
) -> tuple[float, float]:
    """Course distances (low, high) reachable from anchor ``a`` now."""
    b = ANCHOR + a * A_FIELDS
    run = path_m - rc[b + A_PATH]
    slack = cfg[C.reach_slack_m]
    fwd = max(run, reach_m(t - rc[b + A_T], pace, sigma, cfg))
    return rc[b + A_S] - run - slack, rc[b + A_S] + fwd + slack


@nb.njit(cache=True)
def offset_m(
    rc: FloatArray,
    x: float,
    y: float,
    t: float,
    s: float,
    path_m: float,
    pace: float,
    sigma: float,
    cfg: KernelCfg,
    x_v: FloatArray,
    y_v: FloatArray,
    cum: FloatArray,
) -> float:
    """Offset of (x, y) from the course the runner can have reached; 0 when the place ``s``
    the offset was measured from is reachable (or the runner was never on the line)."""
    n = int(rc[N])
    if n == 0:
        return 0.0
    for a in range(n):  # windows are a few flops: the common case returns here
        lo, hi = _window(rc, a, t, path_m, pace, sigma, cfg)
        if lo <= s <= hi:
            return 0.0
    best = np.inf
    for a in range(n):
        lo, hi = _window(rc, a, t, path_m, pace, sigma, cfg)
        best = min(best, offset_between(x, y, lo, hi, x_v, y_v, cum))
    return best


@nb.njit(cache=True)
def on_line(
    rc: FloatArray,
    t: float,
    path_m: float,
    s_best: float,
    cs: FloatArray,
    cd: FloatArray,
    nc: int,
    d_min: float,
    pace: float,
    sigma: float,
    cfg: KernelCfg,
) -> None:
    """The runner is clearly on the line here: where the filter puts them (``s_best``) and
    every pass through this place nearly as near as the nearest (``cs``, ``cd``: the passes'
    course distances and offsets, ``d_min`` the nearest offset) become anchors. Old anchors
    that one of them continues go; the others stay until ``reach_expire_m`` old.
    """
    near = d_min + cfg[C.reach_near_m]
    kept = 0
    for a in range(int(rc[N])):
        b = ANCHOR + a * A_FIELDS
        if path_m - rc[b + A_PATH] > cfg[C.reach_expire_m]:
            continue
        lo, hi = _window(rc, a, t, path_m, pace, sigma, cfg)
        continued = lo <= s_best <= hi
        for c in range(nc):
            if cd[c] < near and lo <= cs[c] <= hi:
                continued = True
        if continued:
            continue
        k = ANCHOR + kept * A_FIELDS  # kept <= a: compacting in place is safe
        rc[k + A_S] = rc[b + A_S]
        rc[k + A_PATH] = rc[b + A_PATH]
        rc[k + A_T] = rc[b + A_T]
        kept += 1
    rc[N] = _here(rc, kept, t, path_m, s_best, cs, cd, nc, near)


@nb.njit(cache=True, inline="always")
def restart(rc: FloatArray) -> None:
    """Back from off course (or a cut): forget every place; the next :func:`on_line` (at the
    rejoin) is then the only one."""
    rc[N] = 0.0


@nb.njit(cache=True, inline="always")
def _here(
    rc: FloatArray,
    n_old: int,
    t: float,
    path_m: float,
    s_best: float,
    cs: FloatArray,
    cd: FloatArray,
    nc: int,
    near: float,
) -> int:
    """Add the anchors of this place after the ``n_old`` kept ones: the filter's pick first,
    then the passes nearer than ``near``. When full, the oldest kept one makes room; once
    none is left, further passes are left out. Returns the new count."""
    n, n_old = _add(rc, n_old, n_old, s_best, t, path_m)
    for c in range(nc):
        if cd[c] < near:
            n, n_old = _add(rc, n, n_old, cs[c], t, path_m)
    return n


@nb.njit(cache=True, inline="always")
def _add(rc: FloatArray, n: int, n_old: int, s: float, t: float, path_m: float) -> tuple[int, int]:
    """Add an anchor at ``s`` after the ``n`` in use, unless one of this place (those from
    ``n_old`` on) is the same. Returns the new (count, count of older anchors)."""
    for a in range(n_old, n):
        if abs(rc[ANCHOR + a * A_FIELDS + A_S] - s) <= SAME_M:
            return n, n_old
    if n == MAX_ANCHORS:
        if n_old == 0:
            return n, n_old
        oldest = 0
        for a in range(1, n_old):
            if rc[ANCHOR + a * A_FIELDS + A_T] < rc[ANCHOR + oldest * A_FIELDS + A_T]:
                oldest = a
        # close the gap, so the older anchors stay first and this place's last
        for i in range(ANCHOR + oldest * A_FIELDS, ANCHOR + (n - 1) * A_FIELDS):
            rc[i] = rc[i + A_FIELDS]
        n -= 1
        n_old -= 1
    b = ANCHOR + n * A_FIELDS
    rc[b + A_S] = s
    rc[b + A_PATH] = path_m
    rc[b + A_T] = t
    return n + 1, n_old
