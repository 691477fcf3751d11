"""A race's files as race HQ takes them: the race file, and the course file it names, read
and checked here first, so a mistake reads as one line naming the file (``race create``,
``replay``) before anything is sent."""

from __future__ import annotations

from pathlib import Path

from coursewatch.errors import InputError, RaceFileError
from coursewatch.formats.load import course_from_bytes
from coursewatch.race import load_race
from coursewatch.race_course import station_passes


def course_only_race(name: str, course_name: str, start_iso: str) -> str:
    """The text of a race file for a race given as a course file and a start time only."""
    return f"name: {name!r}\ncourse: {course_name!r}\nstart: {start_iso!r}\n"


def read_race_files(race_file: Path) -> tuple[str, str, bytes, str]:
    """Race text, its suffix, course bytes and suffix, for :meth:`Server.create_race`, once
    every station is placed on the course as race HQ places them (a station it cannot place,
    latitude and longitude swapped, say: RaceFileError naming the race file)."""
    race = load_race(race_file)
    try:
        course = race.course_path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read the course file the race file names ({exc.strerror})", race.course_path
        ) from None
    try:
        station_passes(race, course_from_bytes(course, race.course_path.name))
    except RaceFileError as exc:
        raise RaceFileError(exc.detail, race_file) from None
    text = race_file.read_text(encoding="utf-8")
    return text, race_file.suffix.lower(), course, race.course_path.suffix.lower()
