"""Garmin inReach IPC Outbound JSON, as Garmin's servers POST it: ``{"Events": [...]}``.

Each event names its device by ``imei``; the position parsing is that of the file reader
(:func:`coursewatch.formats.inreach.parse_inreach_payload`), applied event by event so that one
bad event is reported and the others are kept. Events without a position (plain messages) come
out with NaN or (0, 0) and are dropped, counted, by the pipeline's filter.

What the device says besides its position becomes a :class:`DeviceEvent`: ``messageCode`` 4 and
6 (SOS declared, confirmed) an ``sos``, 7 (SOS cancelled) ``sos_cancel``, a ``freeText`` the
runner typed a ``message``, and ``status.lowBattery`` ``battery_low`` (or ``battery_ok``).

The file reader converts with ``float()``; every number of an event is checked here first, so
that a 309-digit ``timeStamp`` is that event's problem, not an OverflowError for the payload.

>>> d = decode_inreach({"Events": [
...     {"imei": "1", "timeStamp": 1721395635000, "point": {"latitude": 38.0, "longitude": -107.6}},
...     {"imei": "1", "timeStamp": 1721395635000, "point": {"latitude": 10**400, "longitude": 0}}]})
>>> len(d.fixes), d.problems[0].where, d.problems[0].message
(1, 'Events[1].point.latitude', 'a 401-digit number is outside -90..90')
"""

from __future__ import annotations

import math
from functools import partial

from coursewatch.errors import InputError
from coursewatch.formats.inreach import parse_inreach_payload
from coursewatch.protocols import (
    LARGEST,
    Decoded,
    DeviceEvent,
    FieldError,
    Fix,
    PayloadError,
    describe,
    device_id,
    number,
    position,
)

SOS_CODES = {4: "sos", 6: "sos", 7: "sos_cancel"}  # declare, confirm, cancel
MAX_TEXT_CHARS = 500  # an inReach message is at most 160
# Garmin's epoch milliseconds, and anything the file reader could be given, fit well within this
_LARGEST_MS = 1e15
_POSITION_HINT = "Garmin sends decimal degrees, latitude -90..90 and longitude -180..180"


def decode_inreach(obj: object) -> Decoded:
    """Fixes from one posted payload, in event order."""
    if not isinstance(obj, dict) or not isinstance(obj.get("Events"), list):
        raise PayloadError(
            "inReach payload without an 'Events' list: expected Garmin IPC Outbound JSON "
            '{"Version": "3.0", "Events": [...]}'
        )
    out = Decoded()
    for i, event in enumerate(obj["Events"]):
        out.take(i, f"Events[{i}]", partial(_fix, event), partial(_said, event),
                 partial(_whose, event))  # fmt: skip
    return out


def _whose(event: object) -> tuple[str, float] | None:
    """The device and time of an event that is no fix (None: either is unreadable)."""
    if not isinstance(event, dict):
        return None
    try:
        imei = device_id(event.get("imei"), "imei", "")
        ms = _optional(event.get("timeStamp"), "timeStamp", 1.0, _LARGEST_MS)
    except FieldError:
        return None
    return None if ms is None else (imei, ms / 1000.0)


def _said(event: object, fix: Fix) -> list[DeviceEvent]:
    if not isinstance(event, dict):
        return []
    code = event.get("messageCode")
    status = event.get("status")
    low = status.get("lowBattery") if isinstance(status, dict) else None
    text = event.get("freeText")
    at = partial(DeviceEvent, fix.time_s, lat=fix.lat, lon=fix.lon, device_id=fix.device_id)
    out = []
    if type(code) is int and code in SOS_CODES:
        out.append(at(SOS_CODES[code]))
    if isinstance(text, str) and text.strip():
        out.append(at("message", text=text.strip()[:MAX_TEXT_CHARS]))
    if low in (0, 1):
        out.append(at("battery_low" if low else "battery_ok"))
    return out


def _fix(event: object) -> Fix:
    if not isinstance(event, dict):
        raise FieldError("", "is not a JSON object")
    imei = device_id(event.get("imei"), "imei", "Garmin sends the device IMEI in every event")
    raw = event.get("point")
    extra = raw if isinstance(raw, dict) else {}
    _check_numbers(event, extra)
    try:
        (point,) = parse_inreach_payload({"Events": [event]})
    except InputError as exc:
        raise FieldError("point", exc.detail) from None
    if math.isnan(point.time_s):
        raise FieldError("timeStamp", "no timeStamp", "send epoch milliseconds")
    lat, lon = point.lat, point.lon
    if math.isnan(lat) or math.isnan(lon):
        lat = lon = 0.0  # no position: the filter drops and counts it as no_position
    lat, lon = position(lat, lon)
    speed = _optional(extra.get("speed"), "point.speed")
    return Fix(
        time_s=point.time_s,
        lat=lat,
        lon=lon,
        device_id=imei,
        speed_mps=None if speed is None else speed / 3.6,
        bearing_deg=_optional(extra.get("course"), "point.course"),
        altitude_m=None if math.isnan(point.ele_m) else point.ele_m,
    )


def _check_numbers(event: dict[str, object], point: dict[str, object]) -> None:
    """Every number the file reader converts: absent, or finite and in range."""
    _optional(event.get("timeStamp"), "timeStamp", -_LARGEST_MS, _LARGEST_MS)
    for key, low, high in (("latitude", -90.0, 90.0), ("longitude", -180.0, 180.0)):
        try:
            _optional(point.get(key), f"point.{key}", low, high)
        except FieldError as exc:
            raise FieldError(exc.field, str(exc), _POSITION_HINT) from None
    _optional(point.get("altitude"), "point.altitude")


def _optional(
    value: object, field: str, low: float = -LARGEST, high: float = LARGEST
) -> float | None:
    """None, or a JSON number (Garmin never sends numbers as text) within [low, high]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(field, f"{describe(value)} is not a number", "send a JSON number")
    return number(value, field, low, high)
