"""The race file: what a race director knows before the start, in one small YAML or TOML file.

It names the course file, the start time and the aid stations with their cut-offs, so that the
course, the tracker and the reports agree on them. See docs/race-file.md for the format. The
course itself is not loaded here: ``Race.course_path`` is resolved against the race file's folder
and read by the caller.

>>> parse_elapsed_s("30:00")
108000.0
>>> parse_elapsed_s("14:09:28")
50968.0
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from coursewatch.errors import RaceFileError
from coursewatch.race_yaml import parse_text
from coursewatch.units import M_PER_MI

_RACE_KEYS = {"name", "course", "start", "timezone", "stations", "reference_splits", "history",
              "units"}  # fmt: skip
_STATION_KEYS = {"name", "km", "mi", "distance_m", "lat", "lon", "cutoff", "pass", "aliases"}
_PER_M = {"km": 1000.0, "mi": M_PER_MI, "distance_m": 1.0}  # a station's distance, in ...
_HISTORY_KEYS = {"results", "edition", "changed"}
_SPLIT_KEYS = {"station", "elapsed", "pass"}
# (hours up to 6 digits: 114 years; 400 nines overflowed a float: a 500, a traceback)
_ELAPSED = re.compile(r"^(\d{1,6}):([0-5]\d)(?::([0-5]\d(?:\.\d+)?))?$")


@dataclass(frozen=True)
class RaceStation:
    """An aid station (or checkpoint) and, when given, its cut-off.

    Located by course distance (``distance_m``), by position (``lat``, ``lon``), or both.
    ``pass_number`` tells visits apart when the course passes the same station several times.
    """

    name: str
    distance_m: float | None = None
    lat: float | None = None
    lon: float | None = None
    cutoff_ts: float | None = None
    cutoff_elapsed_s: float | None = None
    pass_number: int = 1
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReferenceSplit:
    """Elapsed time from the start at one station visit."""

    station: str
    elapsed_s: float
    pass_number: int = 1


@dataclass(frozen=True)
class ReferenceSplits:
    """A named set of splits to compare runners with ("Course record 2019")."""

    name: str
    splits: tuple[ReferenceSplit, ...]


@dataclass(frozen=True)
class HistoryEdition:
    """An earlier edition's results (a split table, see :mod:`coursewatch.splits`).

    ``changed``: the stations whose leg *into* them ran another route that year; the edition
    weighs less for predictions across them (docs/eta.md, "History").
    """

    edition: str
    results_path: Path
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Race:
    """A race as its race file describes it; ``start`` is timezone-aware."""

    name: str
    course_path: Path
    start: datetime
    stations: tuple[RaceStation, ...] = ()
    reference_splits: tuple[ReferenceSplits, ...] = ()
    history: tuple[HistoryEdition, ...] = ()
    units: str = "km"  # what its pages show first: "mi" for a race run in miles

    @property
    def start_ts(self) -> float:
        """The start as epoch seconds (UTC)."""
        return self.start.timestamp()


def _one_time(local: datetime) -> bool:
    """A local time that happens exactly once: not skipped (spring forward), not repeated
    (fall back), in its zone."""
    again = datetime.fromtimestamp(local.timestamp(), local.tzinfo).replace(tzinfo=None)
    once = local.utcoffset() == local.replace(fold=1).utcoffset()
    return once and again == local.replace(tzinfo=None)


def load_race(path: str | Path) -> Race:
    """Read and validate a race file (YAML or TOML, told apart by extension, else content)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RaceFileError("no such race file: check the path", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RaceFileError(
            f"cannot read the race file ({exc}): save it as UTF-8 text", path
        ) from None
    return parse_race(text, path)


def parse_race(text: str, path: str | Path) -> Race:
    """A race file's text; ``path`` is where it is (or a name ending in its suffix): errors name
    it, its suffix tells YAML from TOML, and the course file is found beside it."""
    path = Path(path)
    return _Validator(path).race(parse_text(text, path))


def parse_elapsed_s(text: str) -> float:
    """``"HH:MM"`` or ``"HH:MM:SS"`` (hours may exceed 24) -> seconds; ValueError otherwise."""
    match = _ELAPSED.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not an elapsed time HH:MM or HH:MM:SS")
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600.0 + int(minutes) * 60.0 + float(seconds or 0)


class _Validator:
    """Turns parsed YAML/TOML into a Race; every message names the field and the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, field: str, message: str) -> RaceFileError:
        return RaceFileError(f"field '{field}': {message}", self.path)

    def race(self, data: object) -> Race:
        if not isinstance(data, Mapping):
            raise RaceFileError(
                "a race file is a mapping with keys name, course, start and stations; "
                "see docs/race-file.md",
                self.path,
            )
        self.check_keys(data, _RACE_KEYS, "(top level)")
        name = self.text(data, "name", "name")
        course = self.text(data, "course", "course")
        start = self.start(data.get("start"), data.get("timezone"))
        stations = self.stations(data.get("stations", []), start)
        splits = self.reference_splits(data.get("reference_splits", {}), stations)
        history = self.history(data.get("history", []), {s.name for s in stations})
        units = data.get("units", "km")
        if units not in ("km", "mi"):
            raise self.fail("units", f"{str(units)[:20]!r} is not km or mi: give one of them")
        return Race(
            name=name,
            course_path=self.path.parent / course,
            start=start,
            stations=stations,
            reference_splits=splits,
            history=history,
            units=str(units),
        )

    def check_keys(self, data: Mapping[Any, Any], allowed: set[str], where: str) -> None:
        unknown = sorted(str(k) for k in data if k not in allowed)
        if unknown:
            raise self.fail(
                where,
                f"unknown key(s) {', '.join(unknown)} (a typo?); allowed: "
                f"{', '.join(sorted(allowed))}",
            )

    def text(self, data: Mapping[Any, Any], key: str, field: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field, f"required, as non-empty text (got {value!r})")
        return value.strip()

    def number(self, value: object, field: str, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise self.fail(field, f"must be a number (got {value!r})")
        if not low <= value <= high:
            raise self.fail(field, f"must be between {low:g} and {high:g} (got {value!r})")
        return float(value)

    def start(self, value: object, zone: object = None) -> datetime:
        """The start, on the race's clock: ``timezone`` (a name such as America/Denver: its
        daylight saving time too, its abbreviation shown) when given, else its own offset."""
        hint = ('write it as ISO 8601 with a timezone, e.g. "2019-06-29T05:00:00-07:00", or '
                "give timezone: America/Los_Angeles")  # fmt: skip
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                raise self.fail("start", f"{value!r} is not a date and time: {hint}") from None
        if not isinstance(value, datetime):
            raise self.fail("start", f"required (got {value!r}): {hint}")
        if zone is not None:
            tz = self.zone(zone)
            local = value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)
            if value.tzinfo is None and not _one_time(local):
                said = f"{value:%H:%M} is skipped or repeated that night in {zone}: give its offset"
                raise self.fail("start", said)
            offset = value.utcoffset()
            if offset not in (None, timedelta(0), local.utcoffset()):  # (UTC, Z: as given)
                raise self.fail("start", f"its offset ({value:%z}) is not {zone}'s on that day "
                                f"({local:%z}): leave the offset out, or correct it")  # fmt: skip
            value = local
        if value.tzinfo is None:
            raise self.fail("start", f"has no timezone: {hint}")
        return value

    def zone(self, name: object) -> ZoneInfo:
        hint = "give a time zone name such as America/Los_Angeles or Europe/Paris"
        try:
            return ZoneInfo(str(name).strip())
        except (ZoneInfoNotFoundError, ValueError, OSError):  # (a folder: "America")
            raise self.fail("timezone", f"{str(name)[:40]!r} is not a time zone: {hint}") from None

    def stations(self, value: object, start: datetime) -> tuple[RaceStation, ...]:
        if not isinstance(value, list):
            raise self.fail("stations", "must be a list of stations (name, km or lat/lon, ...)")
        stations = [self.station(item, i, start) for i, item in enumerate(value)]
        seen: set[tuple[str, int]] = set()
        last_m, last_name = -1.0, ""
        for s in stations:
            if (s.name, s.pass_number) in seen:
                raise self.fail(
                    "stations",
                    f"{s.name!r} pass {s.pass_number} is listed twice; give repeated visits "
                    "`pass: 2`, `pass: 3`, ...",
                )
            seen.add((s.name, s.pass_number))
            if s.distance_m is not None:
                if s.distance_m < last_m:
                    raise self.fail(
                        "stations",
                        f"{s.name!r} at {s.distance_m / 1000:g} km comes after {last_name!r} at "
                        f"{last_m / 1000:g} km: list stations in course order",
                    )
                last_m, last_name = s.distance_m, s.name
        return tuple(stations)

    def station(self, item: object, index: int, start: datetime) -> RaceStation:
        where = f"stations[{index}]"
        if not isinstance(item, Mapping):
            raise self.fail(where, "must be a mapping with name and km (or lat/lon)")
        self.check_keys(item, _STATION_KEYS, where)
        name = self.text(item, "name", f"{where}.name")
        where = f"stations[{index}] ({name})"
        given = [k for k in _PER_M if k in item]
        if len(given) > 1:
            raise self.fail(where, f"give one of km, mi or distance_m, not {' and '.join(given)}")
        distance_m = None
        if given:  # (a race run in miles lists its aid stations by the mile)
            key = given[0]
            per_m = _PER_M[key]
            distance_m = per_m * self.number(item[key], f"{where}.{key}", 0.0, 1e7 / per_m)
        lat = lon = None
        if ("lat" in item) != ("lon" in item):
            raise self.fail(where, "give both lat and lon, or neither")
        if "lat" in item:
            lat = self.number(item["lat"], f"{where}.lat", -90.0, 90.0)
            lon = self.number(item["lon"], f"{where}.lon", -180.0, 180.0)
        if distance_m is None and lat is None:
            raise self.fail(where, "needs its place: km, mi, distance_m, or lat and lon")
        cutoff_ts = cutoff_elapsed_s = None
        if item.get("cutoff") is not None:
            cutoff_ts = self.cutoff_ts(item["cutoff"], f"{where}.cutoff", start)
            cutoff_elapsed_s = cutoff_ts - start.timestamp()
        return RaceStation(
            name=name,
            distance_m=distance_m,
            lat=lat,
            lon=lon,
            cutoff_ts=cutoff_ts,
            cutoff_elapsed_s=cutoff_elapsed_s,
            pass_number=self.pass_number(item.get("pass", 1), f"{where}.pass"),
            aliases=self.names(item.get("aliases", []), f"{where}.aliases"),
        )

    def names(self, value: object, field: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(field, f'must be a list of names, e.g. ["Courm1"] (got {value!r})')
        return tuple(v.strip() for v in value)

    def history(self, value: object, known: set[str]) -> tuple[HistoryEdition, ...]:
        hint = 'a list of {results: "utmb_2016.csv", edition: "2016"} (changed: [stations])'
        if not isinstance(value, list):
            raise self.fail("history", f"must be {hint}")
        editions = []
        for i, item in enumerate(value):
            where = f"history[{i}]"
            if isinstance(item, str):
                item = {"results": item}
            if not isinstance(item, Mapping):
                raise self.fail(where, f"must be {hint}")
            self.check_keys(item, _HISTORY_KEYS, where)
            results = self.text(item, "results", f"{where}.results")
            edition = str(item.get("edition") or Path(results).stem)
            changed = self.names(item.get("changed", []), f"{where}.changed")
            unknown = [c for c in changed if c not in known]
            if unknown:
                raise self.fail(
                    f"{where}.changed",
                    f"{unknown[0]!r} is not one of the race's stations: use a name exactly as "
                    "listed under stations",
                )
            editions.append(HistoryEdition(edition, self.path.parent / results, changed))
        return tuple(editions)

    def pass_number(self, value: object, field: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(field, f"must be a whole number 1, 2, 3... (got {value!r})")
        return value

    def cutoff_ts(self, value: object, field: str, start: datetime) -> float:
        hint = ('give elapsed time from the start as "HH:MM" (e.g. "30:00") or a date and '
                'time such as "2019-06-30T11:00:00-07:00"')  # fmt: skip
        when: datetime | None = None
        if isinstance(value, time):  # a TOML local time: read as elapsed
            return start.timestamp() + value.hour * 3600 + value.minute * 60 + value.second
        if isinstance(value, datetime):
            when = value
        elif isinstance(value, str) and _ELAPSED.match(value.strip()):
            return start.timestamp() + parse_elapsed_s(value)
        elif isinstance(value, str):
            try:
                when = datetime.fromisoformat(value.strip())
            except ValueError:
                raise self.fail(field, f"{value!r} is not a time: {hint}") from None
        if when is None:
            raise self.fail(field, f"{value!r} is not a time: {hint}")
        if when.tzinfo is None:  # a clock time in the race's own timezone
            when = when.replace(tzinfo=start.tzinfo)
            if isinstance(start.tzinfo, ZoneInfo) and not _one_time(when):
                raise self.fail(field, f"{value!r} is skipped or repeated in {start.tzinfo.key}:"
                                " give its offset, or the time from the start")  # fmt: skip
        if when <= start:
            raise self.fail(field, f"{value!r} is not after the start ({start.isoformat()})")
        if when - start > timedelta(days=30):
            raise self.fail(field, f"{value!r} is more than 30 days after the start: check it")
        return when.timestamp()

    def reference_splits(
        self, value: object, stations: tuple[RaceStation, ...]
    ) -> tuple[ReferenceSplits, ...]:
        if not isinstance(value, Mapping):
            raise self.fail(
                "reference_splits",
                'must map a name to a list of splits, e.g. "Course record 2019": '
                '[{station: Foresthill, elapsed: "07:30:00"}]',
            )
        known = {(s.name, s.pass_number) for s in stations}
        sets = []
        for set_name, items in value.items():
            where = f"reference_splits[{set_name!r}]"
            if not isinstance(items, list):
                raise self.fail(where, "must be a list of {station, elapsed} entries")
            splits = tuple(self.split(item, f"{where}[{i}]", known) for i, item in enumerate(items))
            sets.append(ReferenceSplits(name=str(set_name), splits=splits))
        return tuple(sets)

    def split(self, item: object, where: str, known: set[tuple[str, int]]) -> ReferenceSplit:
        if not isinstance(item, Mapping):
            raise self.fail(where, "must be a mapping {station, elapsed}")
        self.check_keys(item, _SPLIT_KEYS, where)
        station = self.text(item, "station", f"{where}.station")
        pass_number = self.pass_number(item.get("pass", 1), f"{where}.pass")
        if (station, pass_number) not in known:
            raise self.fail(
                f"{where}.station",
                f"{station!r} (pass {pass_number}) is not one of the race's stations: "
                "use a name exactly as listed under stations",
            )
        elapsed = item.get("elapsed")
        try:
            elapsed_s = parse_elapsed_s(elapsed) if isinstance(elapsed, str) else math.nan
        except ValueError:
            elapsed_s = math.nan
        if math.isnan(elapsed_s):
            raise self.fail(f"{where}.elapsed", f'{elapsed!r} is not "HH:MM:SS" (quote it)')
        return ReferenceSplit(station=station, elapsed_s=elapsed_s, pass_number=pass_number)
