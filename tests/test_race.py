"""The race file: both syntaxes, the example, and a clear error for each kind of mistake."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from coursewatch.errors import RaceFileError
from coursewatch.race import Race, load_race, parse_elapsed_s

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "western_states_100.race.yaml"
START_TS = datetime(2024, 9, 14, 4, 30, tzinfo=UTC).timestamp()

YAML = """\
name: Out and Back
course: courses/oab.gpx
start: 2024-09-14T06:30:00+02:00
stations:
  - {name: Col, lat: 45.92, lon: 6.87, cutoff: 4:30}
  - {name: Turnaround, km: 25, cutoff: "2024-09-14T13:00:00+02:00"}
  - {name: Col, pass: 2, lat: 45.92, lon: 6.87, cutoff: "2024-09-14T16:00:00"}
  - {name: Finish, distance_m: 50000, cutoff: "30:00"}
reference_splits:
  Winner 2023:
    - {station: Col, elapsed: "01:35:10"}
    - {station: Col, pass: 2, elapsed: "03:10:45"}
"""

TOML = """\
name = "Out and Back"
course = "oab.kml"
start = 2024-09-14T06:30:00+02:00

[[stations]]
name = "Turnaround"
km = 25.0
cutoff = "06:30"

[[stations]]
name = "Finish"
km = 50
cutoff = 12:00:00
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, name: str = "race.yaml") -> Race:
    return load_race(write(tmp_path, name, text))


def test_yaml_race(tmp_path: Path) -> None:
    race = load(tmp_path, YAML)
    assert race.name == "Out and Back"
    assert race.course_path == tmp_path / "courses" / "oab.gpx"
    assert race.start_ts == START_TS
    col, turn, col2, finish = race.stations
    # Unquoted 4:30 is an elapsed time, not YAML 1.1's base-60 integer 270.
    assert col.cutoff_elapsed_s == 4.5 * 3600 and col.distance_m is None
    assert (col.lat, col.lon, col.pass_number) == (45.92, 6.87, 1)
    assert turn.distance_m == 25_000.0 and turn.cutoff_elapsed_s == 6.5 * 3600
    # A cut-off without a timezone is a clock time in the start's timezone.
    assert col2.pass_number == 2 and col2.cutoff_elapsed_s == 9.5 * 3600
    assert finish.distance_m == 50_000.0 and finish.cutoff_ts == START_TS + 30 * 3600
    assert race.units == "km"  # (none given)
    assert (
        load(
            tmp_path, YAML.replace("name: Out and Back\n", "name: Out and Back\nunits: mi\n")
        ).units
        == "mi"
    )  # its pages in miles until a reader chooses
    # a time zone by name: the start without an offset is its clock, summer time included,
    # and so is a cut-off's date and time without one
    named = load(tmp_path, YAML.replace("+02:00\n", "\ntimezone: Europe/Paris\n"))
    assert named.start_ts == START_TS and named.start.tzname() == "CEST"
    assert named.stations[2].cutoff_ts == START_TS + 9.5 * 3600
    utc = load(tmp_path, YAML.replace("06:30:00+02:00\n", "04:30:00Z\ntimezone: Europe/Paris\n"))
    assert utc.start_ts == START_TS and utc.start.tzname() == "CEST"  # UTC: as given
    for night in ("2024-03-31T02:30:00", "2024-10-27T02:30:00"):  # skipped, then repeated
        with pytest.raises(RaceFileError, match="skipped or repeated that night"):
            load(tmp_path, YAML.replace("2024-09-14T06:30:00+02:00\n",
                                        f"{night}\ntimezone: Europe/Paris\n"))  # fmt: skip
    # ... and so is a cut-off's date and time in a zone, the night before such a night
    for day, night in (
        ("2024-03-30", "2024-03-31T02:30:00"),
        ("2024-10-26", "2024-10-27T02:30:00"),
    ):
        text = YAML.replace(
            "2024-09-14T06:30:00+02:00\n", f"{day}T06:30:00\ntimezone: Europe/Paris\n"
        )
        text = text.replace("2024-09-14T16:00:00", night).replace(
            "2024-09-14T13:00:00+02:00", "6:00"
        )
        with pytest.raises(RaceFileError, match="is skipped or repeated in Europe/Paris"):
            load(tmp_path, text)
    # a race run in miles lists its aid stations by the mile
    miles = load(tmp_path, YAML.replace("km: 25,", "mi: 15.5,"))
    assert miles.stations[1].distance_m == pytest.approx(15.5 * 1609.344)
    (splits,) = race.reference_splits
    assert splits.name == "Winner 2023"
    assert [(s.station, s.pass_number, s.elapsed_s) for s in splits.splits] == [
        ("Col", 1, 5710.0),
        ("Col", 2, 11445.0),
    ]


def test_toml_race_by_extension_and_by_content(tmp_path: Path) -> None:
    for name in ("race.toml", "race.txt"):
        race = load(tmp_path, TOML, name)
        assert race.start_ts == START_TS
        assert [s.cutoff_elapsed_s for s in race.stations] == [6.5 * 3600, 12 * 3600]


def test_yaml_by_content(tmp_path: Path) -> None:
    assert load(tmp_path, YAML, "race.conf").name == "Out and Back"


def test_the_western_states_example_loads() -> None:
    race = load_race(EXAMPLE)
    assert race.course_path.name == "western_states_100.gpx"
    assert race.course_path.parent == EXAMPLE.parent
    names = [s.name for s in race.stations]
    for name in ("Robinson Flat", "Foresthill", "Rucky Chucky", "Pointed Rocks", "Robie Point"):
        assert name in names
    assert race.stations[-1].cutoff_elapsed_s == 30 * 3600
    (record,) = race.reference_splits
    assert record.splits[-1].elapsed_s == parse_elapsed_s("14:09:28")


@pytest.mark.parametrize(
    "change, field",
    [
        (("name: Out and Back\n", ""), "'name'"),
        (("start: 2024-09-14T06:30:00+02:00", "start: 2024-09-14T06:30:00"), "timezone"),
        (("start: 2024-09-14T06:30:00+02:00", "start: tomorrow"), "'start'"),
        (("cutoff: 4:30", "cutoff: 25:70"), "stations[0] (Col).cutoff"),
        (("cutoff: 4:30", "cutoff: 2024-09-13T10:00:00+02:00"), "not after the start"),
        (("lat: 45.92, lon: 6.87, cutoff", "lat: 45.92, cutoff"), "both lat and lon"),
        (("lat: 45.92, lon: 6.87, cutoff", "lat: 95, lon: 6.87, cutoff"), "stations[0] (Col).lat"),
        (("{name: Col, pass: 2,", "{name: Col,"), "listed twice"),
        (("km: 25", "km: 60"), "course order"),
        (("km: 25", "km: 25, distance_m: 25000"), "not km and distance_m"),
        (("km: 25", "km: 25, mi: 15.5"), "not km and mi"),
        (("km: 25", "kms: 25"), "unknown key(s) kms"),
        (("{name: Finish, distance_m: 50000,", "{name: Finish,"), "needs its place"),
        (("stations:", "staions:"), "unknown key(s) staions"),
        (('"01:35:10"', "1h35"), "elapsed"),
        (("{station: Col, elapsed", "{station: Kol, elapsed"), "not one of the race's stations"),
        (("pass: 2, elapsed", "pass: 3, elapsed"), "pass 3"),
        (("name: Out and Back\n", "name: Out and Back\nunits: miles\n"), "'units'"),
        (("+02:00\n", "+02:00\ntimezone: Europe/Pariss\n"), "'Europe/Pariss' is not a time zone"),
        (("+02:00\n", "+02:00\ntimezone: America/Denver\n"), "is not America/Denver's"),
    ],
)
def test_mistakes_name_the_field_and_the_file(
    tmp_path: Path, change: tuple[str, str], field: str
) -> None:
    old, new = change
    assert old in YAML
    with pytest.raises(RaceFileError) as info:
        load(tmp_path, YAML.replace(old, new, 1))
    assert field in str(info.value)
    assert str(tmp_path / "race.yaml") in str(info.value)


def test_syntax_errors_and_wrong_shapes(tmp_path: Path) -> None:
    with pytest.raises(RaceFileError, match="invalid YAML"):
        load(tmp_path, "name: [unclosed\n")
    with pytest.raises(RaceFileError, match="invalid TOML"):
        load(tmp_path, "name = \n", "race.toml")
    with pytest.raises(RaceFileError, match="mapping"):
        load(tmp_path, "- just\n- a list\n")
    with pytest.raises(RaceFileError, match="no such race file"):
        load_race(tmp_path / "missing.yaml")


def test_parse_elapsed_s() -> None:
    assert parse_elapsed_s("00:05") == 300.0
    assert parse_elapsed_s("100:00:01.5") == 360_001.5
    for bad in ("5", "1:5", "10:60", "aa:bb"):
        with pytest.raises(ValueError):
            parse_elapsed_s(bad)
