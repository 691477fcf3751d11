"""What a file holds, before any cleaning: points in file order, and named waypoints.

The readers of :mod:`coursewatch.formats` return :class:`RawPoints`; :mod:`coursewatch.course`
and :mod:`coursewatch.track` clean them (duplicates, order, no-fix records) so that it is
counted and reported in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from coursewatch.geo import FloatArray


@dataclass(frozen=True)
class Waypoint:
    """A named point of a file: an aid station, a POI, a course point."""

    name: str
    lat: float
    lon: float


@dataclass(frozen=True, eq=False)
class RawPoints:
    """What a reader found, in file order. Missing values are NaN.

    ``time_s`` is epoch seconds (UTC); ``accuracy_m`` the horizontal accuracy where the file
    gives one. ``format`` names the reader ("gpx", "fit", ...).
    """

    format: str
    lat: FloatArray
    lon: FloatArray
    ele_m: FloatArray
    time_s: FloatArray
    accuracy_m: FloatArray
    name: str | None = None
    waypoints: tuple[Waypoint, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @classmethod
    def from_lists(
        cls,
        format: str,
        lat: list[float],
        lon: list[float],
        ele_m: list[float] | None = None,
        time_s: list[float] | None = None,
        accuracy_m: list[float] | None = None,
        name: str | None = None,
        waypoints: tuple[Waypoint, ...] = (),
        notes: tuple[str, ...] = (),
    ) -> RawPoints:
        n = len(lat)

        def arr(values: list[float] | None) -> FloatArray:
            if values is None:
                return np.full(n, np.nan)
            return np.asarray(values, dtype=np.float64)

        return cls(
            format=format,
            lat=arr(lat),
            lon=arr(lon),
            ele_m=arr(ele_m),
            time_s=arr(time_s),
            accuracy_m=arr(accuracy_m),
            name=name,
            waypoints=waypoints,
            notes=notes,
        )

    def __len__(self) -> int:
        return len(self.lat)


class PointCollector:
    """Points gathered as a reader walks a document, in document order (GeoJSON, KML)."""

    def __init__(self) -> None:
        self.lat: list[float] = []
        self.lon: list[float] = []
        self.ele: list[float] = []
        self.time: list[float] = []
        self.waypoints: list[Waypoint] = []

    def add(self, lon_deg: float, lat_deg: float, ele_m: float, time_s: float) -> None:
        self.lat.append(lat_deg)
        self.lon.append(lon_deg)
        self.ele.append(ele_m)
        self.time.append(time_s)

    def points(self, format: str, name: str | None) -> RawPoints:
        return RawPoints.from_lists(
            format, self.lat, self.lon, ele_m=self.ele, time_s=self.time, name=name,
            waypoints=tuple(self.waypoints),
        )  # fmt: skip
