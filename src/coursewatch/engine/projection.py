"""Fast lat/lon -> local metres for the hot loop: bilinear interpolation on a fine lattice.

pyproj costs microseconds per call; the live matcher has a budget of a few microseconds for a
whole fix. The frame's x and y are smooth functions of lat/lon, so a lattice of exact pyproj
values every 0.005 degrees (about 500 m), interpolated bilinearly, reproduces them to
millimetres. Points outside the lattice (hundreds of km from the course) fall back to pyproj.
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np

from coursewatch.geo import FloatArray, LocalFrame

STEP_DEG = 0.005
MARGIN_DEG = 0.3


class Lattice(NamedTuple):
    """Exact x, y of every node of a lat/lon lattice; numba reads it as it is."""

    lat0: float
    lon0: float
    step_deg: float
    nlat: int
    nlon: int
    gx: FloatArray  # (nlat, nlon) x of every node
    gy: FloatArray

    @classmethod
    def around(cls, frame: LocalFrame, lat: FloatArray, lon: FloatArray) -> Lattice:
        lat0 = float(np.floor((lat.min() - MARGIN_DEG) / STEP_DEG) * STEP_DEG)
        lon0 = float(np.floor((lon.min() - MARGIN_DEG) / STEP_DEG) * STEP_DEG)
        nlat = int(np.ceil((lat.max() + MARGIN_DEG - lat0) / STEP_DEG)) + 1
        nlon = int(np.ceil((lon.max() + MARGIN_DEG - lon0) / STEP_DEG)) + 1
        la = lat0 + STEP_DEG * np.arange(nlat)
        lo = lon0 + STEP_DEG * np.arange(nlon)
        glon, glat = np.meshgrid(lo, la)
        gx, gy = frame.to_xy(glat.ravel(), glon.ravel())
        return cls(lat0, lon0, STEP_DEG, nlat, nlon, gx.reshape(nlat, nlon), gy.reshape(nlat, nlon))

    def to_xy(
        self, frame: LocalFrame, lat: FloatArray, lon: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Vectorised projection; exact pyproj for points off the lattice."""
        x, y, inside = lattice_xy_many(lat, lon, self)
        if not inside.all():
            out = ~inside
            x[out], y[out] = frame.to_xy(lat[out], lon[out])
        return x, y


@nb.njit(cache=True, inline="always")
def lattice_xy(lat: float, lon: float, lattice: Lattice) -> tuple[float, float, bool]:
    """(x, y, inside): bilinear on the lattice; inside False (and 0, 0) off it."""
    gx, gy, step = lattice.gx, lattice.gy, lattice.step_deg
    fi = (lat - lattice.lat0) / step
    fj = (lon - lattice.lon0) / step
    i = int(np.floor(fi))
    j = int(np.floor(fj))
    if i < 0 or j < 0 or i >= gx.shape[0] - 1 or j >= gx.shape[1] - 1:
        return 0.0, 0.0, False
    u = fi - i
    v = fj - j
    w00 = (1 - u) * (1 - v)
    w01 = (1 - u) * v
    w10 = u * (1 - v)
    w11 = u * v
    x = w00 * gx[i, j] + w01 * gx[i, j + 1] + w10 * gx[i + 1, j] + w11 * gx[i + 1, j + 1]
    y = w00 * gy[i, j] + w01 * gy[i, j + 1] + w10 * gy[i + 1, j] + w11 * gy[i + 1, j + 1]
    return x, y, True


@nb.njit(cache=True)
def lattice_xy_many(
    lat: FloatArray, lon: FloatArray, lattice: Lattice
) -> tuple[FloatArray, FloatArray, np.ndarray]:
    n = len(lat)
    x = np.empty(n)
    y = np.empty(n)
    inside = np.empty(n, dtype=np.bool_)
    for k in range(n):
        x[k], y[k], inside[k] = lattice_xy(lat[k], lon[k], lattice)
    return x, y, inside
