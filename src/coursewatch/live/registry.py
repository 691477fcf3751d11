"""The races the server follows, in memory: course, stations, laps and every runner.

A :class:`LiveRace` is built from its stored record (the race file and course file, verbatim),
read with the same code as the CLI's files. The :class:`Registry` maps device ids to runners
for the ingest endpoints that carry no race in their URL (OsmAnd, OwnTracks, inReach).
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import replace

from coursewatch.course import Course
from coursewatch.errors import InputError
from coursewatch.formats.load import course_from_bytes
from coursewatch.live.fieldpace import FieldPace
from coursewatch.live.fieldwatch import FieldWatch
from coursewatch.live.narrate import Narrator
from coursewatch.live.passes import Passes, reached
from coursewatch.live.privacy import PublicView
from coursewatch.live.runner import LiveRunner
from coursewatch.protocols import Decoded, DeviceEvent, Fix, FixProblem
from coursewatch.protocols.osmand import published_id
from coursewatch.race import Race, parse_race
from coursewatch.race_course import station_passes
from coursewatch.store import RaceRecord, RunnerRecord

BIB = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
LAP_PAST_M = 50.0


def usable(record: RunnerRecord) -> RunnerRecord:
    """A registration as race HQ keeps it: a bib that can go in a URL, each device once and
    1-128 characters long; else an error that says what to give."""
    if not BIB.match(record.bib):
        raise InputError(
            f"bib {record.bib!r} is not usable: use 1-32 letters, digits, '.', '-' or '_'"
        )
    record = replace(record, devices=tuple(dict.fromkeys(record.devices)))  # once each
    for device in record.devices:
        if not device or len(device) > 128:
            raise InputError(f"device id {device!r}: give 1-128 characters")
    return record


def load_record(record: RaceRecord) -> tuple[Race, Course]:
    """Read a stored race: its race file, and its course file (not the path the file names)."""
    race = parse_race(record.race_text, f"race_file{record.race_suffix}")
    return race, course_from_bytes(record.course_bytes, "course_file")


class LiveRace:
    """One race being followed."""

    def __init__(self, record: RaceRecord, race: Race, course: Course, strict: bool = True) -> None:
        self.record = record
        self.race = race
        self.course = course
        self.stations = station_passes(race, course, strict=strict)  # (stored: not strict)
        self.station_m = [p.distance_m for p in self.stations]
        self.narrator = Narrator(course, [(p.distance_m, p.label) for p in self.stations],
                                 race.start.tzinfo, race.units)  # fmt: skip
        self.runners: dict[str, LiveRunner] = {}
        self.usual_pace = FieldPace(self.runners)  # where a late first fix is (live/fieldpace.py)
        self.placed_pace_mps: dict[str, float] = {}  # bib -> the pace that placed them, kept
        self.view = PublicView()  # what the public sees (live/privacy.py)
        self.hidden: set[str] = set()  # bibs of the runners who opted out of public views
        self.runner_tokens: dict[str, str] = {}  # bib -> that runner's own ingest token
        self.field: FieldWatch | None = None  # the history's ETAs (live/fieldwatch.py)
        self.passes = Passes(self.station_m)  # every runner's splits (live/passes.py)
        self.out_since: dict[str, float] = {}  # bib -> their last fix when they were out (DNF)

    @classmethod
    def build(cls, record: RaceRecord, strict: bool = True) -> LiveRace:
        """Read a stored race and model its course: the slow part, safe in a worker thread.
        The record gets the race file's name and start. ``strict``: a station that cannot
        be placed is an error (a race sent now), else left out (one stored before the checks
        of race_course.py, loaded again mid-race)."""
        race, course = load_record(record)
        return cls(replace(record, name=race.name, start_ts=race.start_ts), race, course, strict)

    @property
    def id(self) -> str:
        return self.record.id

    def start_s(self, runner: LiveRunner) -> float:
        start = runner.record.start_ts
        return self.record.start_ts if start is None else start

    def passed_s(self, runner: LiveRunner, station: int) -> float | None:
        """When the runner passed station ``station`` (its split; the finish's, their finish:
        their progress may be held a ping short of the line), None: not known (their first
        fix was already past it)."""
        if runner.finished_s is not None and station == len(self.stations) - 1:
            return runner.finished_s
        row = self.passes.splits.get(runner.bib)
        if station < 0 or row is None or station >= len(row) or math.isnan(row[station]):
            return None
        return self.start_s(runner) + float(row[station])

    def add_runner(self, record: RunnerRecord) -> LiveRunner:
        old = self.runners.get(record.bib)
        if old is not None:
            if record.dnf and not old.record.dnf:  # out now: nothing raised after that fix
                self.out_since[record.bib] = old.last_time_s or -math.inf
            old.record = record  # keep the engine state: only the registration changed
            old.start_ts = self.record.start_ts if record.start_ts is None else record.start_ts
            return old
        start = self.record.start_ts if record.start_ts is None else record.start_ts
        runner = LiveRunner(record, self.course, start_ts=start, usual_pace=self.usual_pace)
        runner.matcher.placed_pace_mps = self.placed_pace_mps.pop(record.bib, None)
        self.runners[record.bib] = runner
        return runner

    def lap(self, progress_m: float) -> int:
        """The lap a runner ``progress_m`` along is on: the next one ``LAP_PAST_M`` past its
        mark (resting in a corral, a few metres either side of the mark by GPS, a runner
        showed the lap they ran and the next, from one update to the next)."""
        return 1 + bisect.bisect_right(self.course.lap_marks_m, progress_m - LAP_PAST_M)

    def around(self, progress_m: float, finished: bool = False) -> tuple[int, int]:
        """Indexes of the last station passed and of the next one (-1: none); a runner
        ``finished`` has passed the last (their progress may be held a ping short of the
        line's end: course.at_finish_point)."""
        if finished:
            return len(self.stations) - 1, -1
        k = reached(self.station_m, progress_m)  # (at a station within 100 m before it)
        return k - 1, (k if k < len(self.stations) else -1)


class Registry:
    """Every race in memory, and which runner each device belongs to."""

    def __init__(self) -> None:
        self.races: dict[str, LiveRace] = {}
        self.devices: dict[str, tuple[str, str]] = {}

    def add_race(self, record: RaceRecord) -> LiveRace:
        """Follow a stored race again (at a start)."""
        return self.put_race(LiveRace.build(record, strict=False))

    def put_race(self, live: LiveRace) -> LiveRace:
        """Follow a race built by :meth:`LiveRace.build` (its runners kept if its course is
        the same)."""
        record = live.record
        old = self.races.get(record.id)
        if old is not None:
            live.view, live.hidden, live.runner_tokens = old.view, old.hidden, old.runner_tokens
            live.out_since = old.out_since
        if old is not None and old.record.course_bytes == record.course_bytes:
            live.runners, live.usual_pace = old.runners, old.usual_pace
            if old.station_m == live.station_m:
                live.passes = old.passes
            else:  # other stations: from the fixes each runner's engine keeps
                for bib, runner in live.runners.items():
                    live.passes.backfill(bib, live.start_s(runner), *runner.progress_series())
        elif old is not None:  # another course: each rebuilt on it is placed by the same pace
            live.placed_pace_mps = {bib: pace for bib, r in old.runners.items()
                                    if (pace := r.matcher.placed_pace_mps) is not None}  # fmt: skip
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

    def forget_runner(self, race_id: str, bib: str) -> None:
        """A runner taken out of the race (race HQ removed them): their devices are nobody's."""
        race = self.races[race_id]
        runner = race.runners.pop(bib, None)
        for d in () if runner is None else runner.record.devices:
            if self.devices.get(d) == (race_id, bib):
                del self.devices[d]
        race.passes.forget(bib)
        race.out_since.pop(bib, None)
        race.hidden.discard(bib)
        race.runner_tokens.pop(bib, None)
        if race.field is not None:
            race.field.forecasts.pop(bib, None)

    def forget_race(self, race_id: str) -> None:
        """A race removed: its runners' devices are nobody's."""
        self.races.pop(race_id, None)
        self.devices = {d: key for d, key in self.devices.items() if key[0] != race_id}

    def only_runner(self, decoded: Decoded, race_id: str, bib: str) -> Decoded:
        """The fixes of one runner (given by bib or by one of their devices); the others are
        problems: a runner's own token posts that runner's fixes only."""
        out = Decoded(problems=list(decoded.problems))

        def theirs(said: Fix | DeviceEvent) -> bool:
            owner = self.devices.get(said.device_id or "") if said.bib is None else None
            return said.bib == bib or owner == (race_id, bib)

        # what their device said (an SOS, a message) goes with their fixes; anyone else's
        # has no fix of its own to refuse by position, so it is left out with the others'
        out.events = [e for e in decoded.events if theirs(e)]
        for fix, i in zip(decoded.fixes, decoded.index, strict=True):
            if theirs(fix):
                out.add(fix, i)
            else:
                hint = "post other runners' fixes with the race's ingest token"
                out.problems.append(
                    FixProblem(i, f"[{i}]", f"this token posts the fixes of bib {bib} only", hint)
                )
        return out

    def owner(self, device_id: str, protocol: str = "") -> tuple[LiveRace, LiveRunner] | None:
        """The runner of a device; over OsmAnd, where the id is the credential, never a
        satellite messenger's published IMEI or ESN."""
        key = self.devices.get(device_id)
        if protocol == "osmand" and published_id(device_id):
            return None
        if key is None:
            return None
        race = self.races[key[0]]
        return race, race.runners[key[1]]


def shown_id(device_id: str | None, keep: int = 64) -> str:
    """A device id as it may be stored and shown when nobody registered it: a stranger may
    send megabytes as an id; ``keep`` characters are enough to recognise a real one.

    >>> shown_id("x" * 100, keep=4)
    'xxxx… (100 characters)'
    """
    text = device_id or ""
    return text if len(text) <= keep else f"{text[:keep]}… ({len(text)} characters)"
