"""Is this track on this course at all? The part of a recording near the course.

A track from another race, or a course from another valley, must not come out as "on the
course all the way" (nor take minutes to find out). Distances to the whole line are searched
in the course's grid up to a few kilometres; beyond that, a great-circle distance to the
course's points (thinned) is close enough to say how far off the track is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from coursewatch.course import Course
from coursewatch.engine.grid import nearest_distances
from coursewatch.errors import InputError, RaceFileError
from coursewatch.geo import FloatArray, haversine_m
from coursewatch.race import Race
from coursewatch.track import Track

NEAR_M = 1000.0  # a fix further than this from every part of the course is not on it
GRID_SEARCH_M = 5000.0  # searched in the grid this far; further, by great circle
MAX_POINTS = 4000  # course points the great-circle search looks at, at most
CHUNK = 256  # track fixes a great-circle pass takes at once
SAMPLE = 512  # a track with no fix near the course: its distance from this many of them


def line_distances(course: Course, lat: FloatArray, lon: FloatArray) -> FloatArray:
    """Every fix's distance to the whole course line, m (beyond a few km: to its points)."""
    x, y = course.frame.to_xy(lat, lon)
    out = nearest_distances(x, y, GRID_SEARCH_M, course.x, course.y, course.grid)
    far = np.flatnonzero(~np.isfinite(out))
    if len(far):
        out[far] = _to_points_m(course, lat[far], lon[far])
    return out


def _to_points_m(course: Course, lat: FloatArray, lon: FloatArray) -> FloatArray:
    step = max(1, len(course.lat) // MAX_POINTS)
    clat, clon = course.lat[::step], course.lon[::step]
    out = np.empty(len(lat))
    for i in range(0, len(lat), CHUNK):
        la, lo = lat[i : i + CHUNK, None], lon[i : i + CHUNK, None]
        out[i : i + CHUNK] = haversine_m(la, lo, clat[None, :], clon[None, :]).min(axis=1)
    return out


def near_part(course: Course, track: Track) -> tuple[Track, tuple[int, int]]:
    """The track from its first to its last fix within ``NEAR_M`` of the course, and how many
    fixes were left out before and after; InputError when no fix is near."""
    if not len(track):
        return track, (0, 0)
    near = np.flatnonzero(_near(course, track.lat, track.lon))
    if not len(near):
        pick = np.linspace(0, len(track) - 1, min(len(track), SAMPLE)).astype(np.int64)
        nearest_km = float(_to_points_m(course, track.lat[pick], track.lon[pick]).min()) / 1000
        where = Path(course.source).name if course.source else (course.name or "the course")
        raise InputError(
            f"no fix within 1 km of {where} (nearest {nearest_km:,.0f} km): "
            "is this the right course?",
            track.source or None,
        )
    i, j = int(near[0]), int(near[-1])
    if i == 0 and j == len(track) - 1:
        return track, (0, 0)
    return track.part(i, j + 1), (i, len(track) - 1 - j)


def _near(course: Course, lat: FloatArray, lon: FloatArray) -> np.ndarray:
    """Which fixes are within ``NEAR_M`` of the course: the course's box first (a fix outside
    it, widened by ``NEAR_M``, cannot be), then the grid for the others."""
    x, y = course.frame.to_xy(lat, lon)
    inside = (
        (x >= course.x.min() - NEAR_M) & (x <= course.x.max() + NEAR_M)
        & (y >= course.y.min() - NEAR_M) & (y <= course.y.max() + NEAR_M)
    )  # fmt: skip
    out = np.zeros(len(x), dtype=bool)
    k = np.flatnonzero(inside)
    if len(k):
        d = nearest_distances(x[k], y[k], NEAR_M + 1.0, course.x, course.y, course.grid)
        out[k] = d <= NEAR_M
    return out


ON_COURSE_M = 200.0  # a fix this close to the course is on it, give or take its GPS ...
ON_COURSE_SHARE = 0.5  # ... and a track with less than this share of its distance on it
# is another race's (the real pairs: 83-100 %; another race of the same valley: 0-30 %)
DRAWN_M = 0.5  # a "track" this close to the line everywhere is the course itself


def check_on_course(course: Course, track: Track, offset_m: FloatArray) -> None:
    """InputError when the track (its part near the course) is not a run of this course: less
    than ``ON_COURSE_SHARE`` of its distance within ``ON_COURSE_M`` of the line (another race
    from the same town: the Duo Etoile against UTMB read "on the course all the way"; a
    runner lost for most of their race, or a DNF recorded walking down the valley, is
    analysed with --force), or every point on the line (the course file given as the track:
    a planner's times)."""
    if len(track) < 2:
        return
    step_m = haversine_m(track.lat[:-1], track.lon[:-1], track.lat[1:], track.lon[1:])
    total_m = float(step_m.sum())
    on_m = float(step_m[(offset_m[1:] <= ON_COURSE_M) & (offset_m[:-1] <= ON_COURSE_M)].sum())
    where = Path(course.source).name if course.source else (course.name or "the course")
    if total_m > 0 and on_m < ON_COURSE_SHARE * total_m:
        raise InputError(
            f"only {100 * on_m / total_m:.0f} % of the track's {total_m / 1000:,.1f} km is "
            f"within {ON_COURSE_M:.0f} m of {where}: is this the right course? (--force "
            "analyses it all the same)",
            track.source or None,
        )
    if float(np.quantile(offset_m, 0.99)) <= DRAWN_M:
        raise InputError(
            f"every point of the track is on {where}'s line: it is a drawn route (the course "
            "itself?), not a recording: give the track your watch or phone recorded",
            track.source or None,
        )


DAYS_S = 86_400.0
LATE_DAYS = 30  # a track begun this long after the race's start is another edition's


def check_race_fits(race: Race, track: Track, source: str = "") -> None:
    """RaceFileError when the race file cannot be this track's race: a track that ends
    before the race starts or begins more than ``LATE_DAYS`` days after it (last year's race
    file: race time counted from another day, a finish in 18,979 hours). (A station that
    cannot be placed on the course is refused when the race is applied: race_course.py.)"""
    check_track_days(race, track, source, "is it this track's race file (or leave --race out)?")


def _ago(s: float) -> str:
    """'2 days', '5 h 20 min', '45 min'."""
    if s >= 2 * DAYS_S:
        return f"{s / DAYS_S:,.0f} days"
    h, m = divmod(int(s) // 60, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min"


EARLY_M = 2000.0  # this far along the course ...
EARLY_S = 600.0  # ... this long before the race's start: the start is not the race's


def check_start_fits(
    race: Race, time_s: FloatArray, progress_m: FloatArray, source: str = ""
) -> None:
    """RaceFileError when the runner was ``EARLY_M`` along the course at the race file's
    start, running since ``EARLY_S`` or more before it (``progress_m``: the matcher's, which
    comes back with a runner warming up out and back): its start, or its time zone, is not
    the race's (an hour off read "race time -0:56:05" and a finish an hour short)."""
    k = int(np.searchsorted(time_s, race.start_ts, side="right")) - 1
    if k < 0 or time_s[0] > race.start_ts - EARLY_S or float(progress_m[k]) < EARLY_M:
        return
    when = f"{race.start:%Y-%m-%d %H:%M %z}"
    raise RaceFileError(
        f"the track is at km {progress_m[k] / 1000:.1f} of the course at the race's start "
        f"({when}), {_ago(race.start_ts - float(time_s[0]))} after its first fix: check the "
        "start time and its time zone (--force analyses it all the same)",
        source or None,
    )


def check_track_days(race: Race, track: Track, source: str, question: str) -> None:
    """RaceFileError (naming ``source``, asking ``question``) when a track ends before the
    race starts or begins more than ``LATE_DAYS`` days after it: another edition's."""
    if len(track):
        first, last = float(track.time_s[0]), float(track.time_s[-1])
        if last < race.start_ts or first > race.start_ts + LATE_DAYS * DAYS_S:
            when = f"{race.start:%Y-%m-%d %H:%M %Z}".strip()
            days = (first - race.start_ts) / DAYS_S
            said = f"begins {days:,.0f} days after it"
            if last < race.start_ts:  # (hours before it: a time zone, not another year)
                said = f"ends {_ago(race.start_ts - last)} before it"
            raise RaceFileError(f"the race starts {when}, the track {said}: {question}",
                                source or None)  # fmt: skip
