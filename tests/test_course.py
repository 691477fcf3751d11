from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from coursewatch.course import build_course, climb_m
from coursewatch.errors import EmptyDataError, RaceFileError
from coursewatch.formats import RawPoints, Waypoint
from coursewatch.geo import LocalFrame
from coursewatch.race import Race, RaceStation
from coursewatch.race_course import apply_race, station_passes
from coursewatch.sim.simulate import straight_course, trail_course


def raw_from_xy(x: np.ndarray, y: np.ndarray, waypoints: tuple[Waypoint, ...] = ()) -> RawPoints:
    frame = LocalFrame.centred(45.0, 6.0)
    lat, lon = frame.to_latlon(x, y)
    return RawPoints.from_lists("test", list(lat), list(lon), waypoints=waypoints)


def waypoint_at(name: str, x: float, y: float) -> Waypoint:
    (lat,), (lon,) = LocalFrame.centred(45.0, 6.0).to_latlon([x], [y])
    return Waypoint(name, float(lat), float(lon))


def test_laps_give_one_pass_per_lap_and_the_start_station_every_lap_end() -> None:
    # a 4 km square run three times
    side = np.linspace(0, 1000, 51)
    zeros = np.zeros(50)
    x = np.concatenate([side[:-1], zeros + 1000, side[::-1][:-1], zeros])
    y = np.concatenate([zeros, side[:-1], zeros + 1000, side[::-1][:-1]])
    x3 = np.concatenate([np.tile(x, 3), [0.0]])
    y3 = np.concatenate([np.tile(y, 3), [0.0]])
    wpts = (waypoint_at("Start", 0, 0), waypoint_at("Far corner", 1000, 1000))
    c = build_course(raw_from_xy(x3, y3, wpts))
    assert c.length_m == pytest.approx(12_000, rel=1e-3)
    assert c.loop
    start, corner = c.stations
    assert [round(p) for p in start.passes_m] == [0, 4000, 8000, 12000]
    assert [round(p) for p in corner.passes_m] == [2000, 6000, 10000]
    assert c.self_overlap > 0.95


def test_out_and_back_station_has_out_and_back_passes() -> None:
    x = np.concatenate([np.arange(0, 5001, 20.0), np.arange(4980, -1, -20.0)])
    c = build_course(raw_from_xy(x, np.zeros_like(x), (waypoint_at("Aid", 2000, 30),)))
    assert not c.loop or c.length_m > 9000
    (aid,) = c.stations
    assert [round(p) for p in aid.passes_m] == [2000, 8000]


def test_point_to_point_course_does_not_overlap() -> None:
    c = trail_course(20_000.0, seed=3)
    assert not c.loop
    assert c.self_overlap < 0.05
    assert c.ascent_descent_m is not None


def test_consecutive_duplicates_and_zero_points_are_dropped() -> None:
    raw = RawPoints.from_lists("t", [45.0, 45.0, 0.0, 45.001], [6.0, 6.0, 0.0, 6.0])
    c = build_course(raw)
    assert len(c.lat) == 2


def test_course_of_one_distinct_point_is_an_error() -> None:
    raw = RawPoints.from_lists("t", [45.0, 45.0], [6.0, 6.0])
    with pytest.raises(EmptyDataError, match="at least two distinct points"):
        build_course(raw, "one.gpx")


def test_climb_ignores_noise_below_hysteresis() -> None:
    up, down = climb_m(np.array([100.0, 102, 99, 103, 100, 150]))
    assert (up, down) == (50.0, 0.0)


def test_apply_race_places_stations_by_distance_clamped_to_the_course() -> None:
    c = straight_course(10_000.0)
    race = Race(
        name="r",
        course_path=c.source,  # type: ignore[arg-type]
        start=__import__("datetime").datetime(2026, 1, 1, tzinfo=__import__("datetime").UTC),
        stations=(RaceStation("Aid", distance_m=4000.0), RaceStation("Finish", 10_300.0)),
    )
    out = apply_race(c, race)
    assert [s.passes_m for s in out.stations] == [(4000.0,), (c.length_m,)]
    # km 50 on a 21 km course (miles, or another course's file) was put at the finish
    far = dataclasses.replace(race, stations=(RaceStation("Beyond", distance_m=30_000.0),))
    with pytest.raises(RaceFileError, match=r"'Beyond' is at km 30\.0, beyond the end"):
        apply_race(c, far)
    # race HQ's stations too: the finish at its official km was beyond every progress (its
    # cut-off episode never ended), and km 50 was taken
    assert station_passes(race, c)[-1].distance_m == c.length_m
    with pytest.raises(RaceFileError, match="beyond the end"):
        station_passes(far, c)


def test_a_ping_by_the_arch_is_at_the_finish_though_the_progress_lags() -> None:
    from coursewatch.course import at_finish_point

    x = np.arange(0.0, 10_001.0, 50.0)
    c = build_course(raw_from_xy(x, np.zeros_like(x)))
    end_x, end_y = c.xy_at(c.length_m)
    lat, lon = c.frame.to_latlon(np.atleast_1d(end_x - 80.0), np.atleast_1d(end_y + 80.0))
    held = np.array([c.length_m - 850.0])  # the matcher held it a ping short
    assert at_finish_point(c, held, lat, lon, tolerance_m=700.0)[0]
    assert not at_finish_point(c, held, lat, lon, tolerance_m=100.0)[0]  # second by second
    assert not at_finish_point(c, held, lat, lon, tolerance_m=225.0)[0]  # a minute apart
    far = np.array([c.length_m - 150.0])  # as near by air as along the line: the progress says
    assert not at_finish_point(c, far, lat, lon, tolerance_m=700.0)[0]


def test_a_station_that_cannot_be_placed_is_an_error_never_left_out() -> None:
    """Race HQ follows runners and cut-offs by its stations: one it cannot place (latitude
    and longitude swapped, a pass the course does not make, one placed before a station
    listed ahead of it) was left out with its cut-off, or put at the start."""
    x = np.concatenate([np.arange(0, 5001, 20.0), np.arange(4980, -1, -20.0)])  # out and back
    c = build_course(raw_from_xy(x, np.zeros_like(x)))
    frame = LocalFrame.centred(45.0, 6.0)

    def at(name: str, x_m: float, y_m: float, **kw: object) -> RaceStation:
        (lat,), (lon,) = frame.to_latlon([x_m], [y_m])
        return RaceStation(name, lat=float(lat), lon=float(lon), **kw)  # type: ignore[arg-type]

    start = __import__("datetime").datetime(2026, 1, 1, tzinfo=__import__("datetime").UTC)
    race = Race(name="r", course_path=c.source, start=start,  # type: ignore[arg-type]
                stations=(at("Aid", 2000, 30), at("Turn", 5000, 0), at("Aid", 2000, 30,
                          pass_number=2), at("Village", 1000, 400)))  # fmt: skip
    with pytest.raises(RaceFileError, match=r"'Village' is at km 1\.00, before 'Aid' .*"
                       r"km 8\.00.*passes it at km 1\.00, km 9\.00: give its pass"):  # fmt: skip
        station_passes(race, c)  # (400 m off the line: its nearest approaches, not left out)
    ok = dataclasses.replace(race, stations=(*race.stations[:3], at("Village", 1000, 400,
                                                                     pass_number=2)))  # fmt: skip
    assert [round(p.distance_m) for p in station_passes(ok, c)] == [2000, 5000, 8000, 9000, 10000]
    for bad, why in (
        ((at("Aid", 2000, 30, pass_number=3),), "'Aid' pass 3: the course passes it 2 time"),
        ((RaceStation("Swapped", lat=6.0, lon=45.0),), r"'Swapped' \(6\.00000, 45\.00000\) is"),
    ):
        with pytest.raises(RaceFileError, match=why):
            station_passes(dataclasses.replace(race, stations=bad), c)
        with pytest.raises(RaceFileError, match=why):
            apply_race(c, dataclasses.replace(race, stations=bad))
    # cut-offs grow along the course
    late = (RaceStation("Aid", distance_m=2000.0, cutoff_ts=start.timestamp() + 7200.0,
                        cutoff_elapsed_s=7200.0),
            RaceStation("Turn", distance_m=5000.0, cutoff_ts=start.timestamp() + 3600.0,
                        cutoff_elapsed_s=3600.0))  # fmt: skip
    with pytest.raises(RaceFileError, match=r"the cut-off of 'Turn' \(1:00:00 from the start\)"):
        station_passes(dataclasses.replace(race, stations=late), c)
    # a race stored before these checks, loaded again mid-race: what fails is left out (it
    # must not stop loading), the rest placed
    kept = station_passes(race, c, strict=False)
    assert [p.name for p in kept] == ["Village", "Aid", "Turn", "Aid", "Finish"], kept
