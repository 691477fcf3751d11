"""When the runner passed each station, a checkpoint (every 10 km, or 10 miles), or the finish:
hindsight progress.

A passage is the first time the runner's never-decreasing progress reached the course distance
of the pass, interpolated between the fixes either side. A course with no stations between the
start and the finish gets a checkpoint every 10 km (every 10 miles in a race run in miles)
for its splits table instead, timed by the same rule; the analysis says so
(``Analysis.checkpoints``), so no report passes checkpoints off as official aid stations.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import numpy as np

from coursewatch.analysis.results import Passage, utc
from coursewatch.course import FINISH_M, Course, Station
from coursewatch.eta import AT_STATION_M
from coursewatch.geo import FloatArray, haversine_m
from coursewatch.units import KM, Units

CHECKPOINT_EVERY_UNITS = 10  # km, or miles in a race run in miles
END_MARGIN_M = 1000.0  # a station this close to the start or finish is not a split
ARRIVED_M = 100.0  # a fix this close to a station's place is there
ARRIVED_BEFORE_M = 5000.0  # ... with its progress held at most this far short of the pass
ARRIVED_LAG_S = 300.0  # ... when that is this much before the progress reached it
OFF_LINE_M = 25.0  # ... and the fix off the line (on it, its progress is right)
BEGUN_M = 1000.0  # a pass this far behind the first fix's progress was before the recording


def pass_time_s(
    s_m: float, time_s: FloatArray, progress_m: FloatArray, near_m: float = 0.0
) -> float | None:
    """When the never-decreasing ``progress_m`` first reached ``s_m`` (None: never, or before
    a recording begun mid-race, ``BEGUN_M`` or more beyond it); with ``near_m``, a fix that
    much short of it counts as there (an aid station's tent before its point on the line, then
    an hour without a fix: the runner arrived at that fix, as race HQ's board says, not
    somewhere in the hour).

    >>> t, s = np.array([0.0, 600, 4200]), np.array([9000.0, 9950, 10500])
    >>> pass_time_s(10_000.0, t, s), pass_time_s(10_000.0, t, s, near_m=100.0)
    (927.2727272727273, 600.0)
    >>> pass_time_s(5_000.0, t, s) is None  # (passed before the recording began)
    True
    """
    if len(progress_m) == 0 or s_m - near_m > float(progress_m[-1]) + 1.0:
        return None
    if float(progress_m[0]) >= s_m + BEGUN_M:
        return None
    k = min(int(np.searchsorted(progress_m, s_m - near_m - 1.0)), len(time_s) - 1)
    if near_m and progress_m[k] < s_m - 1.0:
        return float(time_s[k])
    k = int(np.searchsorted(progress_m, s_m - 1.0))
    k = min(k, len(time_s) - 1)
    if k > 0 and progress_m[k] > progress_m[k - 1]:
        # interpolate between the fixes either side of the pass
        f = (s_m - progress_m[k - 1]) / (progress_m[k] - progress_m[k - 1])
        return float(time_s[k - 1] + min(max(f, 0.0), 1.0) * (time_s[k] - time_s[k - 1]))
    return float(time_s[k])


def visit_numbers(course: Course) -> dict[tuple[str, float], int]:
    """(station name, course distance of a pass) -> visit number, counted in course order.

    The same station may appear as several entries (a race file listing ``pass: 1`` and
    ``pass: 2``) or as one entry with several passes: either way the n-th pass in course order
    is visit n, which is what a race file's ``pass`` means.
    """
    by_name: dict[str, list[float]] = {}
    for st in course.stations:
        by_name.setdefault(st.name, []).extend(st.passes_m)
    out: dict[tuple[str, float], int] = {}
    for name, passes in by_name.items():
        for i, s in enumerate(sorted(passes)):
            out[(name, s)] = i + 1
    return out


def station_passes(
    course: Course,
    time_s: FloatArray,
    progress_m: FloatArray,
    where: tuple[FloatArray, FloatArray, FloatArray] | None = None,
) -> tuple[Passage, ...]:
    """When the runner's progress first reached every pass of every station, in time order;
    or, given the fixes' positions and distances to the line (``where``: lat, lon, offset),
    when they came off the line to the station's place, if that was ``ARRIVED_LAG_S`` or
    more before (the tent a little off the line, inside an excursion: the progress is held
    where they left it, and the arrival read hours late). A fix on the line has its
    progress right, and is left to it (a switchback below the tent, the loop's way out). With
    ``where``, a station is reached ``AT_STATION_M`` before it, as on race HQ's board: a
    runner asleep in Ramsey Bridge's tent 20 m short of its point on the line for two hours
    got there when they came, not when they left."""
    out: list[Passage] = []
    visits = visit_numbers(course)
    for st in course.stations:
        for i, s in enumerate(st.passes_m):
            inner = END_MARGIN_M < s < course.length_m - END_MARGIN_M  # the finish: its rule
            near_m = AT_STATION_M if where is not None and inner else 0.0
            ts = pass_time_s(s, time_s, progress_m, near_m)
            if where is not None and inner:
                there = arrived_s(st, s, time_s, progress_m, *where)
                if there is not None and (ts is None or there < ts - ARRIVED_LAG_S):
                    ts = there
            if ts is not None:
                out.append(Passage(st.name, i + 1, float(s), utc(ts), visits[(st.name, s)]))
    out.sort(key=lambda p: (p.time, p.course_m))
    return tuple(out)


def with_finish(
    course: Course, passes: tuple[Passage, ...], finish: datetime | None
) -> tuple[Passage, ...]:
    """The passes with the finish's time for a station pass at the end of the course that the
    progress never reached (UTMB's FINISH pass 2: the JSON listed its start only), and for
    one it reached, as the splits have it (UTMB 2021's Arrivée read 07:46:55, the finish
    07:46:18)."""
    if finish is None:
        return passes
    passes = _at_finish(passes, finish, course.length_m - FINISH_M)
    have = {(p.station, p.course_m) for p in passes}
    visits = visit_numbers(course)
    end = [Passage(st.name, i + 1, float(s), finish, visits[(st.name, s)])
           for st in course.stations for i, s in enumerate(st.passes_m)
           if s >= course.length_m - FINISH_M and (st.name, float(s)) not in have]  # fmt: skip
    return tuple(sorted((*passes, *end), key=lambda p: (p.time, p.course_m)))


def _at_finish(rows: tuple[Passage, ...], finish: datetime, end_m: float) -> tuple[Passage, ...]:
    """No pass after the finish: a station at it (or within a step of it, where the progress
    came later than the finish's rule) is at the finish's time."""
    return tuple(dataclasses.replace(p, time=finish) if p.course_m >= end_m or p.time > finish
                 else p for p in rows)  # fmt: skip


def arrived_s(
    st: Station, s_m: float, time_s: FloatArray, progress_m: FloatArray, lat: FloatArray,
    lon: FloatArray, offset_m: FloatArray,
) -> float | None:  # fmt: skip
    """The first fix off the line (``OFF_LINE_M``) within ``ARRIVED_M`` of the station's
    place for its pass at ``s_m``: progress at most ``ARRIVED_BEFORE_M`` short of it, and
    nearer it than any other pass."""
    close = (haversine_m(lat, lon, st.lat, st.lon) <= ARRIVED_M) & (offset_m > OFF_LINE_M)
    close &= progress_m >= s_m - ARRIVED_BEFORE_M
    for other in st.passes_m:
        if other != s_m:
            close &= np.abs(progress_m - s_m) < np.abs(progress_m - other)
    k = np.flatnonzero(close)
    return float(time_s[k[0]]) if len(k) else None


def checkpoint_course(course: Course, units: Units) -> Course:
    """The course with a checkpoint every 10 of ``units`` and at the finish, as its stations
    ("km 10", "mile 20"...)."""
    every_m = CHECKPOINT_EVERY_UNITS * units.unit_m
    marks = [float(s) for s in np.arange(every_m, course.length_m - every_m / 10.0, every_m)]
    marks.append(course.length_m)
    lat, lon = course.latlon_at(np.asarray(marks))
    stations = tuple(
        Station(units.at(s, 0) if s < course.length_m else "Finish", float(la), float(lo), (s,))
        for s, la, lo in zip(marks, lat, lon, strict=True)
    )
    return dataclasses.replace(course, stations=stations)


def uses_checkpoints(course: Course) -> bool:
    """True when no station lies between the start and the finish (none, or only those)."""
    inner = [
        s
        for st in course.stations
        for s in st.passes_m
        if END_MARGIN_M < s < course.length_m - END_MARGIN_M
    ]
    return not inner


def split_passes(
    course: Course,
    passes: tuple[Passage, ...],
    finish: datetime | None,
    time_s: FloatArray,
    progress_m: FloatArray,
    units: Units = KM,
) -> tuple[tuple[Passage, ...], bool]:
    """The passages of the splits table (the station ``passes``, or checkpoints every 10 of
    ``units`` when the course has no stations: the flag), and the finish (at ``finish``) when
    no station marks it."""
    checkpoints = uses_checkpoints(course)
    if checkpoints:
        cp = checkpoint_course(course, units)
        cp = dataclasses.replace(cp, stations=cp.stations[:-1])
        found = station_passes(cp, time_s, progress_m)
        rows = tuple(dataclasses.replace(p, visit=1) for p in found)
    else:
        rows = passes
    end_m = course.length_m - FINISH_M
    if finish is None:
        return rows, checkpoints
    rows = _at_finish(rows, finish, end_m)
    if any(p.course_m >= end_m for p in rows):
        return rows, checkpoints
    # the analysis calls the race finished near the end of the line, where a station pass at
    # the very end may never be reached by the progress
    name, pass_no = "Finish", 1
    for st in course.stations:
        for i, s in enumerate(st.passes_m):
            if s >= end_m:
                name, pass_no = st.name, i + 1
    visit = 1 if checkpoints else visit_numbers(course).get((name, course.length_m), pass_no)
    return (*rows, Passage(name, pass_no, course.length_m, finish, visit)), checkpoints
