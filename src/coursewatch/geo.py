"""Pure geometry: haversine lengths and a local metric frame for a course.

All matching runs in a local azimuthal-equidistant frame centred on the course, in metres.
On a 400 km course its lengths agree with geodesic lengths to about 0.02 %.

>>> round(float(haversine_m(45.0, 6.0, 45.0, 6.001)), 2)
78.63
>>> frame = LocalFrame.around([45.0, 45.1], [6.0, 6.1])
>>> x, y = frame.to_xy([45.05], [6.05])
>>> round(float(x[0]), 1), round(float(y[0]), 1)
(0.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from pyproj import Transformer

EARTH_RADIUS_M = 6_371_008.8

FloatArray = npt.NDArray[np.float64]
ArrayLike = Sequence[float] | FloatArray | float


def haversine_m(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> FloatArray:
    """Great-circle distance in metres (element-wise)."""
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def path_length_m(lat: FloatArray, lon: FloatArray) -> float:
    """Sum of haversine lengths between consecutive points."""
    if len(lat) < 2:
        return 0.0
    return float(haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]).sum())


@dataclass(frozen=True)
class LocalFrame:
    """An azimuthal-equidistant projection centred on (lat0, lon0); x east, y north, metres."""

    lat0: float
    lon0: float
    _fwd: Transformer = field(repr=False, compare=False)
    _inv: Transformer = field(repr=False, compare=False)

    @classmethod
    def centred(cls, lat0: float, lon0: float) -> LocalFrame:
        proj = f"+proj=aeqd +lat_0={lat0:.8f} +lon_0={lon0:.8f} +datum=WGS84 +units=m +no_defs"
        fwd = Transformer.from_crs("EPSG:4326", proj, always_xy=True)
        inv = Transformer.from_crs(proj, "EPSG:4326", always_xy=True)
        return cls(lat0, lon0, fwd, inv)

    @classmethod
    def around(cls, lat: ArrayLike, lon: ArrayLike) -> LocalFrame:
        """The frame centred on the middle of the bounding box of the points."""
        la = np.asarray(lat, dtype=np.float64)
        lo = np.asarray(lon, dtype=np.float64)
        return cls.centred(float((la.min() + la.max()) / 2), float((lo.min() + lo.max()) / 2))

    def to_xy(self, lat: ArrayLike, lon: ArrayLike) -> tuple[FloatArray, FloatArray]:
        x, y = self._fwd.transform(
            np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        )
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def to_latlon(self, x: ArrayLike, y: ArrayLike) -> tuple[FloatArray, FloatArray]:
        lon, lat = self._inv.transform(
            np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        )
        return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)


def cumulative_m(x: FloatArray, y: FloatArray) -> FloatArray:
    """Distance along a polyline at each vertex, starting at 0."""
    out = np.zeros(len(x), dtype=np.float64)
    if len(x) > 1:
        out[1:] = np.cumsum(np.hypot(np.diff(x), np.diff(y)))
    return out
