"""SPOT's shared-page feed (``.../rest-api/2.0/public/feed/<id>/message.json``), as polled.

``response.feedMessageResponse.messages.message`` is a list of messages, or one object when
there is one; each has ``messengerId``, ``unixTime``, ``latitude``, ``longitude``,
``altitude``, ``messageType`` (TRACK, UNLIMITED-TRACK, EXTREME-TRACK, OK, CUSTOM, HELP, SOS,
HELP-CANCEL...), ``messageContent`` and ``batteryState`` (GOOD, LOW). An answer with no
messages is an error object: code ``E-0195`` means nothing new (an empty result); any other code
is a :class:`PayloadError` with SPOT's own words.

SOS and HELP are ``sos`` events, their cancellations ``sos_cancel``, ``batteryState`` LOW
``battery_low`` (GOOD ``battery_ok``), the text of an OK, CUSTOM or HELP message a ``message``.

>>> d = decode_spot({"response": {"feedMessageResponse": {"messages": {"message": {
...     "messengerId": "0-2", "unixTime": 1712862030, "latitude": 41.4, "longitude": -77.1,
...     "messageType": "SOS", "batteryState": "LOW"}}}}})
>>> d.fixes[0].device_id, [e.kind for e in d.events]
('0-2', ['sos', 'battery_low'])
>>> len(decode_spot({"response": {"errors": {"error": {"code": "E-0195"}}}}).fixes)
0
"""

from __future__ import annotations

from functools import partial

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

NO_MESSAGES = "E-0195"
MAX_TEXT_CHARS = 500
_SOS = {"SOS": "sos", "HELP": "sos", "HELP-CANCEL": "sos_cancel", "SOS-CANCEL": "sos_cancel",
        "CANCEL": "sos_cancel"}  # fmt: skip
_TEXT_TYPES = ("OK", "CUSTOM", "HELP")
_BATTERY = {"LOW": "battery_low", "GOOD": "battery_ok"}


def decode_spot(obj: object) -> Decoded:
    """Fixes and device events of a SPOT feed answer, in message order."""
    response = obj.get("response") if isinstance(obj, dict) else None
    if not isinstance(response, dict):
        raise PayloadError('not a SPOT feed answer: expected {"response": {...}}')
    errors = response.get("errors")
    if isinstance(errors, dict):
        error = errors.get("error")
        error = error if isinstance(error, dict) else {}
        if error.get("code") == NO_MESSAGES:
            return Decoded()
        code, text = describe(error.get("code")), describe(error.get("text"))
        raise PayloadError(f"SPOT answered error {code}: {text}")
    feed = response.get("feedMessageResponse")
    messages = feed.get("messages") if isinstance(feed, dict) else None
    listed = messages.get("message") if isinstance(messages, dict) else None
    if listed is None:
        raise PayloadError("SPOT answer without feedMessageResponse.messages.message")
    items = listed if isinstance(listed, list) else [listed]  # one message: an object
    out = Decoded()
    for i, item in enumerate(items):
        out.take(i, f"message[{i}]", partial(_fix, item), partial(_said, item),
                 partial(_whose, item))  # fmt: skip
    return out


def _whose(item: object) -> tuple[str, float] | None:
    """The device and time of a message that is no fix (None: either is unreadable)."""
    if not isinstance(item, dict):
        return None
    when = item.get("unixTime")
    try:
        device = device_id(item.get("messengerId"), "messengerId", "")
        return device, parse_time_s(when if when is not None else item.get("dateTime"))
    except FieldError:
        return None


def _fix(item: object) -> Fix:
    if not isinstance(item, dict):
        raise FieldError("", "is not a JSON object")
    hint = "SPOT names the device in every message"
    device = device_id(item.get("messengerId"), "messengerId", hint)
    when = item.get("unixTime")
    time_s = parse_time_s(when if when is not None else item.get("dateTime"), "unixTime")
    lat, lon = position(item.get("latitude"), item.get("longitude"), ("latitude", "longitude"))
    return Fix(
        time_s=time_s,
        lat=lat,
        lon=lon,
        device_id=device,
        altitude_m=optional(item.get("altitude"), "altitude"),
    )


def _said(item: object, fix: Fix) -> list[DeviceEvent]:
    if not isinstance(item, dict):
        return []
    at = partial(DeviceEvent, fix.time_s, lat=fix.lat, lon=fix.lon, device_id=fix.device_id)
    kind = item.get("messageType")
    out = []
    if isinstance(kind, str) and kind.upper() in _SOS:
        out.append(at(_SOS[kind.upper()]))
    text = item.get("messageContent")
    if kind in _TEXT_TYPES and isinstance(text, str) and text.strip():
        out.append(at("message", text=text.strip()[:MAX_TEXT_CHARS]))
    battery = item.get("batteryState")
    if isinstance(battery, str) and battery.upper() in _BATTERY:
        out.append(at(_BATTERY[battery.upper()]))
    return out
