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
larger of the two offsets goes to the off-course detector.

Nearer the line than ``reach_min_m`` the whole line decides: a real runner there, near another
part of the course, is as likely on an older version of the course or down a cut switchback
(the detection harness's recordings have both) as on a wrong trail.

Where the course passes a place more than once, or the filter wavers between passes, every
pass through the place is an anchor; an anchor that the runner's next place on the line does
not continue is kept until it is ``reach_expire_m`` of running old, so a filter that switches
to the wrong pass for a fix never leaves the runner with only that one.

Pure functions over the runner's state slice, called by the kernel once a fix is matched.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from coursewatch.engine import layout as L
from coursewatch.engine.grid import project_on_segment
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


@nb.njit(cache=True, inline="always")
def reach_m(dt: float, pace: float, sigma: float, cfg: FloatArray) -> float:
    """The furthest along the course a runner can get in ``dt`` seconds.

    Fast for a couple of minutes (a downhill sprint), then no more than a sustained pace: a
    runner unseen for 45 minutes at an aid station hub is not 11 km further on.
    """
    burst = min(dt, cfg[L.C_BURST_S])
    sustained = max(cfg[L.C_VSUS], 2.5 * pace)
    return cfg[L.C_VMAX] * burst + sustained * max(dt - burst, 0.0) + 2.0 * sigma + 20.0


@nb.njit(cache=True, inline="always")
def _window(
    rc: FloatArray, a: int, t: float, path_m: float, pace: float, sigma: float, cfg: FloatArray
) -> tuple[float, float]:
    """Course distances (low, high) reachable from anchor ``a`` now."""
    b = ANCHOR + a * A_FIELDS
    run = path_m - rc[b + A_PATH]
    slack = cfg[L.C_REACH_SLACK]
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
    cfg: FloatArray,
    x_v: FloatArray,
    y_v: FloatArray,
    cum: FloatArray,
) -> float:
    """Offset of (x, y) from the course the runner can have reached; 0 when the place ``s``
    the offset was measured from is reachable (or the runner was never on the line)."""
    n = int(rc[N])
    for a in range(n):
        lo, hi = _window(rc, a, t, path_m, pace, sigma, cfg)
        if lo <= s <= hi:
            return 0.0
    best = np.inf
    for a in range(n):
        lo, hi = _window(rc, a, t, path_m, pace, sigma, cfg)
        best = min(best, offset_between(x, y, lo, hi, x_v, y_v, cum))
    return 0.0 if n == 0 else best


@nb.njit(cache=True, inline="always")
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
    cfg: FloatArray,
    fresh: bool,
) -> None:
    """The runner is on the line here: where the filter puts them (``s_best``) and every pass
    of the course through this place nearly as near as the nearest become anchors. Old
    anchors that one of them continues go; the others stay until ``expire`` metres old.
    ``cs``, ``cd``: the passes near the fix (course distance, offset), ``d_min`` the nearest
    offset. ``fresh``: forget the old anchors (back from off course: start again here).
    """
    near = d_min + cfg[L.C_REACH_NEAR]
    n = 0 if fresh else int(rc[N])
    kept = 0
    for a in range(n):
        b = ANCHOR + a * A_FIELDS
        if path_m - rc[b + A_PATH] > cfg[L.C_REACH_EXPIRE]:
            continue
        lo, hi = _window(rc, a, t, path_m, pace, sigma, cfg)
        continued = lo <= s_best <= hi
        for c in range(nc):
            if cd[c] < near and lo <= cs[c] <= hi:
                continued = True
        if continued:
            continue
        k = ANCHOR + kept * A_FIELDS
        rc[k + A_S] = rc[b + A_S]
        rc[k + A_PATH] = rc[b + A_PATH]
        rc[k + A_T] = rc[b + A_T]
        kept += 1
    kept = _add(rc, kept, s_best, t, path_m, cfg)
    for c in range(nc):
        if cd[c] < near:
            kept = _add(rc, kept, cs[c], t, path_m, cfg)
    rc[N] = kept


@nb.njit(cache=True, inline="always")
def _add(rc: FloatArray, n: int, s: float, t: float, path_m: float, cfg: FloatArray) -> int:
    """Add an anchor at ``s`` (unless a fresh one is within ``merge_m``); when full, the
    oldest goes. Returns the new count."""
    for a in range(n):
        b = ANCHOR + a * A_FIELDS
        if rc[b + A_T] == t and abs(rc[b + A_S] - s) <= cfg[L.C_MERGE_M]:
            return n
    if n == MAX_ANCHORS:
        oldest = 0
        for a in range(1, n):
            if rc[ANCHOR + a * A_FIELDS + A_T] < rc[ANCHOR + oldest * A_FIELDS + A_T]:
                oldest = a
        b = ANCHOR + oldest * A_FIELDS
    else:
        b = ANCHOR + n * A_FIELDS
        n += 1
    rc[b + A_S] = s
    rc[b + A_PATH] = path_m
    rc[b + A_T] = t
    return n


@nb.njit(cache=True)
def offset_between(
    x: float, y: float, s_lo: float, s_hi: float, x_v: FloatArray, y_v: FloatArray, cum: FloatArray
) -> float:
    """Distance from (x, y) to the course between course distances ``s_lo`` and ``s_hi``."""
    lo = max(int(np.searchsorted(cum, s_lo)) - 1, 0)
    hi = min(int(np.searchsorted(cum, s_hi)) + 1, len(cum) - 1)
    best = np.inf
    for i in range(lo, hi):
        _, d2 = project_on_segment(x, y, x_v[i], y_v[i], x_v[i + 1], y_v[i + 1])
        if d2 < best:
            best = d2
    return np.sqrt(best)
