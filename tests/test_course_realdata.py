"""Every real course and track loads; lengths, stations and passes match the data's facts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from coursewatch import load_course, load_track
from coursewatch.geo import path_length_m

pytestmark = pytest.mark.realdata


def test_every_course_length_matches_its_points(data_dir: Path) -> None:
    for path in sorted((data_dir / "courses").glob("*.gpx")):
        c = load_course(path)
        assert c.length_m == pytest.approx(path_length_m(c.lat, c.lon), rel=0.005), path.name


def test_western_states_length(data_dir: Path) -> None:
    c = load_course(data_dir / "courses" / "western_states_100.gpx")
    assert c.length_m == pytest.approx(159_600, rel=0.005)
    assert not c.loop


def test_twot_lot_every_lap_end_and_stations_every_lap(data_dir: Path) -> None:
    c = load_course(data_dir / "courses" / "twot_200_2025.gpx")
    by_name = {s.name: s for s in c.stations}
    for name, st in by_name.items():
        expected = 9 if "Lot" in name else 8
        assert len(st.passes_m) == expected, name
        assert list(st.passes_m) == sorted(st.passes_m)
    assert c.self_overlap > 0.99


def test_swammie_aid_stations_have_out_and_back_passes(data_dir: Path) -> None:
    c = load_course(data_dir / "courses" / "swammie_shuffle_220_2024.gpx")
    for st in c.stations:
        if "Lighthouse" in st.name:
            continue  # the turnaround: out and back meet there
        assert len(st.passes_m) == 2, st.name
        out, back = st.passes_m
        assert out < c.length_m / 2 < back


def test_ouray_runs_almost_all_of_itself_twice(data_dir: Path) -> None:
    c = load_course(data_dir / "courses" / "ouray_100_2024.gpx")
    assert c.self_overlap == pytest.approx(0.97, abs=0.01)


def test_every_track_loads_and_inreach_quirks_are_counted(data_dir: Path) -> None:
    for path in sorted((data_dir / "tracks").iterdir()):
        if path.name.startswith("korita"):
            continue  # GPX 1.0 hike with time on only some points: still loads below
        t = load_track(path)
        assert len(t) > 100 and np.all(np.diff(t.time_s) > 0), path.name
    swammie = load_track(data_dir / "tracks" / "swammie_shuffle_220_2024_inreach_pings.json")
    assert swammie.dropped["duplicate"] == 299
    assert len(swammie) == 555
    assert swammie.out_of_order > 0
    dark = load_track(data_dir / "tracks" / "dark_sky_220_2024_inreach_pings.json")
    assert dark.dropped["no_position"] > 0
    twot = load_track(data_dir / "tracks" / "twot_200_2025_inreach_pings.json")
    assert twot.dropped.get("pre_race") == 1  # the ping 229 km away, 62 h before the start
    hike = load_track(data_dir / "tracks" / "korita_zbevnica_hike_2010.gpx")
    assert hike.dropped["no_time"] > 0
