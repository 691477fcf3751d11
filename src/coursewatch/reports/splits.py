"""The splits table every report shows: one row per station pass, read off an Analysis.

Rows come from :attr:`Analysis.passes` (the station passes the analysis found). A course with
no stations gets a checkpoint every 10 km instead, timed by the same rule the analysis uses for
stations (:func:`coursewatch.analysis.station_passes` over the hindsight progress); the table
says so, so no report passes checkpoints off as official aid stations. A race file's
reference splits (a course record, last year's winner) ride along as a "ghost": its elapsed
time at the same station visit and the runner's gap to it.

>>> visit_label("Champex", 2)
'Champex (2)'
>>> visit_label("Champex", 1)
'Champex'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coursewatch.analysis import FINISH_M, Analysis, StationPass, station_passes
from coursewatch.course import Course, Station
from coursewatch.race import ReferenceSplits

CHECKPOINT_EVERY_M = 10_000.0
MIN_LEG_M = 50.0  # shorter legs get no pace: the time is mostly the stop
END_MARGIN_M = 1000.0  # a station this close to the start or finish is not a split


@dataclass(frozen=True)
class Split:
    """The runner at one station visit. ``visit`` counts passes of the same station (1, 2...)."""

    station: str
    visit: int
    course_m: float
    elapsed_s: float
    clock_ts: float
    leg_m: float
    leg_s: float
    pace_s_per_km: float | None
    ghost_elapsed_s: float | None

    @property
    def label(self) -> str:
        return visit_label(self.station, self.visit)

    @property
    def gap_s(self) -> float | None:
        """Runner minus ghost: positive when behind the reference."""
        if self.ghost_elapsed_s is None:
            return None
        return self.elapsed_s - self.ghost_elapsed_s


@dataclass(frozen=True)
class Splits:
    """The table, and what it is made of (``checkpoints``: synthetic 10 km marks)."""

    rows: tuple[Split, ...]
    checkpoints: bool
    ghost: str | None

    @property
    def note(self) -> str | None:
        if not self.checkpoints:
            return None
        return "The course has no stations: splits are every 10 km along the course."


def visit_label(station: str, visit: int) -> str:
    return station if visit <= 1 else f"{station} ({visit})"


def checkpoint_course(course: Course, every_m: float = CHECKPOINT_EVERY_M) -> Course:
    """The course with a checkpoint every ``every_m`` and at the finish, as its stations."""
    marks = list(np.arange(every_m, course.length_m - every_m / 10.0, every_m))
    marks.append(course.length_m)
    lat, lon = course.latlon_at(np.asarray(marks))
    stations = tuple(
        Station(_checkpoint_name(s, course.length_m), float(la), float(lo), (float(s),))
        for s, la, lo in zip(marks, lat, lon, strict=True)
    )
    return dataclasses.replace(course, stations=stations)


def _checkpoint_name(s_m: float, length_m: float) -> str:
    return "Finish" if s_m >= length_m else f"km {s_m / 1000:.0f}"


def uses_checkpoints(course: Course) -> bool:
    """True when no station lies between the start and the finish (none, or only those)."""
    inner = [
        s
        for st in course.stations
        for s in st.passes_m
        if END_MARGIN_M < s < course.length_m - END_MARGIN_M
    ]
    return not inner


def checkpoint_passes(a: Analysis) -> tuple[StationPass, ...]:
    """When the runner reached each 10 km checkpoint (the finish is added by the caller)."""
    cp = checkpoint_course(a.course)
    cp = dataclasses.replace(cp, stations=cp.stations[:-1])
    return station_passes(cp, a.track.time_s, a.progress_m)


def with_finish(a: Analysis, passes: tuple[StationPass, ...]) -> tuple[StationPass, ...]:
    """The passes and, when the analysis saw the finish and no station marks it, the finish.

    The analysis calls the race finished within ``FINISH_M`` of the end of the line, where a
    station pass at the very end may never be reached by the progress.
    """
    end_m = a.course.length_m - FINISH_M
    if a.finish is None or any(p.course_m >= end_m for p in passes):
        return passes
    name, visit = "Finish", 1
    for st in a.course.stations:
        for i, s in enumerate(st.passes_m):
            if s >= end_m:
                name, visit = st.name, i + 1
    return (*passes, StationPass(name, visit, a.course.length_m, a.finish.time))


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


def compute_splits(a: Analysis, reference: ReferenceSplits | None = None) -> Splits:
    """The splits of ``a``, with the gap to ``reference`` where it has the same visit."""
    checkpoints = uses_checkpoints(a.course)
    if checkpoints:
        passes = with_finish(a, checkpoint_passes(a))
        visits = {(p.station, p.course_m): 1 for p in passes}
    else:
        passes = with_finish(a, a.passes)
        visits = visit_numbers(a.course)
    ghost: dict[tuple[str, int], float] = {}
    if reference is not None:
        ghost = {(r.station, r.pass_number): r.elapsed_s for r in reference.splits}
    return Splits(
        _rows(passes, visits, a.start_ts, ghost),
        checkpoints,
        None if reference is None else reference.name,
    )


def _rows(
    passes: Sequence[StationPass],
    visits: dict[tuple[str, float], int],
    start_ts: float,
    ghost: dict[tuple[str, int], float],
) -> tuple[Split, ...]:
    rows: list[Split] = []
    prev_m, prev_ts = 0.0, start_ts
    for p in passes:
        ts = p.time.timestamp()
        visit = visits.get((p.station, p.course_m), p.pass_no)
        leg_m = p.course_m - prev_m
        leg_s = ts - prev_ts
        pace = leg_s / (leg_m / 1000.0) if leg_m >= MIN_LEG_M and leg_s > 0 else None
        rows.append(
            Split(
                p.station,
                visit,
                p.course_m,
                ts - start_ts,
                ts,
                leg_m,
                leg_s,
                pace,
                ghost.get((p.station, visit)),
            )
        )
        prev_m, prev_ts = p.course_m, ts
    return tuple(rows)
