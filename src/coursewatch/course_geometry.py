"""Refuse course lines that no race follows: a stray point, a jump, a line across the world.

One mistyped coordinate (a latitude whose sign flipped, 45.9 -> -45.9) turns a 100 km course
into a 20,000 km one whose bounding box spans half the planet, and the matcher's set-up, which
grows with that box, then takes tens of seconds and a gigabyte, the time it stalls race HQ. So a
course is checked as it is built: consecutive points at most :data:`MAX_SEGMENT_M` apart (the
real courses in the test data never go beyond 4.9 km), a bounding box that the line's own
length can span (a line across the 180th meridian cannot: its box is the whole globe), and at
most :data:`MAX_LENGTH_M` of line in at most :data:`MAX_BOX_DEG2` square degrees of box, which
bound the matcher's set-up. The error names the point as the user counts it in the
file, with its coordinates, so it can be fixed.

>>> lat = np.array([45.90, 45.91, -45.92, 45.93])
>>> lon = np.array([6.87, 6.87, 6.87, 6.87])
>>> check_course_geometry(lat, lon, np.array([1, 2, 3, 4]))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
coursewatch.errors.CourseGeometryError: point 3 (lat -45.92000, lon 6.87000) is 10211.0 km ...
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from coursewatch.errors import CourseGeometryError
from coursewatch.geo import EARTH_RADIUS_M, FloatArray, haversine_m

MAX_SEGMENT_M = 20_000.0  # between consecutive points; 4x the longest in the real courses
MAX_LENGTH_M = 10_000_000.0  # 24x the longest real course; the 3100-mile race is 4,989 km
# The matcher's set-up grows with the course's box in square degrees, margin included (a node
# every 0.005 degree, 0.3 degree round the box): 50 is about 1.5 s and 110 MB, a 575 x 575 km
# box at 45 deg N. The real courses take 3 at most.
MAX_BOX_DEG2 = 50.0
BOX_MARGIN_DEG = 0.3
_M_PER_DEG = EARTH_RADIUS_M * np.pi / 180.0
_BOX_SLACK = 1.01  # the box against the length along great circles (plus 1 km)
IntArray = npt.NDArray[np.int64]


def check_course_geometry(
    lat: FloatArray, lon: FloatArray, numbers: IntArray, source: str | Path = ""
) -> None:
    """Raise :class:`CourseGeometryError` for a line with a jump or an impossible extent.

    ``numbers`` gives each point's number in the file (1-based), for the message: the points
    reach here without the unusable ones and the repeats the course builder dropped.
    """
    seg_m = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
    jumps = np.flatnonzero(seg_m > MAX_SEGMENT_M)
    if len(jumps):
        raise CourseGeometryError(_jump_message(lat, lon, numbers, seg_m, int(jumps[0])), source)
    length_m = float(seg_m.sum())
    dlat, dlon = float(lat.max() - lat.min()), float(lon.max() - lon.min())
    width_m = dlon * _M_PER_DEG * float(np.cos(np.radians(np.abs(lat).max())))
    if max(dlat * _M_PER_DEG, width_m) > _BOX_SLACK * length_m + 1000.0:
        raise CourseGeometryError(_wrap_message(lat, lon, numbers), source)
    what = "load one course (one stage) at a time, and fix or remove any stray point"
    if length_m > MAX_LENGTH_M:
        raise CourseGeometryError(
            f"the course is {length_m / 1000:,.0f} km long, more than the "
            f"{MAX_LENGTH_M / 1000:,.0f} km coursewatch follows: {what}",
            source,
        )
    box_deg2 = (dlat + 2 * BOX_MARGIN_DEG) * (dlon + 2 * BOX_MARGIN_DEG)
    if box_deg2 > MAX_BOX_DEG2:
        raise CourseGeometryError(
            f"the course spans {dlat:.1f} degrees of latitude by {dlon:.1f} of longitude: with "
            f"the {BOX_MARGIN_DEG} degree margin the matcher keeps round it, {box_deg2:.0f} "
            f"square degrees, more than the {MAX_BOX_DEG2:.0f} coursewatch follows: {what}",
            source,
        )


def _where(lat: FloatArray, lon: FloatArray, numbers: IntArray, i: int) -> str:
    return f"point {numbers[i]} (lat {lat[i]:.5f}, lon {lon[i]:.5f})"


def _jump_message(
    lat: FloatArray, lon: FloatArray, numbers: IntArray, seg_m: FloatArray, i: int
) -> str:
    """Segment ``i`` (points i, i + 1) is too long: name the stray point if one stands out."""
    limit = f"consecutive course points are never more than {MAX_SEGMENT_M / 1000:.0f} km apart"
    last = len(seg_m) - 1
    stray = None
    if i < last and seg_m[i + 1] > MAX_SEGMENT_M:
        stray = i + 1  # far from both neighbours
    elif i == 0 and last > 0:
        stray = 0  # the first point, away from all the others
    elif i == last and last > 0:
        stray = i + 1  # the last point, away from all the others
    if stray is None:
        return (
            f"the course jumps {seg_m[i] / 1000:.1f} km from {_where(lat, lon, numbers, i)} to "
            f"{_where(lat, lon, numbers, i + 1)}, but {limit}: a stray point or a missing "
            f"stretch; fix or remove point {numbers[i + 1]} (or draw the missing stretch)"
        )
    near = [j for j in (stray - 1, stray + 1) if 0 <= j < len(lat)]
    far = " and ".join(
        f"{seg_m[min(j, stray)] / 1000:.1f} km from point {numbers[j]}" for j in near
    )
    return (
        f"{_where(lat, lon, numbers, stray)} is {far}, but {limit}: a stray point (a mistyped "
        f"or sign-flipped coordinate?); fix or remove point {numbers[stray]}"
    )


def _wrap_message(lat: FloatArray, lon: FloatArray, numbers: IntArray) -> str:
    """The bounding box is wider than the line: say where it crosses the 180th meridian."""
    wraps = np.flatnonzero(np.abs(np.diff(lon)) > 180.0)
    if len(wraps):
        i = int(wraps[0])
        return (
            f"the course crosses the 180th meridian between {_where(lat, lon, numbers, i)} "
            f"and {_where(lat, lon, numbers, i + 1)}, and coursewatch cannot follow a course "
            f"across it: if point {numbers[i + 1]} is a stray (a sign-flipped longitude?), fix "
            "or remove it"
        )
    i = int(np.argmax(np.abs(lon - np.median(lon))))
    return (
        f"the course's bounding box is wider than its own length could make it, at "
        f"{_where(lat, lon, numbers, i)}: fix or remove point {numbers[i]}"
    )
