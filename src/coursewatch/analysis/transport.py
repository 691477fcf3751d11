"""Stretches no runner covers on foot: a car, a shuttle, a bike, read from the fixes' speed.

A trail runner, even downhill, does not hold 29 km/h (8 m/s) for ten minutes; a vehicle does.
Within an excursion, such a stretch means the course it skipped was not run: the distance the
vehicle moved is not the runner's, and the course between where they left it and where they
came back, less what they ran, was cut. Measured two ways, either enough:

* over windows of at least ``WINDOW_S``, by straight line (pings minutes apart), so a GPS fix
  thrown far for a moment (there and back) is no journey;
* along the way, for a road that winds or goes round a valley (out, along and back to the
  course: no straight line between two fixes ten minutes apart is fast): steps at least
  ``STEP_MIN_S`` apart (a 1 s fix's noise is no speed), each faster than ``STEP_MPS``, on
  and on for ``RIDE_MIN_S`` at ``TRANSPORT_MPS`` on average, three steps at least (a fix
  thrown away and back makes two).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from coursewatch.geo import FloatArray, haversine_m
from coursewatch.track import Track

TRANSPORT_MPS = 8.0  # over WINDOW_S: no runner; any vehicle
WINDOW_S = 600.0
WINDOW_MAX_S = 1800.0  # a longer gap between fixes says nothing of how they went
STEP_MPS = 5.0  # in a journey, a step between fixes faster than this is the vehicle's
STEP_MIN_S = 60.0  # a ride measured along its way: steps between fixes this far apart at least
RIDE_MIN_S = 300.0  # ... for this long at TRANSPORT_MPS on average (5 km at world-record pace
# is 2.6 min/km, 6.4 m/s)


class Journey(NamedTuple):
    """A stretch run by no runner: from fix ``k0`` to fix ``k1`` (the first and the last of
    its windows faster than a runner), at ``speed_mps`` over its fastest window."""

    k0: int
    k1: int
    speed_mps: float


def journey(track: Track, k0: int, k1: int) -> Journey | None:
    """The journey within fixes ``k0``..``k1``: its windows faster than a runner, from the
    first to the last of them; None when there is none, or when they all begin or end at one
    fix (one fix thrown kilometres away makes the windows it ends and begins fast)."""
    found = journey_of(track.time_s[k0 : k1 + 1], track.lat[k0 : k1 + 1], track.lon[k0 : k1 + 1])
    return None if found is None else Journey(k0 + found.k0, k0 + found.k1, found.speed_mps)


def journey_of(t: FloatArray, lat: FloatArray, lon: FloatArray) -> Journey | None:
    """:func:`journey` of fixes given as arrays (times, positions): indexes into them."""
    if len(t) < 2:
        return None
    found = [j for j in (_straight(t, lat, lon), _along(t, lat, lon)) if j is not None]
    if not found:
        return None
    return Journey(min(j.k0 for j in found), max(j.k1 for j in found),
                   max(j.speed_mps for j in found))  # fmt: skip


def _straight(t: FloatArray, lat: FloatArray, lon: FloatArray) -> Journey | None:
    """The windows of at least ``WINDOW_S`` whose ends are further apart than a runner goes."""
    ends = np.searchsorted(t, t + WINDOW_S)
    starts = np.flatnonzero(ends < len(t))
    if not len(starts):
        return None
    ends = ends[starts]
    dt = t[ends] - t[starts]
    d = haversine_m(lat[starts], lon[starts], lat[ends], lon[ends])
    speed = np.where(dt <= WINDOW_MAX_S, d / np.maximum(dt, 1.0), 0.0)
    fast = np.flatnonzero(speed > TRANSPORT_MPS)
    if not len(fast):
        return None
    shared = set.intersection(*({int(starts[i]), int(ends[i])} for i in fast))
    if shared:  # every fast window begins or ends at one fix: that fix is wrong, not a ride
        return None
    return Journey(int(starts[fast[0]]), int(ends[fast[-1]]), float(speed[fast].max()))


def _along(t: FloatArray, lat: FloatArray, lon: FloatArray) -> Journey | None:
    """The runs of steps (``STEP_MIN_S`` apart at least) each faster than ``STEP_MPS``, three
    or more, lasting ``RIDE_MIN_S`` at ``TRANSPORT_MPS`` on average: from the first to the
    last."""
    keep = [0]
    while (i := int(np.searchsorted(t, t[keep[-1]] + STEP_MIN_S))) < len(t):
        keep.append(i)
    k = np.array(keep)
    dt, d = np.diff(t[k]), haversine_m(lat[k[:-1]], lon[k[:-1]], lat[k[1:]], lon[k[1:]])
    fast = np.concatenate([[0], ((d > STEP_MPS * dt) & (dt <= WINDOW_MAX_S)).astype(int), [0]])
    first, end = np.flatnonzero(np.diff(fast) == 1), np.flatnonzero(np.diff(fast) == -1)
    runs = []  # (first fix, last fix, speed) of each run of fast steps long enough
    for i, j in zip(first.tolist(), end.tolist(), strict=True):  # steps i..j-1
        span_s = float(t[k[j]] - t[k[i]])
        speed = float(d[i:j].sum()) / span_s
        if j - i >= 3 and span_s >= RIDE_MIN_S and speed > TRANSPORT_MPS:
            runs.append((int(k[i]), int(k[j]), speed))
    if not runs:
        return None
    return Journey(runs[0][0], runs[-1][1], max(r[2] for r in runs))


def on_foot_m(track: Track, path: FloatArray, k0: int, k1: int) -> float:
    """The distance of fixes ``k0``..``k1`` that the runner went on foot: every step between
    fixes slower than ``STEP_MPS``."""
    steps = np.diff(path[k0 : k1 + 1])
    dt = np.diff(track.time_s[k0 : k1 + 1])
    return float(steps[steps <= STEP_MPS * np.maximum(dt, 1e-9)].sum())


def on_foot_of(t: FloatArray, lat: FloatArray, lon: FloatArray) -> float:
    """:func:`on_foot_m` of fixes given as arrays: the straight steps between them slower
    than ``STEP_MPS``."""
    steps = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
    return float(steps[steps <= STEP_MPS * np.maximum(np.diff(t), 1e-9)].sum())
