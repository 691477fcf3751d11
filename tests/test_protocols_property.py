"""Every protocol decoder, given anything JSON-like, returns a Decoded or raises PayloadError.

Arbitrary values (null, booleans, integers up to 400 digits, NaN and the infinities, text,
lists and objects nested at random, the JSON reader's LongNumber) and, more useful, valid
payloads with one value swapped for such a thing or one key dropped. A Decoded's fixes are
finite and in range and its messages short, whatever came in.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coursewatch.protocols import Decoded, LongNumber, PayloadError
from coursewatch.protocols.inreach import decode_inreach
from coursewatch.protocols.jsonbody import JsonError, read_json
from coursewatch.protocols.native import decode_native
from coursewatch.protocols.osmand import decode_osmand, decode_osmand_json
from coursewatch.protocols.owntracks import decode_owntracks

FAST = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NOW = 1_780_000_000.0
KEYS = [
    "bib", "device", "time", "lat", "lon", "accuracy_m", "speed_mps", "bearing_deg",
    "altitude_m", "battery_pct", "fixes", "_type", "tst", "acc", "vel", "cog", "alt", "batt",
    "tid", "topic", "Events", "imei", "timeStamp", "point", "latitude", "longitude", "altitude",
    "speed", "course", "device_id", "location", "timestamp", "coords", "accuracy", "heading",
    "battery", "level", "id", "deviceid", "hdop", "bearing",
]  # fmt: skip

deep = st.integers(1, 40).map(lambda n: json.loads("[" * n + "]" * n))
huge_ints = st.integers(-(10**400), 10**400) | st.sampled_from([10**309, -(10**309), 2**64])
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | huge_ints
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["9" * 400, "x" * 5000, "nan", "-inf", "1e400", "2024-07-19T13:27:15Z"])
    | st.builds(LongNumber, st.integers(41, 1000))
    | deep
)
keys = st.sampled_from(KEYS) | st.text(max_size=10)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=20,
)

T = 1_721_395_635
VALID: dict[str, Any] = {
    "native": {"fixes": [{"bib": "7", "time": T, "lat": 45.9, "lon": 6.87, "accuracy_m": 8,
                          "speed_mps": 1.5, "bearing_deg": 90, "altitude_m": 1000,
                          "battery_pct": 80},
                         {"device": "d", "time": "2024-07-19T13:27:15Z", "lat": 45.9,
                          "lon": 6.87}]},
    "owntracks": [{"_type": "location", "lat": 45.9, "lon": 6.87, "tst": T, "acc": 12,
                   "vel": 9, "cog": 10, "alt": 1000, "batt": 50, "tid": "r7",
                   "topic": "owntracks/ann/phone"}],
    "inreach": {"Version": "3.0", "Events": [{"imei": "300434030000000", "timeStamp": T * 1000,
                "point": {"latitude": 38.0, "longitude": -107.6, "altitude": 2374.0,
                          "gpsFix": 2, "course": 45.0, "speed": 5.0}}]},
    "osmand_json": {"device_id": "123456", "location": {"timestamp": "2024-07-19T13:27:15Z",
                    "coords": {"latitude": 45.9, "longitude": 6.87, "accuracy": 8,
                               "speed": 1.2, "heading": 90, "altitude": 1000},
                    "battery": {"level": 0.8}}},
}  # fmt: skip
OSMAND = {"id": "123456", "lat": "45.9", "lon": "6.87", "timestamp": str(T), "speed": "3.0",
          "bearing": "90", "altitude": "1000", "accuracy": "8", "hdop": "1.2", "batt": "80",
          "location": "45.9,6.87"}  # fmt: skip


def _paths(obj: object, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*path, i))
    return out


def _mutate(obj: Any, path: tuple[Any, ...], value: object, drop: bool) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(obj))
    node = copy
    for key in path[:-1]:
        node = node[key]
    if drop and isinstance(node, dict):
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return copy


# what was found against a real server, drawn as often as everything else together
poison = st.sampled_from(
    [10**309, -(10**309), 10**400, 2**64, LongNumber(309), math.nan, math.inf, -math.inf,
     "9" * 309, "x" * 5000, json.loads("[" * 40 + "]" * 40), [], {}, None, True, "", "1e400"]
)  # fmt: skip


def mutations(valid: Any) -> st.SearchStrategy[Any]:
    """``valid`` with one value (or one key) replaced by something arbitrary."""
    paths = _paths(valid)
    new = poison | values
    return st.builds(_mutate, st.just(valid), st.sampled_from(paths), new, st.booleans())


def check(decode: Callable[[], Decoded]) -> None:
    try:
        decoded = decode()
    except PayloadError as exc:
        assert len(str(exc)) < 500
        return
    assert isinstance(decoded, Decoded)
    assert len(decoded.fixes) == len(decoded.index)
    for fix in decoded.fixes:
        assert -90 <= fix.lat <= 90 and -180 <= fix.lon <= 180, fix
        assert math.isfinite(fix.time_s), fix
        for x in (fix.accuracy_m, fix.speed_mps, fix.bearing_deg, fix.altitude_m):
            assert x is None or math.isfinite(x), fix
        for name in (fix.bib, fix.device_id):
            assert name is None or (isinstance(name, str) and len(name) <= 128), fix
    for p in decoded.problems:
        assert len(p.message) < 300 and len(p.where) < 300 and len(p.hint) < 300, p


@FAST
@given(values | mutations(VALID["native"]))
def test_native(obj: object) -> None:
    check(lambda: decode_native(obj))


@FAST
@given(values | mutations(VALID["owntracks"]), st.none() | st.text(max_size=200))
def test_owntracks(obj: object, user: str | None) -> None:
    check(lambda: decode_owntracks(obj, user, user))


@FAST
@given(values | mutations(VALID["inreach"]))
def test_inreach(obj: object) -> None:
    check(lambda: decode_inreach(obj))


def _dumps(obj: object) -> bytes:
    """JSON text of anything :data:`values` makes (a LongNumber as its digits)."""
    if isinstance(obj, LongNumber):
        return b"9" * obj.digits
    if isinstance(obj, list):
        return b"[" + b",".join(map(_dumps, obj)) + b"]"
    if isinstance(obj, dict):
        items = (json.dumps(str(k)).encode() + b":" + _dumps(v) for k, v in obj.items())
        return b"{" + b",".join(items) + b"}"
    return json.dumps(obj).encode()


@FAST
@given(values | mutations(VALID["osmand_json"]), st.none() | st.just(NOW))
def test_osmand_json(obj: object, now: float | None) -> None:
    check(lambda: decode_osmand_json(_dumps(obj), now))


query_text = st.text(max_size=30) | st.sampled_from(["9" * 400, "nan", "inf", "1e400", "", " "])
osmand_params = st.dictionaries(st.sampled_from(list(OSMAND)) | st.text(max_size=8), query_text)


def _osmand_mutated(params: dict[str, str], dropped: set[str]) -> dict[str, str]:
    return {k: v for k, v in {**OSMAND, **params}.items() if k not in dropped}


@FAST
@given(
    osmand_params
    | st.builds(_osmand_mutated, osmand_params, st.sets(st.sampled_from(list(OSMAND))))
)
def test_osmand_query(params: dict[str, str]) -> None:
    check(lambda: decode_osmand(params, NOW))


@FAST
@given(values.map(_dumps) | st.binary(max_size=200))
def test_json_reader_reads_or_refuses_with_its_own_error(data: bytes) -> None:
    try:
        obj = read_json(data)
    except JsonError as exc:
        assert exc.where and exc.hint and len(str(exc)) < 300
        return
    check(lambda: decode_native(obj))


SPOT = {"response": {"feedMessageResponse": {"count": 1, "totalCount": 1, "messages": {
    "message": [{"messengerId": "0-2", "unixTime": T, "latitude": 41.4, "longitude": -77.1,
                 "altitude": 100, "messageType": "SOS", "batteryState": "LOW",
                 "messageContent": "help"}]}}}}  # fmt: skip
MAPSHARE_DATA = {"IMEI": "300434", "Time UTC": "7/19/2024 1:27:15 PM", "Latitude": "38.0",
                 "Longitude": "-107.6", "Elevation": "2374.0 m from MSL",
                 "Velocity": "6.0 km/h", "Course": "45.00 ° True", "Valid GPS Fix": "True",
                 "In Emergency": "True", "Text": "ankle"}  # fmt: skip


def _kml(data: dict[str, str], when: str | None) -> bytes:
    from xml.sax.saxutils import escape, quoteattr

    rows = "".join(f"<Data name={quoteattr(k)}><value>{escape(v)}</value></Data>"
                   for k, v in data.items())  # fmt: skip
    stamp = f"<TimeStamp><when>{escape(when)}</when></TimeStamp>" if when is not None else ""
    return (f'<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark>{stamp}'
            f"<ExtendedData>{rows}</ExtendedData></Placemark></Document></kml>").encode(
                "utf-8", "surrogatepass")  # fmt: skip


@FAST
@given(values | mutations(SPOT))
def test_spot(obj: object) -> None:
    from coursewatch.protocols.spot import decode_spot

    check(lambda: decode_spot(obj))


@FAST
@given(
    st.dictionaries(st.sampled_from(list(MAPSHARE_DATA)), st.text(max_size=40)).map(
        lambda changed: {**MAPSHARE_DATA, **changed}
    ),
    st.none() | st.text(max_size=40),
)
def test_mapshare(data: dict[str, str], when: str | None) -> None:
    from coursewatch.protocols.mapshare import decode_mapshare

    check(lambda: decode_mapshare(_kml(data, when)))


@FAST
@given(st.binary(max_size=300))
def test_mapshare_bytes(data: bytes) -> None:
    from coursewatch.protocols.mapshare import decode_mapshare

    check(lambda: decode_mapshare(data))
