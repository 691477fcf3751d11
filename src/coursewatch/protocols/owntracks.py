"""OwnTracks in HTTP mode: the app POSTs JSON messages; only ``_type: location`` carries a fix.

The device is named by the ``X-Limit-U`` / ``X-Limit-D`` headers the app sends (user/device),
else by the ``topic`` (``owntracks/user/device``), else by the tracker id ``tid``. ``vel`` is in
km/h. Other message types (``lwt``, ``transition``, ``card``...) are accepted and ignored.

>>> d = decode_owntracks({"_type": "location", "lat": 45.9, "lon": 6.87, "tst": 1721395635,
...                       "acc": 12, "vel": 9, "tid": "r7"}, user="ann", device="phone")
>>> d.fixes[0].device_id, d.fixes[0].speed_mps
('ann/phone', 2.5)
"""

from __future__ import annotations

from functools import partial
from typing import Any

from coursewatch.protocols import (
    Decoded,
    FieldError,
    Fix,
    PayloadError,
    ident,
    optional,
    position,
)
from coursewatch.protocols import parse_time_s as _time

KMH_MPS = 1 / 3.6


def decode_owntracks(obj: object, user: str | None = None, device: str | None = None) -> Decoded:
    """Fixes from one OwnTracks message (or a list of them, as queued messages arrive)."""
    messages = obj if isinstance(obj, list) else [obj]
    out = Decoded()
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or "_type" not in msg:
            raise PayloadError(
                f"OwnTracks message {i} has no _type: expected JSON such as "
                '{"_type": "location", "lat": ..., "lon": ..., "tst": ...}'
            )
        if msg["_type"] != "location":
            continue
        out.take(i, f"[{i}]", partial(_fix, msg, user, device))
    return out


def _fix(msg: dict[str, Any], user: str | None, device: str | None) -> Fix:
    lat, lon = position(msg.get("lat"), msg.get("lon"))
    if "tst" not in msg:
        raise FieldError("tst", "no timestamp", "OwnTracks sends tst: check the client")
    vel = optional(msg.get("vel"), "vel", 0.0)
    return Fix(
        time_s=_time(msg["tst"], "tst"),
        lat=lat,
        lon=lon,
        device_id=_device(msg, user, device),
        accuracy_m=optional(msg.get("acc"), "acc", 0.0),
        speed_mps=None if vel is None else round(vel * KMH_MPS, 4),
        bearing_deg=optional(msg.get("cog"), "cog"),
        altitude_m=optional(msg.get("alt"), "alt"),
        battery_pct=optional(msg.get("batt"), "batt", 0.0, 100.0),
    )


def _device(msg: dict[str, Any], user: str | None, device: str | None) -> str:
    if user and device:
        return _id(f"{user}/{device}", "X-Limit-U/X-Limit-D")
    topic = msg.get("topic")
    if isinstance(topic, str) and topic.count("/") >= 2:
        return _id("/".join(topic.split("/")[1:3]), "topic")
    tid = msg.get("tid")
    if isinstance(tid, str) and tid:
        return _id(tid, "tid")
    raise FieldError(
        "tid",
        "cannot tell which device sent this",
        "set a Username and Device ID in the app (Connection > Identification)",
    )


def _id(text: str, field: str) -> str:
    return ident(text, field) or text  # the text itself, or a FieldError when too long
