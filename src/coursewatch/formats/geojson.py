"""GeoJSON reader: courses exported by web mappers (geojson.io, togeojson, CalTopo, QGIS).

LineStrings and MultiLineStrings (parts joined in order) of every Feature make the points;
Point features become waypoints. Times are optional and come, as togeojson and many tools write
them, from the feature's ``properties.coordTimes`` or ``properties.times`` (ISO strings or epoch
seconds or milliseconds), one per coordinate.

>>> line = {"type": "LineString", "coordinates": [[6.0, 45.0], [6.1, 45.1, 900]]}
>>> raw = read_geojson_object(line)
>>> len(raw), float(raw.lat[1]), float(raw.ele_m[1])
(2, 45.1, 900.0)
"""

from __future__ import annotations

import math
from typing import Any

from coursewatch.errors import FileFormatError
from coursewatch.formats.safexml import parse_time_s
from coursewatch.points import PointCollector, RawPoints, Waypoint

GEOJSON_TYPES = frozenset(
    {
        "FeatureCollection",
        "Feature",
        "GeometryCollection",
        "LineString",
        "MultiLineString",
        "Point",
        "MultiPoint",
        "Polygon",
        "MultiPolygon",
    }
)
# Epoch numbers above this are milliseconds (1e11 s is the year 5138).
_EPOCH_MS_ABOVE = 1e11


def is_geojson(obj: object) -> bool:
    """True when ``obj`` (parsed JSON) looks like a GeoJSON object."""
    kind = obj.get("type") if isinstance(obj, dict) else None
    return isinstance(kind, str) and kind in GEOJSON_TYPES


def read_geojson_object(obj: object) -> RawPoints:
    """Read parsed GeoJSON: line points in order, Point features as waypoints."""
    if not is_geojson(obj):
        raise FileFormatError("not GeoJSON: the top-level object has no GeoJSON 'type'")
    out = PointCollector()
    try:
        _read_any(obj, {}, out)
    except (TypeError, ValueError, IndexError, KeyError, AttributeError, RecursionError,
            OverflowError) as exc:  # fmt: skip
        raise FileFormatError(
            f"GeoJSON with malformed coordinates or properties ({exc}): "
            "check the file against RFC 7946 or export it again"
        ) from None
    name = obj.get("name") if isinstance(obj, dict) else None
    if not isinstance(name, str):
        name = _props_name(obj.get("properties") if isinstance(obj, dict) else None)
    return out.points("geojson", name)


def _read_any(obj: Any, props: dict[str, Any], out: PointCollector) -> None:
    kind = obj.get("type") if isinstance(obj, dict) else None
    if kind == "FeatureCollection":
        for feature in obj.get("features") or []:
            _read_any(feature, {}, out)
    elif kind == "Feature":
        geometry = obj.get("geometry")
        if geometry is not None:
            _read_any(geometry, obj.get("properties") or {}, out)
    elif kind == "GeometryCollection":
        for geometry in obj.get("geometries") or []:
            _read_any(geometry, props, out)
    elif kind == "LineString":
        _add_line(obj["coordinates"], _times(props), out)
    elif kind == "MultiLineString":
        times = props.get("coordTimes", props.get("times"))
        nested = isinstance(times, list) and bool(times) and isinstance(times[0], list)
        for i, part in enumerate(obj["coordinates"]):
            part_times = times[i] if nested and times is not None and i < len(times) else None
            _add_line(part, [_time_s(t) for t in part_times] if part_times else [], out)
    elif kind == "Point":
        lon_deg, lat_deg = float(obj["coordinates"][0]), float(obj["coordinates"][1])
        name = _props_name(props) or f"point {len(out.waypoints) + 1}"
        out.waypoints.append(Waypoint(name=name, lat=lat_deg, lon=lon_deg))
    # Polygons and MultiPoints carry no course; they are ignored.


def _add_line(coords: list[list[float]], times: list[float], out: PointCollector) -> None:
    for i, c in enumerate(coords):
        ele_m = float(c[2]) if len(c) > 2 and c[2] is not None else math.nan
        out.add(float(c[0]), float(c[1]), ele_m, times[i] if i < len(times) else math.nan)


def _times(props: dict[str, Any]) -> list[float]:
    raw = props.get("coordTimes", props.get("times"))
    if not isinstance(raw, list):
        return []
    return [_time_s(t) for t in raw]


def _time_s(value: object) -> float:
    if isinstance(value, bool):
        return math.nan
    if isinstance(value, int | float):
        seconds = float(value)
        return seconds / 1000.0 if abs(seconds) > _EPOCH_MS_ABOVE else seconds
    if isinstance(value, str):
        return parse_time_s(value)
    return math.nan


def _props_name(props: object) -> str | None:
    if not isinstance(props, dict):
        return None
    for key in ("name", "title", "Name", "NAME"):
        value = props.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
