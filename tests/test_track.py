from __future__ import annotations

import math

import pytest

from coursewatch.errors import EmptyDataError
from coursewatch.formats import RawPoints
from coursewatch.track import build_track

T0 = 1_700_000_000.0


def raw(points: list[tuple[float, float, float]]) -> RawPoints:
    t = [p[0] for p in points]
    return RawPoints.from_lists("test", [p[1] for p in points], [p[2] for p in points], None, t)


def test_quirks_are_dropped_and_counted() -> None:
    tr = build_track(raw([
        (T0, 45.0, 6.0),
        (T0 + 20, 45.0002, 6.0),
        (T0 + 10, 45.0001, 6.0),  # out of order
        (T0 + 20, 45.0002, 6.0),  # exact duplicate
        (T0 + 20, 45.0009, 6.0),  # same time, another position
        (T0 + 30, 0.0, 0.0),  # no fix
        (math.nan, 45.0003, 6.0),  # no time
        (T0 + 40, 45.0003, 6.0),
        (T0 + 50, 45.0003, 6.0),  # repeated position: kept, counted
    ]))  # fmt: skip
    assert list(tr.time_s - T0) == [0, 10, 20, 40, 50]
    assert tr.dropped == {"duplicate": 1, "same_time": 1, "no_position": 1, "no_time": 1}
    assert tr.out_of_order == 1
    assert tr.repeated_positions == 1
    assert tr.median_interval_s == 10


def test_pre_race_ping_far_away_is_dropped() -> None:
    pts = [(T0 - 60 * 3600, 40.0, -75.0)] + [
        (T0 + 300 * i, 38.3 + 0.001 * i, -79.1) for i in range(30)
    ]
    tr = build_track(raw(pts))
    assert tr.dropped == {"pre_race": 1}
    assert len(tr) == 30


def test_a_route_without_times_is_not_a_track() -> None:
    r = RawPoints.from_lists("gpx", [45.0, 45.1], [6.0, 6.1])
    with pytest.raises(EmptyDataError, match="planned route"):
        build_track(r, "route.gpx")


def test_empty_file_is_an_error() -> None:
    with pytest.raises(EmptyDataError):
        build_track(RawPoints.from_lists("gpx", [], []), "empty.gpx")


def test_track_frame_lengths_match_haversine() -> None:
    pts = [(T0 + 10 * i, 45.0 + 0.0005 * i, 6.0 + 0.0003 * i) for i in range(200)]
    tr = build_track(raw(pts))
    x, y = tr.xy()
    import numpy as np

    assert float(np.hypot(np.diff(x), np.diff(y)).sum()) == pytest.approx(tr.distance_m, rel=3e-3)
