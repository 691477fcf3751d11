"""The OsmAnd protocol as Traccar serves it, so the Traccar Client phone app works unchanged.

The app sends one fix per request, as query parameters (GET or POST) or an urlencoded form:
``id, lat, lon, timestamp, speed, bearing, altitude, accuracy, hdop, batt``. As in Traccar,
``speed`` is in knots, ``timestamp`` is epoch seconds (or milliseconds, or ISO 8601) and
``location=lat,lon`` may replace lat and lon. Newer Traccar Client versions post JSON instead
(``{"device_id": ..., "location": {"timestamp", "coords": {...}, "battery": {...}}}``, speed in
m/s); both are read here.

>>> decode_osmand({"id": "123456", "lat": "45.9", "lon": "6.87", "timestamp": "1721395635",
...                "speed": "3.0", "accuracy": "8"}).fixes[0].speed_mps
1.5433
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from coursewatch.protocols import (
    Decoded,
    FieldError,
    Fix,
    PayloadError,
    ident,
    optional,
    parse_time_s,
    position,
)
from coursewatch.protocols.jsonbody import JsonError, read_json

KNOT_MPS = 0.514444
# Horizontal accuracy from HDOP when the app sends no accuracy: a typical phone UERE.
HDOP_UERE_M = 5.0


IRIDIUM_IMEI = re.compile(r"^30\d{13}$")  # an IMEI of reporting body 30 (Iridium): inReach
SPOT_ESN = re.compile(r"^0-\d{7}$")


def published_id(device_id: str) -> bool:
    """Whether a device id is published, so no credential: a satellite messenger's IMEI
    (Garmin inReach: MapShare's public feed shows it) or ESN (SPOT). Their fixes come with
    the ingest token (IPC Outbound) or from their feed, never over OsmAnd with the id alone.

    >>> published_id("300434060000007"), published_id("0-2345678"), published_id("355458061234567")
    (True, True, False)
    """
    return bool(IRIDIUM_IMEI.match(device_id) or SPOT_ESN.match(device_id))


def params_from_body(body: bytes, content_type: str) -> dict[str, str]:
    """Form parameters of an urlencoded POST body (empty for other bodies)."""
    if not body or "json" in content_type:
        return {}
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise PayloadError(
            "OsmAnd body is not UTF-8 text: send the fix as query parameters or a form"
        ) from None


def decode_osmand(params: Mapping[str, str], now_s: float | None = None) -> Decoded:
    """One fix from OsmAnd parameters; the missing time is the server's ``now_s`` (Traccar)."""
    out = Decoded()
    out.take(0, "query", lambda: _fix(params, now_s))
    return out


def decode_osmand_json(body: bytes, now_s: float | None = None) -> Decoded:
    """One fix from the JSON a recent Traccar Client posts."""
    try:
        obj = read_json(body)
    except JsonError as exc:
        raise PayloadError(f"OsmAnd JSON body: {exc.detail} ({exc.where})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("location"), dict):
        raise PayloadError(
            'OsmAnd JSON body without a "location" object: expected '
            '{"device_id": ..., "location": {"timestamp": ..., "coords": {...}}}'
        )
    out = Decoded()
    out.take(0, "body", lambda: _json_fix(obj, now_s))
    return out


def _fix(p: Mapping[str, str], now_s: float | None) -> Fix:
    device = ident(p.get("id") or p.get("deviceid"), "id")
    if not device:
        raise FieldError("id", "no device id", "set the device identifier in the app")
    location = p.get("location")
    if isinstance(location, str) and "lat" not in p:
        lat_text, _, lon_text = location.partition(",")
        lat, lon = position(lat_text, lon_text, ("location", "location"))
    else:
        lat, lon = position(p.get("lat"), p.get("lon"))
    ts = p.get("timestamp")
    time_s = parse_time_s(ts, "timestamp") if ts else _now(now_s)
    accuracy = optional(p.get("accuracy"), "accuracy", 0.0)
    hdop = optional(p.get("hdop"), "hdop", 0.0)
    if accuracy is None and hdop is not None:
        accuracy = hdop * HDOP_UERE_M
    speed_kn = optional(p.get("speed"), "speed", 0.0)
    return Fix(
        time_s=time_s,
        lat=lat,
        lon=lon,
        device_id=device,
        accuracy_m=accuracy,
        speed_mps=None if speed_kn is None else round(speed_kn * KNOT_MPS, 4),
        bearing_deg=optional(p.get("bearing"), "bearing", 0.0, 360.0),
        altitude_m=optional(p.get("altitude"), "altitude"),
        battery_pct=optional(p.get("batt"), "batt", 0.0, 100.0),
    )


def _json_fix(obj: dict[str, Any], now_s: float | None) -> Fix:
    device = ident(obj.get("device_id"), "device_id")
    if not device:
        raise FieldError("device_id", "no device id", "set the device identifier in the app")
    loc = obj["location"]
    coords = loc.get("coords") if isinstance(loc.get("coords"), dict) else {}
    names = ("location.coords.latitude", "location.coords.longitude")
    lat, lon = position(coords.get("latitude"), coords.get("longitude"), names)
    ts = loc.get("timestamp")
    battery = loc.get("battery") if isinstance(loc.get("battery"), dict) else {}
    level = optional(battery.get("level"), "location.battery.level", 0.0, 1.0)
    return Fix(
        time_s=parse_time_s(ts, "location.timestamp") if ts else _now(now_s),
        lat=lat,
        lon=lon,
        device_id=device,
        accuracy_m=optional(coords.get("accuracy"), "location.coords.accuracy", 0.0),
        speed_mps=optional(coords.get("speed"), "location.coords.speed"),
        bearing_deg=optional(coords.get("heading"), "location.coords.heading"),
        altitude_m=optional(coords.get("altitude"), "location.coords.altitude"),
        battery_pct=None if level is None else round(100.0 * level, 1),
    )


def _now(now_s: float | None) -> float:
    if now_s is None:
        raise FieldError("timestamp", "no timestamp", "send the fix time as epoch seconds")
    return now_s
