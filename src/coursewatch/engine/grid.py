"""A uniform grid over the course's segments, and the numba kernels that query it.

Every question the engine asks of the geometry — which segments lie near this fix, where on
them — goes through :class:`SegmentGrid`. The grid is a CSR table: ``cell_start[c]`` to
``cell_start[c + 1]`` index into ``cell_segs``, the segments whose bounding box touches cell
``c``. Queries scan only the cells that a disc of the query radius covers.
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np
import numpy.typing as npt

from coursewatch.geo import FloatArray

IntArray = npt.NDArray[np.int64]

MAX_CELLS = 6_000_000


def new_stamp(n_segments: int) -> IntArray:
    """A fresh ``stamp`` array for :func:`segments_within` on a polyline of n segments."""
    return np.zeros(n_segments + 1, dtype=np.int64)


class SegmentGrid(NamedTuple):
    """The segments of a polyline (vertices ``x``, ``y``) bucketed by cell; numba reads it as
    it is (a named tuple)."""

    x0: float
    y0: float
    cell_m: float
    nx: int
    ny: int
    cell_start: IntArray
    cell_segs: IntArray

    @classmethod
    def build(cls, x: FloatArray, y: FloatArray, cell_m: float = 150.0) -> SegmentGrid:
        margin = 2 * cell_m
        x0 = float(x.min()) - margin
        y0 = float(y.min()) - margin
        width = float(x.max()) - x0 + margin
        height = float(y.max()) - y0 + margin
        while (width / cell_m + 1) * (height / cell_m + 1) > MAX_CELLS:
            cell_m *= 1.5
        nx = int(width // cell_m) + 1
        ny = int(height // cell_m) + 1
        start, segs = _build_csr(x, y, x0, y0, cell_m, nx, ny)
        return cls(x0, y0, cell_m, nx, ny, start, segs)


@nb.njit(cache=True)
def _build_csr(
    x: FloatArray, y: FloatArray, x0: float, y0: float, cell: float, nx: int, ny: int
) -> tuple[IntArray, IntArray]:
    nseg = len(x) - 1
    counts = np.zeros(nx * ny + 1, dtype=np.int64)
    for pass_no in range(2):
        if pass_no == 1:
            total = 0
            for c in range(nx * ny):
                n = counts[c]
                counts[c] = total
                total += n
            counts[nx * ny] = total
            segs = np.empty(total, dtype=np.int64)
            fill = counts.copy()
        for i in range(nseg):
            ix0 = int((min(x[i], x[i + 1]) - x0) // cell)
            ix1 = int((max(x[i], x[i + 1]) - x0) // cell)
            iy0 = int((min(y[i], y[i + 1]) - y0) // cell)
            iy1 = int((max(y[i], y[i + 1]) - y0) // cell)
            for iy in range(iy0, iy1 + 1):
                for ix in range(ix0, ix1 + 1):
                    c = iy * nx + ix
                    if pass_no == 0:
                        counts[c] += 1
                    elif _seg_touches_cell(x, y, i, x0 + ix * cell, y0 + iy * cell, cell):
                        segs[fill[c]] = i
                        fill[c] += 1
    # Compact: cells may hold fewer segments than their bounding boxes suggested.
    out_start = np.zeros(nx * ny + 1, dtype=np.int64)
    out = np.empty(len(segs), dtype=np.int64)
    k = 0
    for c in range(nx * ny):
        out_start[c] = k
        for j in range(counts[c], fill[c]):
            out[k] = segs[j]
            k += 1
    out_start[nx * ny] = k
    return out_start, out[:k].copy()


@nb.njit(cache=True)
def _seg_touches_cell(
    x: FloatArray, y: FloatArray, i: int, cx: float, cy: float, cell: float
) -> bool:
    # Distance from the cell centre to the segment, against the cell's half-diagonal.
    px = cx + cell / 2
    py = cy + cell / 2
    _, d2 = project_on_segment(px, py, x[i], y[i], x[i + 1], y[i + 1])
    return d2 <= 0.5 * cell * cell + 1e-6


@nb.njit(cache=True, inline="always")
def project_on_segment(
    px: float, py: float, ax: float, ay: float, bx: float, by: float
) -> tuple[float, float]:
    """Return (t, squared distance) of point p projected on segment a-b, t in [0, 1]."""
    dx = bx - ax
    dy = by - ay
    den = dx * dx + dy * dy
    t = 0.0
    if den > 0.0:
        t = ((px - ax) * dx + (py - ay) * dy) / den
        if t < 0.0:
            t = 0.0
        elif t > 1.0:
            t = 1.0
    qx = ax + t * dx - px
    qy = ay + t * dy - py
    return t, qx * qx + qy * qy


@nb.njit(cache=True)
def segments_within(
    px: float,
    py: float,
    radius: float,
    x: FloatArray,
    y: FloatArray,
    grid: SegmentGrid,
    out_seg: IntArray,
    out_t: FloatArray,
    out_d: FloatArray,
    stamp: IntArray,
) -> int:
    """Write the segments within ``radius`` of p (sorted by index) to the out arrays.

    Returns how many were found (at most ``len(out_seg)``; the nearest are kept when more).
    ``stamp`` (one slot per segment plus a counter at the end, zeros to start) remembers
    which segments this query has seen: a segment listed in several cells counts once.
    """
    x0, y0, cell, nx, ny = grid.x0, grid.y0, grid.cell_m, grid.nx, grid.ny
    cell_start, cell_segs = grid.cell_start, grid.cell_segs
    qid = stamp[-1] + 1
    stamp[-1] = qid
    ix0 = max(int((px - radius - x0) // cell), 0)
    ix1 = min(int((px + radius - x0) // cell), nx - 1)
    iy0 = max(int((py - radius - y0) // cell), 0)
    iy1 = min(int((py + radius - y0) // cell), ny - 1)
    cap = len(out_seg)
    n = 0
    r2 = radius * radius
    for iy in range(iy0, iy1 + 1):
        for ix in range(ix0, ix1 + 1):
            c = iy * nx + ix
            for k in range(cell_start[c], cell_start[c + 1]):
                s = cell_segs[k]
                if stamp[s] == qid:
                    continue
                stamp[s] = qid
                t, d2 = project_on_segment(px, py, x[s], y[s], x[s + 1], y[s + 1])
                if d2 > r2:
                    continue
                if n < cap:
                    out_seg[n] = s
                    out_t[n] = t
                    out_d[n] = np.sqrt(d2)
                    n += 1
                else:
                    worst = 0
                    for j in range(1, n):
                        if out_d[j] > out_d[worst]:
                            worst = j
                    if np.sqrt(d2) < out_d[worst]:
                        out_seg[worst] = s
                        out_t[worst] = t
                        out_d[worst] = np.sqrt(d2)
    # insertion sort by segment index: passes are runs of neighbouring segments
    for i in range(1, n):
        s = out_seg[i]
        t = out_t[i]
        d = out_d[i]
        j = i - 1
        while j >= 0 and out_seg[j] > s:
            out_seg[j + 1] = out_seg[j]
            out_t[j + 1] = out_t[j]
            out_d[j + 1] = out_d[j]
            j -= 1
        out_seg[j + 1] = s
        out_t[j + 1] = t
        out_d[j + 1] = d
    return n


@nb.njit(cache=True)
def offset_between(
    x: float, y: float, s_lo: float, s_hi: float, x_v: FloatArray, y_v: FloatArray, cum: FloatArray
) -> float:
    """Distance from (x, y) to the course between course distances ``s_lo`` and ``s_hi``
    (``cum``: course distance at each vertex); every segment in between, no index."""
    return nearest_between(x, y, s_lo, s_hi, x_v, y_v, cum)[0]


@nb.njit(cache=True)
def nearest_between(
    x: float, y: float, s_lo: float, s_hi: float, x_v: FloatArray, y_v: FloatArray, cum: FloatArray
) -> tuple[float, float]:
    """(distance, course distance) of the nearest point of the course between ``s_lo`` and
    ``s_hi`` to (x, y); (inf, s_lo) when there is none."""
    lo = max(int(np.searchsorted(cum, s_lo)) - 1, 0)
    hi = min(int(np.searchsorted(cum, s_hi)) + 1, len(cum) - 1)
    best, at = np.inf, s_lo
    for i in range(lo, hi):
        t, d2 = project_on_segment(x, y, x_v[i], y_v[i], x_v[i + 1], y_v[i + 1])
        if d2 < best:
            best, at = d2, cum[i] + t * (cum[i + 1] - cum[i])
    return np.sqrt(best), at


ALIKE_M = 1.0  # parts of the course this much as near a fix are alike (the same trail)


@nb.njit(cache=True)
def nearest_between_from(
    x: float, y: float, s_lo: float, s_hi: float, x_v: FloatArray, y_v: FloatArray,
    cum: FloatArray, s_ref: float,
) -> tuple[float, float]:  # fmt: skip
    """:func:`nearest_between`, and of the other passes as near (within ``ALIKE_M``, and
    further along the course than the way to them and back: not the same stretch, but a
    loop's other lap, an out-and-back's other leg), the one nearest ``s_ref`` along it."""
    d, at = nearest_between(x, y, s_lo, s_hi, x_v, y_v, cum)
    if d == np.inf:
        return d, at
    lo = max(int(np.searchsorted(cum, s_lo)) - 1, 0)
    hi = min(int(np.searchsorted(cum, s_hi)) + 1, len(cum) - 1)
    first, gap = at, abs(at - s_ref)
    for i in range(lo, hi):
        t, d2 = project_on_segment(x, y, x_v[i], y_v[i], x_v[i + 1], y_v[i + 1])
        s = cum[i] + t * (cum[i + 1] - cum[i])
        other = abs(s - first) > 2.0 * d + 100.0
        if other and np.sqrt(d2) <= d + ALIKE_M and abs(s - s_ref) < gap:
            gap, at = abs(s - s_ref), s
    return d, at


MEMO_CAP = 96  # segments a memo holds at most (as many as a query returns)
MEMO_MARGIN_M = 40.0  # a query this close to the memo's point is answered from it


def new_memo() -> tuple[IntArray, FloatArray]:
    """Fresh memo arrays for :func:`segments_near`: (count, segments...), (x, y, radius, ok)."""
    return np.zeros(MEMO_CAP + 1, dtype=np.int64), np.zeros(4)


@nb.njit(cache=True)
def segments_near(
    px: float,
    py: float,
    radius: float,
    x: FloatArray,
    y: FloatArray,
    grid: SegmentGrid,
    out_seg: IntArray,
    out_t: FloatArray,
    out_d: FloatArray,
    stamp: IntArray,
    memo_i: IntArray,
    memo_f: FloatArray,
) -> int:
    """:func:`segments_within`, the same answer, for queries that follow a runner.

    A runner moves a few metres between fixes, so the memo keeps every segment within
    ``radius + MEMO_MARGIN_M`` of the last point it was filled at; a query within the margin
    of that point only projects those (every segment within ``radius`` of it is among them)
    instead of walking the grid cells.
    """
    r2 = radius * radius
    dx = px - memo_f[0]
    dy = py - memo_f[1]
    if memo_f[3] == 1.0 and memo_f[2] == radius and dx * dx + dy * dy <= MEMO_MARGIN_M**2:
        n = 0
        for k in range(memo_i[0]):
            s = memo_i[1 + k]
            t, d2 = project_on_segment(px, py, x[s], y[s], x[s + 1], y[s + 1])
            if d2 <= r2:
                out_seg[n] = s
                out_t[n] = t
                out_d[n] = np.sqrt(d2)
                n += 1
        return n
    wide = radius + MEMO_MARGIN_M
    n = segments_within(px, py, wide, x, y, grid, out_seg, out_t, out_d, stamp)
    if n >= len(out_seg) or n > MEMO_CAP:  # maybe cut short: no memo, the exact query
        memo_f[3] = 0.0
        return segments_within(px, py, radius, x, y, grid, out_seg, out_t, out_d, stamp)
    memo_i[0] = n
    for k in range(n):  # a loop, not a slice copy: the kernel runs without numba's runtime
        memo_i[1 + k] = out_seg[k]
    memo_f[0] = px
    memo_f[1] = py
    memo_f[2] = radius
    memo_f[3] = 1.0
    m = 0
    for k in range(n):
        if out_d[k] * out_d[k] <= r2:
            out_seg[m] = out_seg[k]
            out_t[m] = out_t[k]
            out_d[m] = out_d[k]
            m += 1
    return m


@nb.njit(cache=True)
def nearest_distance(
    px: float,
    py: float,
    max_r: float,
    x: FloatArray,
    y: FloatArray,
    grid: SegmentGrid,
) -> tuple[int, float, float]:
    """(segment, t, distance) of the nearest segment within ``max_r``; (-1, 0, inf) if none.

    Searches rings of cells outwards and stops as soon as no nearer segment can exist.
    """
    x0, y0, cell, nx, ny = grid.x0, grid.y0, grid.cell_m, grid.nx, grid.ny
    cell_start, cell_segs = grid.cell_start, grid.cell_segs
    gx = int((px - x0) // cell)
    gy = int((py - y0) // cell)
    best = -1
    best_t = 0.0
    best_d2 = np.inf
    max_ring = int(max_r // cell) + 1
    for ring in range(max_ring + 1):
        if best >= 0:
            reach = (ring - 1) * cell
            if reach > 0 and reach * reach > best_d2:
                break
        for iy in range(gy - ring, gy + ring + 1):
            if iy < 0 or iy >= ny:
                continue
            edge_row = iy == gy - ring or iy == gy + ring
            step = 1 if edge_row else 2 * ring
            if step == 0:
                step = 1
            ix = gx - ring
            while ix <= gx + ring:
                if 0 <= ix < nx:
                    c = iy * nx + ix
                    for k in range(cell_start[c], cell_start[c + 1]):
                        s = cell_segs[k]
                        t, d2 = project_on_segment(px, py, x[s], y[s], x[s + 1], y[s + 1])
                        if d2 < best_d2:
                            best_d2 = d2
                            best = s
                            best_t = t
                ix += step
    if best < 0 or best_d2 > max_r * max_r:
        return -1, 0.0, np.inf
    return best, best_t, np.sqrt(best_d2)


@nb.njit(cache=True)
def nearest_distances(
    px: FloatArray,
    py: FloatArray,
    max_r: float,
    x: FloatArray,
    y: FloatArray,
    grid: SegmentGrid,
) -> FloatArray:
    """Distance from each point to the polyline (inf beyond ``max_r``)."""
    out = np.empty(len(px))
    for i in range(len(px)):
        _, _, d = nearest_distance(px[i], py[i], max_r, x, y, grid)
        out[i] = d
    return out
