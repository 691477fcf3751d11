"""Course: the official line, unrolled, with its stations and their passes.

A course is a polyline in a local metric frame together with ``cum_m``, the distance along it
at every vertex. Distance along the course is *the* coordinate of coursewatch: a runner's
progress, a station's pass, an excursion's start are all positions on the unrolled line, so
the two legs of an out-and-back or the eight laps of a loop are different places.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numba as nb
import numpy as np

from coursewatch.course_geometry import check_course_geometry
from coursewatch.engine.grid import SegmentGrid, new_stamp, segments_within
from coursewatch.errors import EmptyDataError
from coursewatch.geo import FloatArray, LocalFrame, cumulative_m, haversine_m
from coursewatch.points import RawPoints, Waypoint
from coursewatch.waypoints import one_per_place

FINISH_M = 100.0  # a runner whose progress comes this close to the end has finished ...
FINISH_MAX_M = 1000.0  # ... or further, for sparse pings (finish_tolerance_m), at most this
FINISH_STEPS = 30  # the typical step at the finish: from this many last fixes
PING_TOLERANCE_M = 450.0  # a finish tolerance this wide: steps of 300 m, pings minutes apart
FINISH_NAME = "Finish"
FINISH_NAMED_M = 200.0  # a station this close to the end of the line is the finish
LOOP_GAP_M = 250.0
LAP_RADIUS_M = 100.0  # a pass this near the start ...
LAP_MIN_M = 500.0  # ... this far from either end along the course begins a lap
OVERLAP_RADIUS_M = 30.0
OVERLAP_MIN_APART_M = 500.0
ELEVATION_HYSTERESIS_M = 5.0
PASS_MERGE_M = 500.0


@dataclass(frozen=True)
class Station:
    """A named place on the course and the course distance of every pass through it."""

    name: str
    lat: float
    lon: float
    passes_m: tuple[float, ...]


@dataclass(frozen=True, eq=False)
class Course:
    """An immutable course. Arrays are per vertex; consecutive duplicates are removed."""

    name: str | None
    lat: FloatArray
    lon: FloatArray
    ele_m: FloatArray | None
    frame: LocalFrame
    x: FloatArray
    y: FloatArray
    cum_m: FloatArray
    stations: tuple[Station, ...]
    source: str = ""

    @property
    def length_m(self) -> float:
        return float(self.cum_m[-1])

    @cached_property
    def grid(self) -> SegmentGrid:
        return SegmentGrid.build(self.x, self.y)

    @property
    def loop(self) -> bool:
        gap = float(np.hypot(self.x[-1] - self.x[0], self.y[-1] - self.y[0]))
        return gap <= max(LOOP_GAP_M, 0.002 * self.length_m)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(min_lon, min_lat, max_lon, max_lat)."""
        return (
            float(self.lon.min()),
            float(self.lat.min()),
            float(self.lon.max()),
            float(self.lat.max()),
        )

    @cached_property
    def lap_marks_m(self) -> tuple[float, ...]:
        """Where each lap after the first begins (the course passes its start again: a lap
        course drawn lap after lap, a cloverleaf of loops from one base); none: one lap."""
        starts = self.passes_near(float(self.lat[0]), float(self.lon[0]), LAP_RADIUS_M)
        return tuple(s for s in starts if LAP_MIN_M < s < self.length_m - LAP_MIN_M)

    @cached_property
    def ascent_descent_m(self) -> tuple[float, float] | None:
        if self.ele_m is None:
            return None
        return climb_m(self.ele_m)

    @cached_property
    def self_overlap(self) -> float:
        """Share of the course within 30 m of another part at least 500 m away along it."""
        step_m = 10.0
        s = np.arange(0.0, self.length_m, step_m)
        px, py = self.xy_at(s)
        flags = _overlap_flags(
            px, py, s, OVERLAP_RADIUS_M, OVERLAP_MIN_APART_M, self.x, self.y, self.cum_m, self.grid
        )
        return float(flags.mean()) if len(flags) else 0.0

    def xy_at(self, s_m: FloatArray | float) -> tuple[FloatArray, FloatArray]:
        """Local x, y of the points at course distance ``s_m``."""
        s = np.clip(np.asarray(s_m, dtype=np.float64), 0.0, self.length_m)
        return np.interp(s, self.cum_m, self.x), np.interp(s, self.cum_m, self.y)

    def latlon_at(self, s_m: FloatArray | float) -> tuple[FloatArray, FloatArray]:
        x, y = self.xy_at(s_m)
        return self.frame.to_latlon(x, y)

    def ele_at(self, s_m: FloatArray | float) -> FloatArray | None:
        if self.ele_m is None:
            return None
        return np.interp(np.asarray(s_m, dtype=np.float64), self.cum_m, self.ele_m)

    def passes_near(self, lat: float, lon: float, radius_m: float) -> tuple[float, ...]:
        """Course distance of every pass within ``radius_m`` of a point, in course order.

        A pass is a run of consecutive segments within the radius; its distance is that of
        the nearest point of the run.
        """
        (px,), (py,) = self.frame.to_xy([lat], [lon])
        g = self.grid
        cap = 8192
        seg = np.empty(cap, dtype=np.int64)
        t = np.empty(cap)
        d = np.empty(cap)
        n = segments_within(
            float(px), float(py), radius_m, self.x, self.y, g, seg, t, d,
            new_stamp(len(self.x) - 1),
        )  # fmt: skip
        runs: list[tuple[float, float]] = []  # (course distance, offset) of each run
        i = 0
        while i < n:
            j = i
            while j + 1 < n and seg[j + 1] == seg[j] + 1:
                j += 1
            k = i + int(np.argmin(d[i : j + 1]))
            s0 = self.cum_m[seg[k]]
            here = (float(s0 + t[k] * (self.cum_m[seg[k] + 1] - s0)), float(d[k]))
            # The line wiggling in and out of the radius is one visit, not several.
            if runs and here[0] - runs[-1][0] < PASS_MERGE_M:
                if here[1] < runs[-1][1]:
                    runs[-1] = here
            else:
                runs.append(here)
            i = j + 1
        return tuple(s for s, _ in runs)


def finish_tolerance_m(step_m: float) -> float:
    """How close to the end of the line counts as the finish, for fixes about ``step_m`` apart
    along the course: sparse pings rarely land on the line, and the last one before the arch
    can be a few hundred metres short.

    >>> finish_tolerance_m(3.0), finish_tolerance_m(400.0), finish_tolerance_m(5000.0)
    (100.0, 600.0, 1000.0)
    """
    return min(max(FINISH_M, 1.5 * step_m), FINISH_MAX_M)


def at_finish_point(
    course: Course, furthest_m: FloatArray, lat: FloatArray, lon: FloatArray, tolerance_m: float
) -> np.ndarray:
    """Which fixes are at the finish by where they are, though the line's progress lags:
    within ``tolerance_m`` of the end of the line, less than half as far from it as the
    furthest progress says, once that is within ``FINISH_MAX_M`` of the end. A loop's last
    ping, 113 m from the arch, is held a ping short (858 m) by the matcher. Only for pings
    minutes apart (``tolerance_m`` of ``PING_TOLERANCE_M`` or more): a tracker's every 30 or
    60 s is where the runner is, and a finish that winds into the arch is nearer by air
    than along it (read minutes early)."""
    if tolerance_m < PING_TOLERANCE_M:  # fixes a minute apart: the progress does not lag
        return np.zeros(len(lat), dtype=bool)
    end_lat, end_lon = float(course.lat[-1]), float(course.lon[-1])
    d = haversine_m(lat, lon, end_lat, end_lon)
    to_go = course.length_m - furthest_m
    return np.asarray((d <= tolerance_m) & (d < 0.5 * to_go) & (to_go <= FINISH_MAX_M))


def finish_step_m(furthest_m: Sequence[float] | FloatArray) -> float:
    """The typical step along the course of a runner's last fixes (``furthest_m``: the
    furthest progress so far at each), what :func:`finish_tolerance_m` is given: the median
    forward step of the last ``FINISH_STEPS``, live and after the race alike.

    >>> finish_step_m([100.0, 160.0, 160.0, 230.0, 300.0])
    70.0
    """
    steps = np.diff(np.asarray(furthest_m, dtype=np.float64)[-FINISH_STEPS:])
    return float(np.median(steps[steps > 0])) if np.any(steps > 0) else 0.0


def first_at_finish(
    course: Course,
    furthest_m: Sequence[float],
    times_s: Sequence[float],
    new_furthest_m: Sequence[float],
    lat: FloatArray,
    lon: FloatArray,
) -> float | None:
    """The time of the first of a run of new fixes (``times_s``, their furthest progress so
    far ``new_furthest_m``, positions) at the finish, found as `coursewatch analyze` finds it:
    within a typical step of the last fixes (``furthest_m``: every one kept, the new ones
    last), along the line or from its end point when the progress lags; None: not there."""
    if not furthest_m or furthest_m[-1] < course.length_m - FINISH_MAX_M:
        return None  # not near the finish: the typical step need not be known (a median a fix)
    tolerance_m = finish_tolerance_m(finish_step_m(furthest_m))
    end_m = course.length_m - tolerance_m
    by_point = at_finish_point(course, np.array(new_furthest_m), lat, lon, tolerance_m)
    at = zip(times_s, new_furthest_m, by_point, strict=True)
    return next((t for t, f, p in at if f >= end_m or p), None)


def climb_m(ele_m: FloatArray) -> tuple[float, float]:
    """Ascent and descent with a hysteresis that ignores elevation noise below 5 m.

    >>> climb_m(np.array([100.0, 101, 100, 130, 129, 131, 90]))
    (30.0, 40.0)
    """
    e = ele_m[np.isfinite(ele_m)]
    if len(e) < 2:
        return 0.0, 0.0
    up = down = 0.0
    ref = float(e[0])
    for v in e[1:]:
        dv = float(v) - ref
        if dv >= ELEVATION_HYSTERESIS_M:
            up += dv
            ref = float(v)
        elif dv <= -ELEVATION_HYSTERESIS_M:
            down -= dv
            ref = float(v)
    return round(up, 1), round(down, 1)


@nb.njit(cache=True)
def _overlap_flags(
    px: FloatArray,
    py: FloatArray,
    ps: FloatArray,
    radius: float,
    min_apart: float,
    x: FloatArray,
    y: FloatArray,
    cum: FloatArray,
    grid: SegmentGrid,
) -> np.ndarray:
    cap = 256
    seg = np.empty(cap, dtype=np.int64)
    t = np.empty(cap)
    d = np.empty(cap)
    out = np.zeros(len(px), dtype=np.bool_)
    stamp = np.zeros(len(x), dtype=np.int64)
    for i in range(len(px)):
        n = segments_within(px[i], py[i], radius, x, y, grid, seg, t, d, stamp)
        for k in range(n):
            s = cum[seg[k]] + t[k] * (cum[seg[k] + 1] - cum[seg[k]])
            if abs(s - ps[i]) >= min_apart:
                out[i] = True
                break
    return out


def build_course(raw: RawPoints, source: str | Path = "", snap_m: float = 100.0) -> Course:
    """Make a Course from the points of a file: drop unusable points, snap waypoints.

    Raises EmptyDataError below two distinct points and CourseGeometryError for a line that
    jumps or spans more than a race course can (see :mod:`coursewatch.course_geometry`).
    """
    ok = (
        np.isfinite(raw.lat)
        & np.isfinite(raw.lon)
        & (np.abs(raw.lat) <= 90)
        & (np.abs(raw.lon) <= 180)
        & ~((raw.lat == 0) & (raw.lon == 0))
    )
    lat, lon, ele = raw.lat[ok], raw.lon[ok], raw.ele_m[ok]
    numbers = np.flatnonzero(ok) + 1  # each point's number in the file, for messages
    if len(lat) >= 2:
        keep = np.ones(len(lat), dtype=bool)
        keep[1:] = (np.diff(lat) != 0) | (np.diff(lon) != 0)
        lat, lon, ele, numbers = lat[keep], lon[keep], ele[keep], numbers[keep]
    if len(lat) < 2:
        raise EmptyDataError(
            f"a course needs at least two distinct points, this file has {len(lat)}: "
            "export the route as a track or route line, not a single point",
            source,
        )
    check_course_geometry(lat, lon, numbers, source)
    frame = LocalFrame.around(lat, lon)
    x, y = frame.to_xy(lat, lon)
    has_ele = bool(np.isfinite(ele).mean() > 0.5)
    ele_m = _fill_nan(ele) if has_ele else None
    course = Course(
        name=raw.name,
        lat=lat,
        lon=lon,
        ele_m=ele_m,
        frame=frame,
        x=x,
        y=y,
        cum_m=cumulative_m(x, y),
        stations=(),
        source=str(source),
    )
    for arr in (lat, lon, x, y, course.cum_m, ele_m):
        if arr is not None:
            arr.flags.writeable = False  # a Course is immutable, arrays included
    stations = tuple(snap_station(course, w, snap_m) for w in one_per_place(raw.waypoints))
    return with_stations(course, stations)


def snap_station(course: Course, waypoint: Waypoint, snap_m: float) -> Station:
    """A waypoint as a station, with every pass of the course within ``snap_m``."""
    passes = course.passes_near(waypoint.lat, waypoint.lon, snap_m)
    return Station(waypoint.name, waypoint.lat, waypoint.lon, passes)


def with_stations(course: Course, stations: tuple[Station, ...]) -> Course:
    """The course with these stations instead of its own."""
    out = Course(
        name=course.name,
        lat=course.lat,
        lon=course.lon,
        ele_m=course.ele_m,
        frame=course.frame,
        x=course.x,
        y=course.y,
        cum_m=course.cum_m,
        stations=stations,
        source=course.source,
    )
    if "grid" in course.__dict__:
        out.__dict__["grid"] = course.__dict__["grid"]
    return out


def _fill_nan(v: FloatArray) -> FloatArray:
    good = np.isfinite(v)
    if good.all():
        return v
    idx = np.arange(len(v))
    return np.interp(idx, idx[good], v[good])
