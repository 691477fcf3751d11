"""What an analysis finds: excursions, station passages, the finish, and the whole of it.

Plain frozen data; :func:`coursewatch.analysis.analyze` makes them, reports render them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from coursewatch.course import Course
from coursewatch.engine.events import Event
from coursewatch.engine.matcher import MatchResult
from coursewatch.geo import FloatArray
from coursewatch.track import Track
from coursewatch.units import KM, Units


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(float(ts), UTC)


@dataclass(frozen=True)
class Point:
    time: datetime
    lat: float
    lon: float
    course_m: float | None = None


@dataclass(frozen=True)
class Excursion:
    """One time the runner was not on the course: off it, the wrong way along it, or cutting it.

    ``flagged`` is when and where the live engine first told the runner they may be off course
    (None: it never did); ``alerted`` when race HQ was told, once it was confirmed (None: it
    never was: the runner came back by themselves, or it was found in hindsight only);
    ``extra_distance_m`` is the distance run minus the course distance it covered (negative
    for a shortcut: distance cut); ``time_lost_s`` is the time it took minus the time the
    runner's pace before it would have taken (None when the pace is unknown).
    """

    kind: str
    left: Point
    flagged: Point | None
    alerted: Point | None
    rejoined: Point | None
    max_offset_m: float
    extra_distance_m: float
    time_lost_s: float | None
    first_fix: int
    last_fix: int
    # faster than a runner within it (a vehicle): from, to, and that speed (m/s); the course
    # skipped then, less what was run on foot, is cut (``extra_distance_m``)
    transport: tuple[Point, Point, float] | None = None

    @property
    def from_nowhere(self) -> bool:
        """The way to the line of a recording begun mid-race off it: where the runner left the
        course (``left.course_m`` None) and what it cost are not known."""
        return self.left.course_m is None


@dataclass(frozen=True)
class Passage:
    """When the runner passed a station: ``pass_no`` counts the passes of that station entry,
    ``visit`` the visits of a station of that name, in course order (a race file may list a
    station once per visit, ``pass: 1``, ``pass: 2``)."""

    station: str
    pass_no: int
    course_m: float
    time: datetime
    visit: int = 1


@dataclass(frozen=True, eq=False)
class Analysis:
    """``passes``: the stations passed; ``splits``: the passages of the splits table (the
    stations, or a checkpoint every 10 km, or 10 miles, when the course has none:
    ``checkpoints``), with the finish; ``trimmed``: how many fixes at the start and the end of
    the recording were left out, being more than a kilometre from the course (the drive to the
    start, the way home)."""

    course: Course
    track: Track
    match: MatchResult
    offset_m: FloatArray  # distance from each fix to the nearest point of the course
    progress_m: FloatArray  # hindsight progress: never backwards except on excursions
    excursions: tuple[Excursion, ...]
    passes: tuple[Passage, ...]
    finish: Point | None
    start_ts: float
    splits: tuple[Passage, ...] = ()
    checkpoints: bool = False
    trimmed: tuple[int, int] = (0, 0)  # fixes left out, before and after: far from the course
    # the race's start unknown and the track begun away from it (a tracker started mid-race):
    # where along the course it begins (race time then counts from its first fix); else None
    starts_at_m: float | None = None
    after_finish_m: float = 0.0  # how far the track goes on after the finish read
    units: Units = KM  # the race's: its checkpoints' spacing, what its reports say

    @property
    def events(self) -> tuple[Event, ...]:
        return self.match.events

    @property
    def elapsed_s(self) -> float | None:
        return None if self.finish is None else self.finish.time.timestamp() - self.start_ts

    @property
    def confirmed(self) -> tuple[Excursion, ...]:
        """The excursions race HQ was told about: what the totals and the headline count."""
        return tuple(e for e in self.excursions if e.alerted is not None)

    @property
    def extra_distance_m(self) -> float:
        return float(sum(max(e.extra_distance_m, 0.0) for e in self.confirmed))

    @property
    def cut_m(self) -> float:
        """The course cut by the confirmed shortcuts."""
        return float(-sum(min(e.extra_distance_m, 0.0) for e in self.confirmed
                          if e.kind == "shortcut"))  # fmt: skip

    @property
    def cuts(self) -> list[tuple[float, float]]:
        """The course each shortcut skipped (from, to): the stations inside were not run."""
        return [(e.left.course_m, e.rejoined.course_m) for e in self.excursions
                if e.kind == "shortcut" and e.rejoined is not None
                and e.left.course_m is not None and e.rejoined.course_m is not None]  # fmt: skip

    @property
    def time_lost_s(self) -> float:
        """The time the confirmed excursions lost, those whose loss is known."""
        return float(sum(max(e.time_lost_s or 0.0, 0.0) for e in self.confirmed))

    @property
    def time_lost_unknown(self) -> int:
        """How many confirmed excursions lost a time not known (begun off the line)."""
        return sum(1 for e in self.confirmed if e.time_lost_s is None)
