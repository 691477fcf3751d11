"""Protocol decoders on protocol-exact payloads (and the real inReach logs)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from coursewatch.protocols import PayloadError, parse_time_s
from coursewatch.protocols.inreach import decode_inreach
from coursewatch.protocols.native import decode_native
from coursewatch.protocols.osmand import (
    decode_osmand,
    decode_osmand_json,
    params_from_body,
)
from coursewatch.protocols.owntracks import decode_owntracks

# What Traccar Client (Android) sends, as query parameters.
TRACCAR_QUERY = (
    "id=868123456789012&timestamp=1721395635&lat=38.0291318&lon=-107.6734185&speed=5.2"
    "&bearing=211.0&altitude=2374.9&accuracy=4.7&batt=87.0"
)
# What a recent Traccar Client posts as JSON.
TRACCAR_JSON = {
    "location": {
        "timestamp": "2024-07-19T13:27:15.000Z",
        "coords": {"latitude": 38.0291318, "longitude": -107.6734185, "accuracy": 4.7,
                   "speed": 2.68, "heading": 211.0, "altitude": 2374.9},
        "is_moving": True, "odometer": 0, "event": "motionchange",
        "battery": {"level": 0.87, "is_charging": False},
        "activity": {"type": "on_foot"},
    },
    "device_id": "868123456789012",
}  # fmt: skip
# An OwnTracks location message as the app posts it in HTTP mode.
OWNTRACKS = {
    "_type": "location", "acc": 12, "alt": 2374, "batt": 64, "bs": 1, "conn": "m",
    "created_at": 1721395640, "lat": 38.0291318, "lon": -107.6734185, "m": 1,
    "t": "u", "tid": "r7", "tst": 1721395635, "vac": 3, "vel": 9,
    "topic": "owntracks/ann/phone",
}  # fmt: skip


def test_osmand_query_as_traccar_client_sends_it() -> None:
    params = dict(p.split("=") for p in TRACCAR_QUERY.split("&"))
    (fix,) = decode_osmand(params).fixes
    assert fix.device_id == "868123456789012"
    assert fix.time_s == 1721395635.0
    assert (fix.lat, fix.lon) == (38.0291318, -107.6734185)
    assert fix.speed_mps == pytest.approx(5.2 * 0.514444, abs=1e-3)  # knots
    assert fix.accuracy_m == 4.7 and fix.battery_pct == 87.0 and fix.bearing_deg == 211.0


def test_osmand_variants() -> None:
    ms = decode_osmand({"id": "a", "location": "45.5,6.5", "timestamp": "1721395635000"})
    assert ms.fixes[0].time_s == 1721395635.0 and ms.fixes[0].lat == 45.5
    iso = decode_osmand({"id": "a", "lat": "45", "lon": "6", "timestamp": "2024-07-19 13:27:15"})
    assert iso.fixes[0].time_s == 1721395635.0
    hdop = decode_osmand({"id": "a", "lat": "45", "lon": "6", "hdop": "1.2"}, now_s=100.0)
    assert hdop.fixes[0].accuracy_m == pytest.approx(6.0) and hdop.fixes[0].time_s == 100.0
    form = params_from_body(TRACCAR_QUERY.encode(), "application/x-www-form-urlencoded")
    assert decode_osmand(form).fixes[0].device_id == "868123456789012"


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"lat": "45", "lon": "6", "timestamp": "1"}, "query.id"),
        ({"id": "a", "lat": "95", "lon": "6", "timestamp": "1"}, "query.lat"),
        ({"id": "a", "lat": "x", "lon": "6", "timestamp": "1"}, "query.lat"),
        ({"id": "a", "lat": "45", "lon": "6", "timestamp": "soon"}, "query.timestamp"),
        ({"id": "a", "lat": "45", "lon": "6", "timestamp": "1", "batt": "150"}, "query.batt"),
    ],
)
def test_osmand_bad_fields_are_reported_not_raised(params: dict[str, str], where: str) -> None:
    d = decode_osmand(params)
    assert not d.fixes
    assert d.problems[0].where == where and d.problems[0].message


def test_a_fix_without_its_longitude_says_it_is_missing() -> None:
    """It said "null is not a number" (OsmAnd without lon)."""
    d = decode_osmand({"id": "a", "lat": "45", "timestamp": "1"})
    assert not d.fixes
    assert (d.problems[0].where, d.problems[0].message) == (
        "query.lon",
        "missing: a fix needs its lon",
    )


def test_osmand_json_body() -> None:
    (fix,) = decode_osmand_json(json.dumps(TRACCAR_JSON).encode()).fixes
    assert fix.time_s == 1721395635.0 and fix.speed_mps == 2.68 and fix.battery_pct == 87.0
    with pytest.raises(PayloadError):
        decode_osmand_json(b'{"device_id": "x"}')


def test_owntracks() -> None:
    (fix,) = decode_owntracks(OWNTRACKS).fixes
    assert fix.device_id == "ann/phone" and fix.speed_mps == 2.5 and fix.accuracy_m == 12
    assert decode_owntracks(OWNTRACKS, "bob", "watch").fixes[0].device_id == "bob/watch"
    assert decode_owntracks({"_type": "lwt", "tst": 1}).fixes == []
    bad = decode_owntracks([OWNTRACKS, {**OWNTRACKS, "lat": "north"}])
    assert len(bad.fixes) == 1 and bad.problems[0].where == "[1].lat"
    with pytest.raises(PayloadError):
        decode_owntracks({"lat": 1})


def test_inreach_real_log(data_dir: Path) -> None:
    log = json.loads((data_dir / "tracks" / "ouray_100_2024_inreach_pings.json").read_text())
    decoded = [decode_inreach(payload) for payload in log]
    fixes = [f for d in decoded for f in d.fixes]
    assert len(fixes) == len(log) and not any(d.problems for d in decoded)
    assert fixes[0].device_id == "0000000000" and fixes[0].time_s == 1721395635.0
    assert fixes[0].altitude_m == pytest.approx(2374.8667)
    no_fix = [f for f in fixes if f.lat == 0.0 and f.lon == 0.0]
    assert len(no_fix) == 24  # dropped and counted by the pipeline's filter


def test_inreach_bad_events() -> None:
    d = decode_inreach({"Events": [{"timeStamp": 1, "point": {}}, "x", {"imei": "1"}]})
    assert [p.where for p in d.problems] == ["Events[0].imei", "Events[1].", "Events[2].timeStamp"]
    with pytest.raises(PayloadError):
        decode_inreach([{"Events": []}])


def test_native_and_times() -> None:
    d = decode_native([{"device": "x", "time": "2024-07-19T13:27:15Z", "lat": 1, "lon": 2},
                       {"bib": 1, "time": 5, "lat": 1, "lon": 2, "colour": "red"}])  # fmt: skip
    assert d.fixes[0].time_s == 1721395635.0 and d.problems[0].where == "fixes[1].colour"
    assert math.isclose(parse_time_s("1721395635.5"), 1721395635.5)
    for bad in ("", "nan", -5, True, None, "2024-13-45"):
        with pytest.raises(ValueError):
            parse_time_s(bad)


def _placemark(**data: str) -> str:
    rows = "".join(f'<Data name="{k.replace("_", " ")}"><value>{v}</value></Data>'
                   for k, v in data.items())  # fmt: skip
    return f"<Placemark><ExtendedData>{rows}</ExtendedData></Placemark>"


def test_mapshare_keeps_an_sos_whose_position_is_unreadable_not_one_without_a_time() -> None:
    from coursewatch.protocols.mapshare import decode_mapshare

    good = _placemark(IMEI="300434", Time_UTC="4/11/2024 7:00:30 PM", Latitude="45.9",
                      Longitude="6.87", In_Emergency="False")  # fmt: skip
    no_position = _placemark(IMEI="300434", Time_UTC="4/11/2024 7:10:30 PM", Latitude="garbled",
                             Longitude="6.87", In_Emergency="True")  # fmt: skip
    # without its own time, a message would be new on every poll: dropped (an old "not in
    # emergency" must not end a real SOS, an old SOS must not open again)
    no_time = _placemark(IMEI="300434", Time_UTC="someday", Latitude="45.9", Longitude="6.87",
                         In_Emergency="False", Text="twisted ankle")  # fmt: skip
    nobody = _placemark(IMEI="", Time_UTC="4/11/2024 7:20:30 PM", In_Emergency="True")
    kml = ('<kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
           f"{good}{no_position}{no_time}{nobody}</Document></kml>").encode()  # fmt: skip
    out = decode_mapshare(kml)
    assert len(out.fixes) == 1 and len(out.problems) == 3
    kinds = [(e.kind, e.time_s, math.isnan(e.lat)) for e in out.events]
    t0 = out.fixes[0].time_s
    assert kinds == [("sos_cancel", t0, False), ("sos", t0 + 600, True)]


def test_spot_and_inreach_keep_an_sos_whose_position_is_unreadable() -> None:
    from coursewatch.protocols.spot import decode_spot

    ok = {"messengerId": "0-1", "unixTime": 1_700_000_000, "latitude": 45.9, "longitude": 6.9,
          "messageType": "TRACK"}  # fmt: skip
    sos = {**ok, "unixTime": 1_700_000_600, "latitude": "?", "messageType": "SOS"}
    out = decode_spot({"response": {"feedMessageResponse": {"messages": {"message": [ok, sos]}}}})
    assert len(out.fixes) == 1 and [(e.kind, e.time_s) for e in out.events] == [
        ("sos", 1_700_000_600.0)
    ]
    pushed = {"imei": "300434", "timeStamp": 1_700_000_600_000, "messageCode": 4,
              "point": {"latitude": 200.0, "longitude": 6.9}}  # fmt: skip
    out = decode_inreach({"Events": [pushed]})
    assert not out.fixes and [(e.kind, e.device_id, math.isnan(e.lat)) for e in out.events] == [
        ("sos", "300434", True)
    ]
