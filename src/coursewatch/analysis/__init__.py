"""After the race: what happened, where the runner went wrong, and what it cost.

:func:`analyze` runs the live matcher over the whole track (so ``alerted`` is exactly what
race HQ would have seen, at the same fix), then uses the whole track — hindsight the live
matcher does not have — to place where each excursion left and rejoined the course, how far
it went, the extra distance run and the time it cost (:mod:`.excursions`), and when every
station was passed (:mod:`.passes`). Reports (terminal, JSON, HTML, PNG, Markdown) render an
:class:`Analysis`; they measure nothing themselves.
"""

from __future__ import annotations

import numpy as np

from coursewatch.analysis.excursions import AT_START_M, Excursions
from coursewatch.analysis.near import check_on_course, line_distances, near_part
from coursewatch.analysis.passes import split_passes, station_passes, with_finish
from coursewatch.analysis.results import Analysis, Excursion, Passage, Point, utc
from coursewatch.course import Course, at_finish_point, finish_step_m, finish_tolerance_m
from coursewatch.distance import distance_run_m
from coursewatch.engine.config import EngineConfig
from coursewatch.engine.matcher import MatchResult, match_fixes
from coursewatch.geo import FloatArray
from coursewatch.track import Track
from coursewatch.units import Units

SIMPLIFY_SIGMAS = 2.0  # distance run: the track simplified to this many times its noise
BEGUN_AT_START_S = 900.0  # ... and, the race start known, this soon after it
SLOWEST_MPS = 0.5  # ... else it began mid-race: the runner started at most course/this before

__all__ = ["Analysis", "Excursion", "Passage", "Point", "analyze"]


def analyze(
    course: Course,
    track: Track,
    config: EngineConfig | None = None,
    start_ts: float | None = None,
    check_fit: bool = True,
    units: Units | None = None,
) -> Analysis:
    """Follow ``track`` along ``course`` and explain it. ``start_ts``: the race start;
    ``units``: the race's (its checkpoints, with no stations, are every 10 km or 10 miles).

    Raises InputError when no fix of the track is within a kilometre of the course (another
    race, another valley), and with ``check_fit`` when less than half of it is within 200 m
    (another race of the same valley) or the track is the course's line itself; fixes more
    than a kilometre from it at the start and the end of the recording (the drive there,
    the way home) are left out, and ``Analysis.trimmed`` says so.
    """
    track, trimmed = near_part(course, track)
    offset = line_distances(course, track.lat, track.lon)
    if check_fit:  # (race HQ's page of a runner lost for hours still shows their race)
        check_on_course(course, track, offset)
    start = engine_start(course, track, start_ts)
    match = match_fixes(course, track.time_s, track.lat, track.lon, track.accuracy_m, config,
                        start, start_known=start_ts is not None)  # fmt: skip
    x, y = course.frame.to_xy(track.lat, track.lon)
    # GPS error is not running: the distance is taken along the track simplified to within
    # its noise (estimated from its fixes by the matcher)
    path = distance_run_m(x, y, SIMPLIFY_SIGMAS * match.noise_m)
    progress = match.progress_m
    if len(track):
        progress = np.maximum.accumulate(_begun(course, track, match))
    t0 = float(track.time_s[0]) if start_ts is None else start_ts
    # begun at the start: there, and then (a tracker first heard an hour after the gun beside
    # a loop's start and finish, placed at the finish, was "a shortcut from km 0")
    at_start = len(track) > 0 and _from_start_m(course, track) <= AT_START_M
    at_start = at_start and (start_ts is None or track.time_s[0] - start_ts <= BEGUN_AT_START_S)
    builder = Excursions(course, track, match, offset, path, config or EngineConfig(), at_start)
    excursions = builder.excursions()
    passes = station_passes(course, track.time_s, progress, (track.lat, track.lon, offset))
    finish = _finish(course, track, match, progress)
    units = units or Units()
    finish_time = None if finish is None else finish.time
    splits, checkpoints = split_passes(course, passes, finish_time, track.time_s, progress, units)
    passes = with_finish(course, passes, finish_time)
    mid_race = start is not None and len(track) and start < float(track.time_s[0])
    starts_at_m = float(progress[0]) if start_ts is None and mid_race else None
    after_m = 0.0
    if finish is not None:
        k = int(np.searchsorted(track.time_s, finish.time.timestamp()))
        after_m = float(path[-1] - path[min(k, len(path) - 1)])
    return Analysis(course, track, match, offset, progress, excursions, passes, finish, t0,
                    splits, checkpoints, trimmed, starts_at_m, after_m, units)  # fmt: skip


def engine_start(course: Course, track: Track, start_ts: float | None) -> float | None:
    """When the runner started, as far as the engine may assume: the race start when known;
    else the first fix when it is near the start of the course (the recording began at the
    start); else long enough before it to have run the whole course slowly (a tracker started
    mid-race: placed where it is, and watched from its first fix)."""
    if start_ts is not None:
        return start_ts
    if not len(track):
        return None
    first_s = float(track.time_s[0])
    if _from_start_m(course, track) <= AT_START_M:
        return first_s
    return first_s - course.length_m / SLOWEST_MPS


def _begun(course: Course, track: Track, match: MatchResult) -> FloatArray:
    """The progress of each fix; a recording begun mid-race off the line (its first fix away
    from the start) has its fixes before the runner was first on it where they were first
    placed, not at the start (0: nowhere known, and a jump from there to the first placement
    would pass every station between). A runner waiting off the line at the start is there."""
    on = np.flatnonzero(match.matched)
    progress = match.progress_m.copy()
    if len(on) and on[0] > 0 and _from_start_m(course, track) > AT_START_M:
        progress[: on[0]] = progress[on[0]]
    return progress


def _from_start_m(course: Course, track: Track) -> float:
    """How far the track's first fix is from the start of the course, m."""
    (x,), (y,) = course.frame.to_xy(track.lat[:1], track.lon[:1])
    return float(np.hypot(x - course.x[0], y - course.y[0]))


def _finish(course: Course, track: Track, match: MatchResult, progress: FloatArray) -> Point | None:
    """Where and when the runner reached the finish, if they did. The finish is within a
    step of the runner's last fixes (the same whatever part of the race was recorded)."""
    tolerance_m = finish_tolerance_m(finish_step_m(progress))
    end_m = course.length_m - tolerance_m
    by_line = (progress >= end_m) & (match.progress_m >= end_m)
    by_point = at_finish_point(course, progress, track.lat, track.lon, tolerance_m)
    reached = np.flatnonzero(by_line | by_point)
    if not len(reached):
        return None
    k = int(reached[0])
    return Point(utc(track.time_s[k]), float(track.lat[k]), float(track.lon[k]), course.length_m)
