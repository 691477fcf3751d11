"""Garmin MapShare's KML feed (``share.garmin.com/Feed/Share/<name>``), as the poller reads it.

One Placemark per inReach message, each with ``ExtendedData``: ``Id``, ``Time UTC``, ``IMEI``,
``Latitude``, ``Longitude``, ``Elevation`` ("1628.12 m from MSL"), ``Velocity`` ("6.0 km/h"),
``Course`` ("45.00 ° True"), ``Valid GPS Fix``, ``In Emergency``, ``Text``, ``Event``; the
trailing LineString Placemark (the track drawn through them) has none and is skipped. Parsed
with the project's hardened XML reader (defusedxml: no entity expansion, no external entities).

A message without a position (``Valid GPS Fix: False`` with no or (0, 0) coordinates) comes
out at (0, 0), dropped and counted by the pipeline's filter (one with coordinates but no valid
fix is kept, as IPC Outbound sends the same message). ``In Emergency: True`` is an ``sos``
event (``False`` an ``sos_cancel``, which only ends an SOS the runner is in), a non-empty
``Text`` a ``message``.

>>> d = decode_mapshare(b'''<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Folder>
... <Placemark><TimeStamp><when>2024-04-11T19:00:30Z</when></TimeStamp><ExtendedData>
... <Data name="IMEI"><value>300434</value></Data>
... <Data name="Latitude"><value>41.449034</value></Data>
... <Data name="Longitude"><value>-77.190928</value></Data>
... <Data name="Elevation"><value>503.99 m from MSL</value></Data>
... <Data name="Velocity"><value>3.6 km/h</value></Data>
... <Data name="In Emergency"><value>True</value></Data>
... </ExtendedData></Placemark></Folder></Document></kml>''')
>>> f = d.fixes[0]
>>> f.time_s, f.lat, f.altitude_m, f.speed_mps, d.events[0].kind
(1712862030.0, 41.449034, 503.99, 1.0, 'sos')
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from xml.etree.ElementTree import Element

from coursewatch.errors import FileFormatError
from coursewatch.formats.safexml import local_name, parse_xml
from coursewatch.protocols import (
    Decoded,
    DeviceEvent,
    FieldError,
    Fix,
    PayloadError,
    describe,
    device_id,
    optional,
    parse_time_s,
    position,
)

MAX_TEXT_CHARS = 500
_US_TIME = "%m/%d/%Y %I:%M:%S %p"  # "Time UTC": 4/11/2024 7:00:30 PM


def decode_mapshare(data: bytes) -> Decoded:
    """Fixes and device events of a MapShare KML answer, in document order."""
    try:
        root = parse_xml(data, "the MapShare", "a broken answer from the feed host; asked again")
    except FileFormatError as exc:
        raise PayloadError(exc.detail) from None
    if local_name(str(root.tag)) != "kml":
        raise PayloadError(f"not a MapShare KML feed: the root element is <{root.tag}>")
    out = Decoded()
    placemarks = [el for el in root.iter() if _is(el, "Placemark")]
    for i, placemark in enumerate(p for p in placemarks if _data(p)):
        d = _data(placemark)
        out.take(i, f"Placemark[{i}]", partial(_fix, placemark), partial(_said, d),
                 partial(_whose, placemark, d))  # fmt: skip
    return out


def _whose(placemark: Element, d: dict[str, str]) -> tuple[str, float] | None:
    """The device and time of a placemark that is no fix (None: either is unreadable)."""
    try:
        return device_id(d.get("IMEI") or None, "IMEI", ""), _time(placemark, d)
    except FieldError:
        return None


def _is(el: Element, name: str) -> bool:
    return isinstance(el.tag, str) and local_name(el.tag) == name


def _data(placemark: Element) -> dict[str, str]:
    """ExtendedData's ``<Data name=...><value>...</value></Data>`` as a dict."""
    out: dict[str, str] = {}
    for child in placemark:
        if _is(child, "ExtendedData"):
            for data in child:
                if _is(data, "Data"):
                    value = next((v.text or "" for v in data if _is(v, "value")), "")
                    out[data.get("name", "")] = value.strip()
    return out


def _fix(placemark: Element) -> Fix:
    d = _data(placemark)
    imei = device_id(d.get("IMEI") or None, "IMEI", "MapShare names the device in every message")
    if not d.get("Latitude") and d.get("Valid GPS Fix", "").lower() == "false":
        lat = lon = 0.0  # no position: the filter drops and counts it as no_position
    else:  # a position without a valid fix is the device's last one, as IPC Outbound sends it
        lat, lon = position(d.get("Latitude"), d.get("Longitude"), ("Latitude", "Longitude"))
    speed = _leading(d.get("Velocity"), "Velocity")
    return Fix(
        time_s=_time(placemark, d),
        lat=lat,
        lon=lon,
        device_id=imei,
        speed_mps=None if speed is None else speed / 3.6,
        bearing_deg=_leading(d.get("Course"), "Course"),
        altitude_m=_leading(d.get("Elevation"), "Elevation"),
    )


def _time(placemark: Element, d: dict[str, str]) -> float:
    """The TimeStamp's ISO ``when``; else ``Time UTC`` as MapShare writes it."""
    for el in placemark.iter():
        if _is(el, "when") and el.text and el.text.strip():
            return parse_time_s(el.text.strip(), "TimeStamp.when")
    text = d.get("Time UTC", "")
    try:
        return datetime.strptime(text, _US_TIME).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise FieldError(
            "Time UTC", f"{describe(text)} is not a time", "MapShare writes 4/11/2024 7:00:30 PM"
        ) from None


def _leading(text: str | None, field: str) -> float | None:
    """The number a MapShare value starts with: "503.99 m from MSL", "6.0 km/h"; None when
    there is none (an elevation or speed it cannot read must not cost the message its
    position, or its In Emergency).

    >>> _leading("6.0 km/h", "Velocity"), _leading("N/A", "Velocity"), _leading("1e999", "x")
    (6.0, None, None)
    """
    if not text:
        return None
    try:
        return optional(text.split()[0], field)
    except FieldError:
        return None


def _said(d: dict[str, str], fix: Fix) -> list[DeviceEvent]:
    at = partial(DeviceEvent, fix.time_s, lat=fix.lat, lon=fix.lon, device_id=fix.device_id)
    emergency = d.get("In Emergency", "").lower()
    out = []
    if emergency in ("true", "false"):
        out.append(at("sos" if emergency == "true" else "sos_cancel"))
    text = d.get("Text", "")
    if text:
        out.append(at("message", text=text[:MAX_TEXT_CHARS]))
    return out
