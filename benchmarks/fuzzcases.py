"""Inputs for benchmarks/fuzz.py: a small valid sample of every payload and file format, and
the mutations that make them odd (poison values, bytes flipped, cut, duplicated or spliced, a
number swapped for ``1e999`` or 400 digits; FIT files re-signed so the reader gets past the CRC).
"""

from __future__ import annotations

import io
import json
import random
import re
import struct
import time
import zipfile
from typing import Any

import fitdecode.utils
from fit_tool.fit_file_builder import FitFileBuilder
from fit_tool.profile.messages.file_id_message import FileIdMessage
from fit_tool.profile.messages.record_message import RecordMessage
from fit_tool.profile.profile_type import FileType, Manufacturer

# --- samples -----------------------------------------------------------------------------------
T = 1_721_395_635
JSON_SAMPLES: dict[str, Any] = {
    "native": {"fixes": [{"bib": "7", "time": T, "lat": 45.9, "lon": 6.87, "accuracy_m": 8},
                         {"device": "d", "time": "2024-07-19T13:27:15Z", "lat": 45.91,
                          "lon": 6.88, "speed_mps": 1.5, "bearing_deg": 90, "altitude_m": 1000,
                          "battery_pct": 80}]},
    "owntracks": [{"_type": "location", "lat": 45.9, "lon": 6.87, "tst": T, "acc": 12, "vel": 9,
                   "cog": 10, "alt": 1000, "batt": 50, "tid": "r7",
                   "topic": "owntracks/ann/phone"}, {"_type": "lwt", "tst": T}],
    "inreach": {"Version": "3.0", "Events": [{"imei": "300434030000000", "timeStamp": T * 1000,
                "point": {"latitude": 38.0, "longitude": -107.6, "altitude": 2374.0,
                          "gpsFix": 2, "course": 45.0, "speed": 5.0}}]},
    "osmand_json": {"device_id": "123456", "location": {"timestamp": "2024-07-19T13:27:15Z",
                    "coords": {"latitude": 45.9, "longitude": 6.87, "accuracy": 8, "speed": 1.2,
                               "heading": 90, "altitude": 1000}, "battery": {"level": 0.8}}},
}  # fmt: skip
OSMAND_SAMPLE = {"id": "123456", "lat": "45.9", "lon": "6.87", "timestamp": str(T),
                 "speed": "3.0", "bearing": "90", "altitude": "1000", "accuracy": "8",
                 "hdop": "1.2", "batt": "80"}  # fmt: skip
POINTS = [(45.9 + 0.001 * i, 6.87 + 0.0005 * i, 1000.0 + i, T + 30 * i) for i in range(6)]


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _gpx() -> bytes:
    pts = "".join(f'<trkpt lat="{a}" lon="{o}"><ele>{e}</ele><time>{_iso(t)}</time></trkpt>'
                  for a, o, e, t in POINTS)  # fmt: skip
    return (f'<?xml version="1.0" encoding="UTF-8"?><gpx version="1.1" creator="fuzz" '
            f'xmlns="http://www.topografix.com/GPX/1/1"><wpt lat="45.902" lon="6.871">'
            f"<name>Aid 1</name></wpt><trk><name>run</name><trkseg>{pts}</trkseg></trk></gpx>"
            ).encode()  # fmt: skip


def _kml() -> bytes:
    line = " ".join(f"{o},{a},{e}" for a, o, e, _ in POINTS)
    whens = "".join(f"<when>{_iso(t)}</when>" for *_, t in POINTS)
    coords = "".join(f"<gx:coord>{o} {a} {e}</gx:coord>" for a, o, e, _ in POINTS)
    return (f'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2" '
            f'xmlns:gx="http://www.google.com/kml/ext/2.2"><Document><Placemark><LineString>'
            f"<coordinates>{line}</coordinates></LineString></Placemark><Placemark><gx:Track>"
            f"{whens}{coords}</gx:Track></Placemark><Placemark><name>Aid 1</name><Point>"
            f"<coordinates>6.871,45.902,0</coordinates></Point></Placemark></Document></kml>"
            ).encode()  # fmt: skip


def _tcx() -> bytes:
    pts = "".join(
        f"<Trackpoint><Time>{_iso(t)}</Time><Position><LatitudeDegrees>{a}"
        f"</LatitudeDegrees><LongitudeDegrees>{o}</LongitudeDegrees></Position>"
        f"<AltitudeMeters>{e}</AltitudeMeters></Trackpoint>"
        for a, o, e, t in POINTS
    )
    return ('<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/'
            'TrainingCenterDatabase/v2"><Courses><Course><Name>fuzz</Name><Track>'
            f"{pts}</Track><CoursePoint><Name>Aid 1</Name><Position><LatitudeDegrees>45.902"
            "</LatitudeDegrees><LongitudeDegrees>6.871</LongitudeDegrees></Position><PointType>"
            "Food</PointType></CoursePoint></Course></Courses></TrainingCenterDatabase>"
            ).encode()  # fmt: skip


def _geojson() -> bytes:
    line = {
        "type": "Feature",
        "properties": {"name": "fuzz"},
        "geometry": {"type": "LineString", "coordinates": [[o, a, e] for a, o, e, _ in POINTS]},
    }
    aid = {
        "type": "Feature",
        "properties": {"name": "Aid 1"},
        "geometry": {"type": "Point", "coordinates": [6.871, 45.902]},
    }
    return json.dumps({"type": "FeatureCollection", "features": [line, aid]}).encode()  # fmt: skip


def _fit() -> bytes:
    builder = FitFileBuilder(auto_define=True, min_string_size=50)
    head = FileIdMessage()
    head.type, head.manufacturer = FileType.ACTIVITY, Manufacturer.DEVELOPMENT.value
    head.product, head.time_created, head.serial_number = 0, T * 1000, 1
    builder.add(head)
    for a, o, e, t in POINTS:
        record = RecordMessage()
        record.timestamp, record.position_lat, record.position_long = t * 1000, a, o
        record.altitude = e
        builder.add(record)
    return bytes(builder.build().to_bytes())


def _kmz(kml: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("doc.kml", kml)
    return buf.getvalue()


_INREACH_LOG = [
    {
        "Version": "3.0",
        "Events": [
            {
                "imei": "1",
                "timeStamp": t * 1000,
                "point": {"latitude": a, "longitude": o, "altitude": e, "gpsFix": 2},
            }
        ],
    }
    for a, o, e, t in POINTS
]
FORMAT_SAMPLES = {"gpx": _gpx(), "kml": _kml(), "kmz": _kmz(_kml()), "tcx": _tcx(),
                  "geojson": _geojson(), "fit": _fit(),
                  "inreach": json.dumps(_INREACH_LOG).encode()}  # fmt: skip


# --- mutations -------------------------------------------------------------------------------
POISON_TEXT = ["9" * 309, "-" + "9" * 400, "1e999", "-1e999", "NaN", "Infinity", "-Infinity",
               "[" * 1000 + "]" * 1000, "[" * 33 + "]" * 33, '"' + "x" * 5000 + '"', '"\\ud800"',
               "0." + "0" * 60 + "1", "1" * 41, "-0", "1e-400", '""', "null", "true", "{}",
               "[]", "91", "-181", "1E+308", "0x10"]  # fmt: skip
POISON_BYTES = [p.encode() for p in POISON_TEXT] + [b"\x00", b"\xff\xfe", b"<!DOCTYPE x [",
                b"&amp;", b"<![CDATA[", b"]]>", b"\xed\xa0\x80", b"PK\x03\x04"]  # fmt: skip


class Raw:
    """JSON text written as is (a poison literal no Python value serializes to)."""

    def __init__(self, text: str) -> None:
        self.text = text


def random_value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if r < 0.25:
        return Raw(rng.choice(POISON_TEXT))
    if depth < 4 and r < 0.45:
        if rng.random() < 0.5:
            return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
        keys = [*JSON_KEYS, "x", ""]
        return {rng.choice(keys): random_value(rng, depth + 1) for _ in range(rng.randrange(5))}
    return rng.choice([
        None, True, False, rng.randrange(-(10 ** rng.randrange(1, 25)), 10 ** rng.randrange(1, 25)),
        rng.uniform(-1e3, 1e3), rng.choice([0.0, -0.0, 1e308, 5e-324, 90.0, 180.0]),
        "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(12))),
        rng.choice(["", " ", "2024-07-19T13:27:15Z", "45.9", "nan", "1e400", "location"]),
    ])  # fmt: skip


def _keys(obj: Any) -> set[str]:
    if isinstance(obj, dict):
        return set(obj).union(*map(_keys, obj.values()))
    return set().union(*map(_keys, obj)) if isinstance(obj, list) else set()


JSON_KEYS = sorted(_keys(list(JSON_SAMPLES.values())))


def dumps(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, list):
        return "[" + ",".join(map(dumps, value)) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _paths(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    items = (
        obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    )
    for k, v in items:
        out += _paths(v, (*path, k))
    return out


def mutate_json(sample: Any, rng: random.Random) -> bytes:
    """``sample`` with one to three values swapped for random ones (or keys dropped)."""
    obj = json.loads(json.dumps(sample))
    for _ in range(rng.randrange(1, 4)):
        path = rng.choice(_paths(obj))
        if not path:
            obj = random_value(rng)
            continue
        node = obj
        for key in path[:-1]:
            node = node[key]
        if isinstance(node, dict) and rng.random() < 0.2:
            del node[path[-1]]
        else:
            node[path[-1]] = random_value(rng)
    return dumps(obj).encode()


def mutate_bytes(data: bytes, rng: random.Random, others: list[bytes], fit: bool = False) -> bytes:
    """One to four byte-level mutations; a FIT file is re-signed after (mostly)."""
    out = bytearray(data)
    for _ in range(rng.randrange(1, 5)):
        i = rng.randrange(len(out) + 1)
        j = min(len(out), i + rng.randrange(1, 64))
        op = rng.randrange(7)
        if op == 0 and out:
            out[min(i, len(out) - 1)] = rng.randrange(256)
        elif op == 1:
            out[i:i] = rng.choice(POISON_BYTES)
        elif op == 2:
            del out[i:j]
        elif op == 3:
            out[i:i] = out[i:j] * rng.randrange(1, 50)
        elif op == 4:
            del out[i:]
        elif op == 5 and others:
            other = rng.choice(others)
            out[i:] = other[rng.randrange(len(other)) :]
        else:
            out = bytearray(_swap_number(bytes(out), rng))
    return _resign_fit(bytes(out)) if fit and rng.random() < 0.8 else bytes(out)


def _swap_number(data: bytes, rng: random.Random) -> bytes:
    found = list(re.finditer(rb"-?\d+(?:\.\d+)?", data))
    if not found:
        return data
    m = rng.choice(found)
    return data[: m.start()] + rng.choice(POISON_BYTES[:14]) + data[m.end() :]


def _resign_fit(data: bytes) -> bytes:
    """Recompute a FIT file's size and CRCs so the reader parses the mutated body."""
    if len(data) < 14:
        return data
    out = bytearray(data)
    size = out[0] if out[0] in (12, 14) else 14
    struct.pack_into("<I", out, 4, max(0, len(out) - size - 2))
    if size == 14:
        struct.pack_into("<H", out, 12, fitdecode.utils.compute_crc(bytes(out[:12])))
    body = bytes(out[:-2])
    return body + struct.pack("<H", fitdecode.utils.compute_crc(body))
