"""Garmin inReach IPC Outbound JSON, as Garmin's servers POST it: ``{"Events": [...]}``.

Each event names its device by ``imei``; the position parsing is that of the file reader
(:func:`coursewatch.formats.inreach.parse_inreach_payload`), applied event by event so that one
bad event is reported and the others are kept. Events without a position (plain messages) come
out with NaN or (0, 0) and are dropped, counted, by the pipeline's filter.
"""

from __future__ import annotations

import math
from functools import partial

from coursewatch.errors import InputError
from coursewatch.formats.inreach import parse_inreach_payload
from coursewatch.protocols import Decoded, FieldError, Fix, PayloadError, position


def decode_inreach(obj: object) -> Decoded:
    """Fixes from one posted payload, in event order."""
    if not isinstance(obj, dict) or not isinstance(obj.get("Events"), list):
        raise PayloadError(
            "inReach payload without an 'Events' list: expected Garmin IPC Outbound JSON "
            '{"Version": "3.0", "Events": [...]}'
        )
    out = Decoded()
    for i, event in enumerate(obj["Events"]):
        out.take(i, f"Events[{i}]", partial(_fix, event))
    return out


def _fix(event: object) -> Fix:
    if not isinstance(event, dict):
        raise FieldError("", "is not a JSON object")
    imei = event.get("imei")
    if not isinstance(imei, str | int) or imei == "":
        raise FieldError("imei", "no imei", "Garmin sends the device IMEI in every event")
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
    raw = event.get("point")
    extra = raw if isinstance(raw, dict) else {}
    speed = extra.get("speed")
    course = extra.get("course")
    return Fix(
        time_s=point.time_s,
        lat=lat,
        lon=lon,
        device_id=str(imei),
        speed_mps=float(speed) / 3.6 if isinstance(speed, int | float) else None,
        bearing_deg=float(course) if isinstance(course, int | float) else None,
        altitude_m=None if math.isnan(point.ele_m) else point.ele_m,
    )
