"""A race file's stations on a course's line: where each visit is, checked.

A station given by course distance is there on the line (clamped to its end: official
distances are often longer; refused a fifth past it). One given by position is at its
``pass``-th pass of the course within ``snap_m`` (an aid station off the line, in a village
or a car park, within 1 km: its nearest approaches). Race HQ follows runners and cut-offs by
these places, so a station that cannot be placed is an error, never left out: one 18 km away
(latitude and longitude swapped, another course's file), a pass the course does not make, or
a station placed before one listed ahead of it (race files list stations in course order).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, replace

import numpy as np

from coursewatch.course import FINISH_NAME, FINISH_NAMED_M, Course, Station, with_stations
from coursewatch.errors import RaceFileError
from coursewatch.geo import haversine_m
from coursewatch.race import Race, RaceStation
from coursewatch.units import fmt_duration

log = logging.getLogger("coursewatch.race_course")

BEYOND_END = 1.2  # a station's official distance this far past the line's length is a mistake
STATION_FAR_M = 1000.0  # a station this far from every part of the course: not this course's


@dataclass(frozen=True)
class StationPass:
    """One visit of a station along the unrolled course, with its cut-off when the race has one."""

    name: str
    pass_number: int
    distance_m: float
    cutoff_ts: float | None = None

    @property
    def label(self) -> str:
        return self.name if self.pass_number == 1 else f"{self.name} (pass {self.pass_number})"


def station_passes(
    race: Race, course: Course, snap_m: float = 100.0, strict: bool = True
) -> list[StationPass]:
    """The race's station visits along the course, in course order, the finish last (the
    course's waypoints when the race lists no station); RaceFileError for a station that
    cannot be placed (:func:`place`), or, not ``strict`` (a race stored before these checks,
    loaded again), left out with a log line: a race under way must not stop loading."""
    out = [
        StationPass(st.name, st.pass_number, s, st.cutoff_ts)
        for st, s in zip(race.stations, place(race, course, snap_m, strict), strict=True)
        if s is not None
    ]
    if not race.stations:
        for cs in course.stations:
            out.extend(StationPass(cs.name, i + 1, s) for i, s in enumerate(cs.passes_m))
    out.sort(key=lambda p: p.distance_m)
    if not out or out[-1].distance_m < course.length_m - FINISH_NAMED_M:
        out.append(StationPass(FINISH_NAME, 1, course.length_m))
    return out


def place(
    race: Race, course: Course, snap_m: float = 100.0, strict: bool = True
) -> list[float | None]:
    """Each station's distance along the course, in the race file's order, checked: on the
    line, near it, the pass it names, in course order, with cut-offs that grow along it
    (not ``strict``: None for a station that fails, logged)."""
    if not strict:
        try:
            return place(race, course, snap_m)
        except RaceFileError:
            return [_lenient(race, course, st, snap_m) for st in race.stations]
    _cutoffs_grow(race)
    out: list[float] = []
    for st in race.stations:
        if st.distance_m is not None:
            s = _on_line_m(st.name, st.distance_m, course)
        else:
            passes = _passes(st, course, snap_m)
            if st.pass_number > len(passes):
                raise RaceFileError(
                    f"station {st.name!r} pass {st.pass_number}: the course passes it "
                    f"{len(passes)} time(s) (at {_kms(passes)})"
                )
            s = passes[st.pass_number - 1]
        if out and s < out[-1] - 1.0:
            before = race.stations[len(out) - 1]
            where = (f"the course passes it at {_kms(_passes(st, course, snap_m))}: give its "
                     "pass: N, or " if st.distance_m is None else "")  # fmt: skip
            raise RaceFileError(
                f"station {st.name!r} is at km {s / 1000:.2f}, before {before.name!r} (km "
                f"{out[-1] / 1000:.2f}) listed ahead of it: {where}list stations in course order"
            )
        out.append(s)
    return list(out)  # (a list of float | None: lists are invariant)


def _lenient(race: Race, course: Course, st: RaceStation, snap_m: float) -> float | None:
    try:
        return place(replace(race, stations=(st,)), course, snap_m)[0]
    except RaceFileError as exc:
        log.warning("race %r: station left out: %s", race.name, exc)
        return None


def _cutoffs_grow(race: Race) -> None:
    """RaceFileError when a station's cut-off is before one listed ahead of it."""
    timed = [(s.name, s.cutoff_elapsed_s) for s in race.stations if s.cutoff_elapsed_s is not None]
    for (a, a_s), (b, b_s) in itertools.pairwise(timed):  # (listed in course order)
        if b_s < a_s:
            raise RaceFileError(
                f"the cut-off of {b!r} ({fmt_duration(b_s)} from the start) is before that of "
                f"{a!r} ({fmt_duration(a_s)}), listed ahead of it: cut-offs grow along the course"
            )


def _passes(st: RaceStation, course: Course, snap_m: float) -> tuple[float, ...]:
    """The passes of a station given by position: within ``snap_m``, else its nearest
    approaches within 1 km; RaceFileError farther."""
    assert st.lat is not None and st.lon is not None
    passes = course.passes_near(st.lat, st.lon, snap_m)
    if not passes:
        passes = course.passes_near(st.lat, st.lon, STATION_FAR_M)
    if not passes:
        far_m = float(np.min(haversine_m(st.lat, st.lon, course.lat, course.lon)))
        raise RaceFileError(
            f"station {st.name!r} ({st.lat:.5f}, {st.lon:.5f}) is {far_m / 1000:,.1f} km from "
            "the course: check its lat and lon (swapped?), or is it another course's race file?"
        )
    return passes


def _kms(passes: tuple[float, ...]) -> str:
    return ", ".join(f"km {s / 1000:.2f}" for s in passes) or "no place"


def _on_line_m(name: str, distance_m: float, course: Course) -> float:
    """A station's official distance on the course's line: clamped to its end (official
    distances are often longer), refused a fifth past it (miles, another course's file)."""
    if distance_m > BEYOND_END * course.length_m + 1000.0:
        raise RaceFileError(
            f"station {name!r} is at km {distance_m / 1000:.1f}, beyond the end of the course "
            f"({course.length_m / 1000:.1f} km): is the distance in miles, or is it another "
            "course's race file?"
        )
    return min(max(distance_m, 0.0), course.length_m)


def apply_race(course: Course, race: Race, snap_m: float = 100.0) -> Course:
    """The course with the race file's stations instead of the file's waypoints, each the
    one visit :func:`place` finds (RaceFileError for one that cannot be placed)."""
    if not race.stations:
        return course
    out: list[Station] = []
    for rs, s in zip(race.stations, place(race, course, snap_m), strict=True):
        assert s is not None  # (strict: every station placed)
        (la,), (lo,) = course.latlon_at(np.array([s]))
        lat, lon = (rs.lat, rs.lon) if rs.lat is not None and rs.lon is not None else (la, lo)
        out.append(Station(rs.name, float(lat), float(lon), (s,)))
    return with_stations(course, tuple(out))
