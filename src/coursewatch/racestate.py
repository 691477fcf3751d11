"""The races the server follows, in memory: course, stations, laps and every runner's engine.

A :class:`LiveRace` is built from its stored record (the race file and course file, verbatim), so
the server reads them with the same code as the CLI. The :class:`Registry` maps device ids to
runners for the ingest endpoints that carry no race in their URL (OsmAnd, OwnTracks, inReach).
"""

from __future__ import annotations

import bisect
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coursewatch.alerts import Narrator
from coursewatch.course import Course, load_course
from coursewatch.race import Race, load_race
from coursewatch.runners import LiveRunner
from coursewatch.store import RaceRecord, RunnerRecord

LAP_RADIUS_M = 100.0
LAP_MIN_M = 500.0
FINISH_NAME = "Finish"


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

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pass": self.pass_number,
            "label": self.label,
            "distance_m": round(self.distance_m, 1),
            "cutoff_ts": self.cutoff_ts,
        }


def load_record(record: RaceRecord) -> tuple[Race, Course]:
    """Read a stored race: its race file, and its course file (not the path the file names)."""
    with tempfile.TemporaryDirectory(prefix="coursewatch-race-") as tmp:
        race_path = Path(tmp) / f"race{record.race_suffix}"
        race_path.write_text(record.race_text, encoding="utf-8")
        course_path = Path(tmp) / f"course{record.course_suffix}"
        course_path.write_bytes(record.course_bytes)
        race = load_race(race_path)
        course = load_course(course_path, max_file_bytes=len(record.course_bytes) + 1)
    return race, course


def station_passes(race: Race, course: Course, snap_m: float = 100.0) -> list[StationPass]:
    """The race's stations along the course (the course's waypoints if the race lists none)."""
    out: list[StationPass] = []
    for st in race.stations:
        if st.distance_m is not None:
            s: float | None = st.distance_m
        else:
            assert st.lat is not None and st.lon is not None
            passes = course.passes_near(st.lat, st.lon, snap_m)
            s = passes[st.pass_number - 1] if len(passes) >= st.pass_number else None
        if s is not None:
            out.append(StationPass(st.name, st.pass_number, s, st.cutoff_ts))
    if not race.stations:
        for cs in course.stations:
            out.extend(StationPass(cs.name, i + 1, s) for i, s in enumerate(cs.passes_m))
    out.sort(key=lambda p: p.distance_m)
    if not out or out[-1].distance_m < course.length_m - 200.0:
        out.append(StationPass(FINISH_NAME, 1, course.length_m))
    return out


class LiveRace:
    """One race being followed."""

    def __init__(self, record: RaceRecord, race: Race, course: Course) -> None:
        self.record = record
        self.race = race
        self.course = course
        self.stations = station_passes(race, course)
        self.station_m = [p.distance_m for p in self.stations]
        self.station_views = [p.as_json() for p in self.stations]
        self.narrator = Narrator(course, [(p.distance_m, p.label) for p in self.stations])
        starts = course.passes_near(float(course.lat[0]), float(course.lon[0]), LAP_RADIUS_M)
        self.lap_marks_m = [s for s in starts if LAP_MIN_M < s < course.length_m - LAP_MIN_M]
        self.runners: dict[str, LiveRunner] = {}
        # Set by the pipeline to its ETA model; None: the views fall back to the learned pace.
        self.arrivals: Callable[[LiveRunner, list[float]], list[float | None]] | None = None

    @property
    def id(self) -> str:
        return self.record.id

    def start_s(self, runner: LiveRunner) -> float:
        start = runner.record.start_ts
        return self.record.start_ts if start is None else start

    def add_runner(self, record: RunnerRecord) -> LiveRunner:
        old = self.runners.get(record.bib)
        if old is not None:
            old.record = record  # keep the engine state: only the registration changed
            return old
        runner = LiveRunner(record, self.course)
        self.runners[record.bib] = runner
        return runner

    def lap(self, progress_m: float) -> int:
        return 1 + bisect.bisect_right(self.lap_marks_m, progress_m)

    def around(self, progress_m: float) -> tuple[int, int]:
        """Indexes of the last station passed and of the next one (-1: none)."""
        k = bisect.bisect_right(self.station_m, progress_m)
        return k - 1, (k if k < len(self.stations) else -1)


class Registry:
    """Every race in memory, and which runner each device belongs to."""

    def __init__(self) -> None:
        self.races: dict[str, LiveRace] = {}
        self.devices: dict[str, tuple[str, str]] = {}

    def add_race(self, record: RaceRecord) -> LiveRace:
        race, course = load_record(record)
        live = LiveRace(record, race, course)
        old = self.races.get(record.id)
        if old is not None and old.record.course_bytes == record.course_bytes:
            live.runners = old.runners
        self.races[record.id] = live
        return live

    def add_runner(self, record: RunnerRecord) -> LiveRunner:
        live = self.races[record.race_id]
        old = live.runners.get(record.bib)
        if old is not None:
            for d in old.record.devices:
                self.devices.pop(d, None)
        for d in record.devices:
            self.devices[d] = (record.race_id, record.bib)
        return live.add_runner(record)

    def owner(self, device_id: str) -> tuple[LiveRace, LiveRunner] | None:
        key = self.devices.get(device_id)
        if key is None:
            return None
        race = self.races[key[0]]
        return race, race.runners[key[1]]
