"""KML reader: courses drawn in Google Earth, CalTopo or Google My Maps.

A course is the LineStrings (and gx:Tracks, which carry times) of the file's Placemarks joined in
document order; Point Placemarks become waypoints (aid stations). Parsed with defusedxml. A KMZ
is unpacked by :mod:`coursewatch.formats.kmz`, which hands its main document to :func:`read_kml`.

>>> raw = read_kml(b'''<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>Ridge</name>
... <Placemark><LineString><coordinates>6.0,45.0,1000 6.001,45.0,1010</coordinates></LineString>
... </Placemark><Placemark><name>Col</name><Point><coordinates>6.001,45.0</coordinates></Point>
... </Placemark></Document></kml>''')
>>> len(raw), raw.name, raw.waypoints[0].name, float(raw.ele_m[1])
(2, 'Ridge', 'Col', 1010.0)
"""

from __future__ import annotations

import math
import re
from xml.etree.ElementTree import Element

from coursewatch.errors import FileFormatError
from coursewatch.formats.safexml import local_name, parse_float, parse_time_s, parse_xml
from coursewatch.points import PointCollector, RawPoints, Waypoint

_COMMA = re.compile(r"\s*,\s*")


def read_kml(data: bytes, format: str = "kml") -> RawPoints:
    """Read KML bytes: LineString and gx:Track points in order, Point Placemarks as waypoints."""
    root = parse_xml(data, "KML")
    if local_name(root.tag) != "kml":
        raise FileFormatError(f"not a KML file: the root element is <{root.tag}>, not <kml>")
    out = PointCollector()
    for placemark in _iter_local(root, "Placemark"):
        _read_placemark(placemark, out)
    return out.points(format, _document_name(root))


def _iter_local(root: Element, name: str) -> list[Element]:
    # KML comes in several namespaces (2.0, 2.1, 2.2, Google's gx); match on local names.
    return [el for el in root.iter() if isinstance(el.tag, str) and local_name(el.tag) == name]


def _read_placemark(placemark: Element, out: PointCollector) -> None:
    name = ""
    for child in placemark:
        if isinstance(child.tag, str) and local_name(child.tag) == "name":
            name = (child.text or "").strip()
    for el in placemark.iter():
        if not isinstance(el.tag, str):
            continue
        tag = local_name(el.tag)
        if tag == "LineString":
            for coord in _coordinates(el):
                out.add(*coord, math.nan)
        elif tag == "Track":
            _read_track(el, out)
        elif tag == "Point":
            coords = _coordinates(el)
            if coords:
                lon_deg, lat_deg, _ = coords[0]
                label = name or f"placemark {len(out.waypoints) + 1}"
                out.waypoints.append(Waypoint(name=label, lat=lat_deg, lon=lon_deg))


def _coordinates(geometry: Element) -> list[tuple[float, float, float]]:
    text = ""
    for el in geometry:
        if isinstance(el.tag, str) and local_name(el.tag) == "coordinates":
            text = el.text or ""
    found = []
    for token in _COMMA.sub(",", text.strip()).split():
        parts = token.split(",")
        if len(parts) < 2:
            raise FileFormatError(
                f"KML coordinates {token!r} are not 'lon,lat[,alt]': fix or re-export the file"
            )
        ele = parse_float(parts[2]) if len(parts) > 2 else math.nan
        found.append((parse_float(parts[0]), parse_float(parts[1]), ele))
    return found


def _read_track(track: Element, out: PointCollector) -> None:
    whens: list[float] = []
    coords: list[tuple[float, float, float]] = []
    for el in track:
        if not isinstance(el.tag, str):
            continue
        tag = local_name(el.tag)
        if tag == "when":
            whens.append(parse_time_s(el.text))
        elif tag == "coord":
            parts = (el.text or "").split()
            values = [parse_float(p) for p in parts] + [math.nan] * 3
            coords.append((values[0], values[1], values[2]))
    for i, (lon_deg, lat_deg, ele_m) in enumerate(coords):
        out.add(lon_deg, lat_deg, ele_m, whens[i] if i < len(whens) else math.nan)


def _document_name(root: Element) -> str | None:
    for container in root.iter():
        if isinstance(container.tag, str) and local_name(container.tag) in ("Document", "Folder"):
            for child in container:
                if isinstance(child.tag, str) and local_name(child.tag) == "name":
                    text = (child.text or "").strip()
                    if text:
                        return text
    return None
