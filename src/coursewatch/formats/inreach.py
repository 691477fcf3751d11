"""Garmin inReach IPC Outbound JSON: the satellite pings a live race-tracking server receives.

A log is a JSON list of posted payloads, each ``{"Version": "3.0", "Events": [...]}`` with one
event per message: ``timeStamp`` in epoch milliseconds and ``point`` with latitude, longitude,
altitude and gpsFix. The reader keeps everything in arrival order, including duplicates and
no-fix (0, 0) messages: the track cleaner drops and counts those, so the counts are reported
in one place. :func:`parse_inreach_payload` reads one posted payload for the live server.

>>> parse_inreach_payload({"Events": [{"timeStamp": 1721395635000,
...     "point": {"latitude": 38.0, "longitude": -107.6, "altitude": 2374.0, "gpsFix": 2}}]})
[InreachPoint(lat=38.0, lon=-107.6, ele_m=2374.0, time_s=1721395635.0)]
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from coursewatch.errors import FileFormatError, InputError
from coursewatch.points import RawPoints


class InreachPoint(NamedTuple):
    """One inReach event: position (NaN when the event has none), altitude, epoch seconds."""

    lat: float
    lon: float
    ele_m: float
    time_s: float


def is_inreach(obj: object) -> bool:
    """True when parsed JSON is an inReach payload or a list of them."""
    payloads = obj if isinstance(obj, list) else [obj]
    return bool(payloads) and all(
        isinstance(p, dict)
        and isinstance(p.get("Events"), list)
        and all(isinstance(e, dict) and ("point" in e or "timeStamp" in e) for e in p["Events"])
        for p in payloads
    )


def parse_inreach_payload(obj: object) -> list[InreachPoint]:
    """Read one posted payload (``{"Events": [...]}``) into points, in event order."""
    if not isinstance(obj, dict) or not isinstance(obj.get("Events"), list):
        raise InputError(
            "inReach payload without an 'Events' list: expected Garmin IPC Outbound JSON "
            '{"Version": "3.0", "Events": [...]}'
        )
    return [_event_point(event, i) for i, event in enumerate(obj["Events"])]


def read_inreach_object(obj: object) -> RawPoints:
    """Read a parsed inReach log (a list of payloads, or one payload) into RawPoints."""
    payloads = obj if isinstance(obj, list) else [obj]
    points: list[InreachPoint] = []
    for payload in payloads:
        try:
            points.extend(parse_inreach_payload(payload))
        except InputError as exc:
            raise FileFormatError(exc.detail) from None
    return RawPoints.from_lists(
        "inreach",
        [p.lat for p in points],
        [p.lon for p in points],
        ele_m=[p.ele_m for p in points],
        time_s=[p.time_s for p in points],
    )


def _event_point(event: Any, index: int) -> InreachPoint:
    if not isinstance(event, dict):
        raise InputError(f"inReach event {index} is not a JSON object")
    point = event.get("point")
    point = point if isinstance(point, dict) else {}
    return InreachPoint(
        lat=_number(point.get("latitude"), f"event {index} latitude"),
        lon=_number(point.get("longitude"), f"event {index} longitude"),
        ele_m=_number(point.get("altitude"), f"event {index} altitude"),
        time_s=_number(event.get("timeStamp"), f"event {index} timeStamp") / 1000.0,
    )


def _number(value: object, what: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"inReach {what} is {type(value).__name__}, not a number")
    try:
        return float(value)
    except OverflowError:  # an integer of 309 digits or more
        raise InputError(f"inReach {what} is a number of over 308 digits") from None
