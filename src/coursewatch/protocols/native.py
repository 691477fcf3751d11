"""The native batch: many fixes of many runners in one JSON request.

``{"fixes": [{"bib": "7", "time": 1721395635, "lat": 45.9, "lon": 6.87, "accuracy_m": 8}, ...]}``
(or ``"device"`` instead of ``"bib"``; ``time`` as epoch seconds, milliseconds or ISO 8601). A
bare list of fixes is accepted too. Each fix is checked on its own: bad ones are reported by
index and field, the good ones go on.

>>> d = decode_native({"fixes": [{"bib": 7, "time": 1721395635, "lat": 45.9, "lon": 6.87},
...                              {"bib": 7, "time": 1721395640, "lat": 95.0, "lon": 6.87}]})
>>> len(d.fixes), d.problems[0].where
(1, 'fixes[1].lat')
"""

from __future__ import annotations

from functools import partial
from typing import Any

from coursewatch.protocols import (
    MAX_ID_CHARS,
    Decoded,
    FieldError,
    Fix,
    PayloadError,
    describe,
    ident,
    optional,
    parse_time_s,
    position,
)

_KEYS = {
    "bib", "device", "time", "lat", "lon", "accuracy_m", "speed_mps", "bearing_deg",
    "altitude_m", "battery_pct",
}  # fmt: skip


def decode_native(obj: object) -> Decoded:
    """Fixes of a native batch, each checked on its own."""
    items = obj.get("fixes") if isinstance(obj, dict) else obj
    if not isinstance(items, list):
        raise PayloadError(
            'a batch is {"fixes": [{"bib": "7", "time": ..., "lat": ..., "lon": ...}, ...]}'
        )
    out = Decoded()
    fixes, index = out.fixes, out.index
    for i, item in enumerate(items):
        # the common case (bib, epoch-second time, lat, lon; all valid) without the full checks
        if type(item) is dict and len(item) == 4:
            bib, t, lat, lon = item.get("bib"), item.get("time"), item.get("lat"), item.get("lon")
            if (
                type(bib) is str and type(t) is float and type(lat) is float
                and type(lon) is float and 0.0 < t < 1e11 and -90.0 <= lat <= 90.0
                and -180.0 <= lon <= 180.0 and len(bib) <= MAX_ID_CHARS
            ):  # fmt: skip
                fixes.append(Fix(t, lat, lon, None, bib))
                index.append(i)
                continue
        out.take(i, f"fixes[{i}]", partial(_fix, item))
    return out


def _fix(item: Any) -> Fix:
    if not isinstance(item, dict):
        raise FieldError("", "is not a JSON object", 'send {"bib": ..., "time": ..., ...}')
    if not _KEYS.issuperset(item):
        unknown = sorted(_name(k) for k in item if k not in _KEYS)
        raise FieldError(
            unknown[0],
            f"unknown field(s) {', '.join(unknown[:5])}{'...' if len(unknown) > 5 else ''}",
            f"allowed: {', '.join(sorted(_KEYS))}",
        )
    bib, device = ident(item.get("bib"), "bib"), ident(item.get("device"), "device")
    if bib is None and device is None:
        raise FieldError("bib", "says neither bib nor device", "give the runner's bib")
    lat, lon = position(item.get("lat"), item.get("lon"))
    if "time" not in item:
        raise FieldError("time", "missing", "give the fix time as epoch seconds or ISO 8601")
    return Fix(
        time_s=parse_time_s(item["time"]),
        lat=lat,
        lon=lon,
        device_id=device,
        bib=bib,
        accuracy_m=optional(item.get("accuracy_m"), "accuracy_m", 0.0),
        speed_mps=optional(item.get("speed_mps"), "speed_mps", 0.0),
        bearing_deg=optional(item.get("bearing_deg"), "bearing_deg"),
        altitude_m=optional(item.get("altitude_m"), "altitude_m"),
        battery_pct=optional(item.get("battery_pct"), "battery_pct", 0.0, 100.0),
    )


def _name(key: object) -> str:
    return key if isinstance(key, str) and len(key) <= MAX_ID_CHARS else describe(key)
