from __future__ import annotations

import numpy as np
from pyproj import Geod

from coursewatch.geo import LocalFrame, cumulative_m, haversine_m, path_length_m


def test_haversine_one_degree_of_latitude() -> None:
    assert abs(float(haversine_m(0.0, 0.0, 1.0, 0.0)) - 111_195.0) < 1.0


def test_frame_lengths_agree_with_geodesic_on_a_400_km_course() -> None:
    rng = np.random.default_rng(3)
    # a 400 km zig-zag across the frame's whole extent
    lat = np.linspace(34.0, 36.5, 400) + rng.normal(0, 0.01, 400)
    lon = np.linspace(-112.0, -110.0, 400) + rng.normal(0, 0.01, 400)
    frame = LocalFrame.around(lat, lon)
    x, y = frame.to_xy(lat, lon)
    projected = cumulative_m(x, y)[-1]
    _, _, seg = Geod(ellps="WGS84").inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
    geodesic = float(np.sum(seg))
    assert geodesic > 300_000
    assert abs(projected / geodesic - 1) < 0.001


def test_frame_round_trip() -> None:
    frame = LocalFrame.centred(45.9, 6.87)
    lat, lon = frame.to_latlon(*frame.to_xy([45.95, 45.8], [6.9, 6.7]))
    assert np.allclose(lat, [45.95, 45.8]) and np.allclose(lon, [6.9, 6.7])


def test_path_length_of_a_single_point_is_zero() -> None:
    assert path_length_m(np.array([45.0]), np.array([6.0])) == 0.0
