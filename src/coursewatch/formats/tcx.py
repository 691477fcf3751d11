"""TCX reader: Garmin Training Center courses and activities, still exported by many watches.

Trackpoints of every lap, activity and course are read in file order; CoursePoints (aid
stations, turns) become waypoints. Parsed with defusedxml.

>>> raw = read_tcx(b'''<TrainingCenterDatabase
... xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"><Courses><Course>
... <Name>Hill</Name><Track><Trackpoint><Time>2024-01-01T00:00:00Z</Time>
... <Position><LatitudeDegrees>45</LatitudeDegrees><LongitudeDegrees>6</LongitudeDegrees>
... </Position></Trackpoint></Track></Course></Courses></TrainingCenterDatabase>''')
>>> len(raw), raw.name, float(raw.lat[0]), float(raw.time_s[0])
(1, 'Hill', 45.0, 1704067200.0)
"""

from __future__ import annotations

import math
from xml.etree.ElementTree import Element

from coursewatch.errors import FileFormatError
from coursewatch.formats.safexml import namespace_of, parse_float, parse_time_s, parse_xml
from coursewatch.points import RawPoints, Waypoint


def read_tcx(data: bytes) -> RawPoints:
    """Read TCX bytes: Trackpoints in order (NaN position when a point has none)."""
    root = parse_xml(data, "TCX")
    ns = namespace_of(root)
    if root.tag != f"{ns}TrainingCenterDatabase":
        raise FileFormatError(
            f"not a TCX file: the root element is <{root.tag}>, not <TrainingCenterDatabase>"
        )
    lat, lon, ele, time = [], [], [], []
    for pt in root.iter(f"{ns}Trackpoint"):
        lat_deg, lon_deg = _position(pt, ns)
        lat.append(lat_deg)
        lon.append(lon_deg)
        ele.append(parse_float(pt.findtext(f"{ns}AltitudeMeters")))
        time.append(parse_time_s(pt.findtext(f"{ns}Time")))
    name = root.findtext(f"{ns}Courses/{ns}Course/{ns}Name")
    return RawPoints.from_lists(
        "tcx",
        lat,
        lon,
        ele_m=ele,
        time_s=time,
        name=name.strip() if name and name.strip() else None,
        waypoints=tuple(_course_points(root, ns)),
    )


def _position(el: Element, ns: str) -> tuple[float, float]:
    pos = el.find(f"{ns}Position")
    if pos is None:
        return math.nan, math.nan
    return (
        parse_float(pos.findtext(f"{ns}LatitudeDegrees")),
        parse_float(pos.findtext(f"{ns}LongitudeDegrees")),
    )


def _course_points(root: Element, ns: str) -> list[Waypoint]:
    found = []
    for i, cp in enumerate(root.iter(f"{ns}CoursePoint"), start=1):
        lat_deg, lon_deg = _position(cp, ns)
        name = (cp.findtext(f"{ns}Name") or "").strip() or f"course point {i}"
        found.append(Waypoint(name=name, lat=lat_deg, lon=lon_deg))
    return found
