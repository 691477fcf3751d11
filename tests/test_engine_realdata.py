"""The engine on real races: laps, out-and-back legs, station passes, real deviations."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from coursewatch import EngineConfig, Track, load_course, load_track, match_fixes
from coursewatch.analysis import analyze
from coursewatch.errors import InputError

pytestmark = pytest.mark.realdata


def _pair(data_dir: Path, course: str, track: str):  # type: ignore[no-untyped-def]
    return load_course(data_dir / "courses" / course), load_track(data_dir / "tracks" / track)


def test_twot_every_ping_on_its_lap(data_dir: Path) -> None:
    c, t = _pair(data_dir, "twot_200_2025.gpx", "twot_200_2025_inreach_pings.json")
    r = match_fixes(c, t.time_s, t.lat, t.lon)
    lap_m = c.length_m / 8
    p = r.progress_m[r.matched]
    # progress of the matched pings never goes back more than GPS error at the lot
    assert np.diff(p).min() > -200
    laps = np.floor(np.maximum.accumulate(p) / lap_m)
    assert set(np.diff(laps)) <= {0.0, 1.0}  # no lap skipped, none repeated
    assert laps[0] == 0 and laps[-1] == 7
    # each lap took a plausible time: 6 to 20 hours
    starts = [float(t.time_s[r.matched][np.argmax(laps == k)]) for k in range(8)]
    assert all(6 * 3600 < b - a < 20 * 3600 for a, b in itertools.pairwise(starts))
    # 10-minute pings 1-73 m from the line are no evidence of a cut; one car park, one station
    a = analyze(c, t)
    assert [e.kind for e in a.excursions] == ["off_course"]
    assert {p.station for p in a.passes} == {"TWOT Lot", "Camp Todd", "Water"}


@pytest.mark.parametrize(
    ("course", "track"),
    [
        ("swammie_shuffle_220_2024.gpx", "swammie_shuffle_220_2024_inreach_pings.json"),
        ("ouray_100_2024.gpx", "ouray_100_2024_inreach_pings.json"),
    ],
)
def test_out_and_back_legs_never_confused(data_dir: Path, course: str, track: str) -> None:
    c, t = _pair(data_dir, course, track)
    r = match_fixes(c, t.time_s, t.lat, t.lon)
    p = r.progress_m[r.matched]
    tt = t.time_s[r.matched]
    assert np.diff(p).min() > -500  # never put back on the other leg
    speed = np.diff(p) / np.diff(tt)
    assert speed.max() < 6.0  # never jumped ahead onto the other leg either
    a = analyze(c, t)
    passes = a.passes
    assert [x.course_m for x in passes] == sorted(x.course_m for x in passes)
    legs = [
        (b.course_m - x.course_m) / (b.time - x.time).total_seconds()
        for x, b in itertools.pairwise(passes)
        if b.course_m - x.course_m > 1000  # markers a few metres apart are one place
    ]
    assert max(legs) < 4.0


def _near(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol


def test_utmb_route_version_differences_are_reported(data_dir: Path) -> None:
    c, t = _pair(data_dir, "utmb_170k.gpx", "utmb_2021.gpx")
    a = analyze(c, t)
    big = [e for e in a.excursions if e.max_offset_m > 400]
    found = []
    for lo, hi in ((141_000, 144_500), (148_000, 151_500)):
        hits = [e for e in big if e.left.course_m is not None and lo - 1500 < e.left.course_m < hi]
        assert hits, (lo, [(e.left.course_m, e.max_offset_m) for e in big])
        assert all(e.alerted is not None for e in hits)
        found.extend(hits)
    assert all(450 < e.max_offset_m < 600 for e in found)


def test_dark_sky_inreach_events(data_dir: Path) -> None:
    c, t = _pair(data_dir, "dark_sky_220_2024.gpx", "dark_sky_220_2024_inreach_pings.json")
    a = analyze(c, t)

    def during(h0: str, h1: str):  # type: ignore[no-untyped-def]
        t0 = datetime.fromisoformat(f"2024-04-14T{h0}:00+00:00")
        t1 = datetime.fromisoformat(f"2024-04-14T{h1}:00+00:00")
        return [
            e
            for e in a.excursions
            if e.left.time <= t1 and (e.rejoined is None or e.rejoined.time >= t0)
        ]

    cut = during("06:31", "06:51")
    assert cut and max(e.max_offset_m for e in cut) > 800
    assert _near(cut[0].left.course_m or 0, 230_900, 1500)
    vehicle = during("12:22", "12:52")
    assert vehicle and max(e.max_offset_m for e in vehicle) > 2000
    assert vehicle[0].alerted is not None
    # the shuttle: a shortcut of the course it skipped, not "830 m extra"
    (ride,) = [e for e in vehicle if e.transport is not None]
    assert ride.kind == "shortcut" and -ride.extra_distance_m > 15_000
    assert [e for e in a.excursions if e.transport is not None] == [ride]
    # the last ping, 113 m from the arch, is the finish (held a ping short by the matcher)
    assert a.finish is not None and a.finish.time == datetime(2024, 4, 15, 10, 17, 15, tzinfo=UTC)
    parallel = during("15:57", "17:57")
    assert parallel and max(e.max_offset_m for e in parallel) > 300
    assert (
        datetime(2024, 4, 14, 12, 22, tzinfo=UTC)
        <= (vehicle[0].alerted.time)
        <= datetime(  # type: ignore[union-attr]
            2024, 4, 14, 12, 52, tzinfo=UTC
        )
    )


def test_templiers_real_detours_and_no_false_alarm(data_dir: Path) -> None:
    c, t = _pair(
        data_dir, "grand_trail_des_templiers_2022.gpx", "grand_trail_des_templiers_2022.gpx"
    )
    a = analyze(c, t)
    # the aid-station spur at km 22.6 and the 201 m loop at km 41.6 (SOURCES.md)
    lefts = [e.left.course_m or 0 for e in a.excursions]
    assert any(_near(s, 22_600, 400) for s in lefts)
    assert any(_near(s, 41_600, 400) for s in lefts)
    assert a.finish is not None


@pytest.mark.parametrize(
    ("course", "track"),
    [
        ("dark_sky_220_2024.gpx", "dark_sky_220_2024_inreach_pings.json"),
        ("twot_200_2025.gpx", "twot_200_2025_inreach_pings.json"),
        ("swammie_shuffle_220_2024.gpx", "swammie_shuffle_220_2024_inreach_pings.json"),
        ("ouray_100_2024.gpx", "ouray_100_2024_inreach_pings.json"),
    ],
)
def test_the_reachable_course_adds_no_alarm_between_satellite_pings(
    data_dir: Path, course: str, track: str
) -> None:
    # 5-10 minutes between pings: the straight line between two is much shorter than the
    # trail, so what a runner can have reached must allow for time, not only distance
    c, t = _pair(data_dir, course, track)
    kinds = ("off_course", "wrong_way", "shortcut")
    with_it = match_fixes(c, t.time_s, t.lat, t.lon)
    without = match_fixes(c, t.time_s, t.lat, t.lon, config=EngineConfig(reach_min_m=1e9))
    assert [(e.kind, e.fix_index) for e in with_it.events if e.kind in kinds] == [
        (e.kind, e.fix_index) for e in without.events if e.kind in kinds
    ]


@pytest.mark.parametrize(
    ("course", "track"),
    [
        ("western_states_100.gpx", "twot_200_2025_inreach_pings.json"),
        ("western_states_100.gpx", "utmb_2021.gpx"),
        ("eiger_ultra_trail_e250_2025.gpx", "duo_etoile_2022.gpx"),
    ],
)
def test_a_track_from_another_race_is_refused(data_dir: Path, course: str, track: str) -> None:
    c, t = _pair(data_dir, course, track)
    with pytest.raises(InputError, match=r"no fix within 1 km of .* is this the right course\?"):
        analyze(c, t)


@pytest.mark.parametrize(
    ("course", "track", "nth"),
    [
        ("utmb_170k.gpx", "utmb_2021.gpx", 2),  # a watch: by the 3rd fix
        ("twot_200_2025.gpx", "twot_200_2025_inreach_pings.json", 1),  # 8 laps: the 2nd ping
        ("swammie_shuffle_220_2024.gpx", "swammie_shuffle_220_2024_inreach_pings.json", 1),
    ],
)
def test_a_tracker_started_mid_race_is_placed_where_it_is(
    data_dir: Path, course: str, track: str, nth: int
) -> None:
    """The first 40 % of the recording cut, the race start known: the runner is placed within
    500 m of where the whole recording puts them, on the right lap or leg."""
    c, t = _pair(data_dir, course, track)
    full = analyze(c, t)
    start = float(full.track.time_s[0])
    cut = t.time_s >= t.time_s[0] + 0.4 * (t.time_s[-1] - t.time_s[0])
    late = Track("late", t.time_s[cut], t.lat[cut], t.lon[cut], None, None)
    a = analyze(c, late, start_ts=start)
    truth = float(np.interp(late.time_s[nth], full.track.time_s, full.progress_m))
    assert abs(float(a.match.progress_m[nth]) - truth) <= 500.0
    assert (a.finish is None) == (full.finish is None)
    if full.finish is not None and a.finish is not None:
        assert a.finish.time == full.finish.time


def test_a_watch_started_a_km_from_the_start_line_at_the_start_is_placed_as_it_runs(
    data_dir: Path,
) -> None:
    """MaxiRace night 2021 with its start known: the watch began 1,007 m from the course's
    first point. The runner is on their way from the start, not a tracker started mid-race:
    placed on the course by its 50th fix, every event along it (a change once held them
    unplaced for 233 fixes, "not on it since the tracker started", and read a 1.7 km cut)."""
    c, t = _pair(data_dir, "maxi_race_annecy.gpx", "maxi_race_night_edition_2021.gpx")
    a = analyze(c, t, start_ts=float(t.time_s[0]))
    assert np.flatnonzero(a.match.matched)[0] <= 50
    assert all(e.at.course_m is not None for e in a.match.events)
    assert all(e.left is None or e.left.course_m is not None for e in a.match.events)
    assert all(e.left.course_m is not None for e in a.excursions)
    assert not [e for e in a.excursions if e.kind == "shortcut" and e.first_fix < 1_000]


@pytest.mark.parametrize(
    ("course", "track", "station"),
    [
        ("utmb_170k.gpx", "utmb_2021.gpx", None),
        ("ouray_100_2024.gpx", "ouray_100_2024_inreach_pings.json", "Fellin Park"),
    ],
)
def test_a_recording_begun_mid_race_passes_no_station_before_it(
    data_dir: Path, course: str, track: str, station: str | None
) -> None:
    """The first 40 % cut, the race start known: the stations (or 10 km marks) before the
    recording are not passed at its first fix (UTMB's km 10-70 read 12:44:28 each), nor spread
    over the step from a first fix off the line to the course (Ouray's, at km 0.00, to km 78:
    Fellin Park to Ironton Park 0'06" a mile apart, and a cut-off missed there)."""
    c, t = _pair(data_dir, course, track)
    cut = t.time_s >= t.time_s[0] + 0.4 * (t.time_s[-1] - t.time_s[0])
    late = Track("late", t.time_s[cut], t.lat[cut], t.lon[cut], None, None)
    a = analyze(c, late, start_ts=float(t.time_s[0]))
    first_m = float(a.progress_m[0])
    assert first_m > 70_000.0
    assert all(p.course_m >= first_m - 1_000.0 for p in a.splits), a.splits[:3]
    if station is not None:  # its first fix, 330 m off the line in town, is not placed
        assert a.match.events[0].left is not None and a.match.events[0].left.course_m is None


def test_another_race_from_the_same_town_is_a_shortcut_from_the_start(data_dir: Path) -> None:
    """Duo Etoile's recording against the 90 km of Chamonix (the wrong course, the same town:
    it shares the last kilometres). Begun at the start, the runner is on the 90 km's line only
    from km 76. It read "Finished in 4:07:03" with nothing cut, off course "when the recording
    began" at 00:41 (41 minutes in), "Reached the course at km 0.0", and the 10 km marks all
    at the same second, 0'00"/km. The runner left the course at its start: everything up to
    where they were first placed on it is a shortcut, and its marks were skipped."""
    c, t = _pair(data_dir, "mont_blanc_90k_2024.gpx", "duo_etoile_2022.gpx")
    a = analyze(c, t, check_fit=False)
    (e,) = a.confirmed
    assert e.kind == "shortcut" and e.left.course_m == 0.0, e
    assert e.left.time.timestamp() == float(t.time_s[0])
    assert e.rejoined is not None and e.rejoined.course_m > 80_000.0, e.rejoined
    assert a.cut_m > 60_000.0
    from coursewatch.reports.splits import compute_splits

    rows = compute_splits(a).rows
    assert all(r.skipped for r in rows if r.course_m < e.rejoined.course_m), rows
