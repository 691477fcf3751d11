"""Each reader from a small file written here, plus one test per quirk real files have."""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fit_tool.fit_file_builder import FitFileBuilder
from fit_tool.profile.messages.course_message import CourseMessage
from fit_tool.profile.messages.course_point_message import CoursePointMessage
from fit_tool.profile.messages.file_id_message import FileIdMessage
from fit_tool.profile.messages.record_message import RecordMessage
from fit_tool.profile.profile_type import CoursePoint, FileType, Manufacturer, Sport

from coursewatch.errors import (
    EmptyDataError,
    FileFormatError,
    FileTooLargeError,
    InputError,
)
from coursewatch.formats import RawPoints
from coursewatch.formats.detect import SUPPORTED_FORMATS, read_points, sniff_format
from coursewatch.formats.inreach import InreachPoint, parse_inreach_payload

MAX_BYTES = 10 * 1024 * 1024
T0_S = 1_700_000_000.0  # 2023-11-14T22:13:20Z

GPX11 = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
<metadata><name>Test Loop</name></metadata>
<wpt lat="45.0005" lon="6.0"><name>Aid 1</name></wpt>
<trk><name>track name</name>
<trkseg>
<trkpt lat="45.0" lon="6.0"><ele>1000</ele><time>2023-11-14T22:13:20Z</time></trkpt>
<trkpt lat="45.001" lon="6.0"><ele>1005.5</ele><time>2023-11-14T22:13:30Z</time></trkpt>
</trkseg>
<trkseg>
<trkpt lat="45.002" lon="6.0"/>
</trkseg>
</trk>
<trk><trkseg><trkpt lat="45.003" lon="6.0"/></trkseg></trk>
</gpx>
"""

KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2">
<Document><name>KML course</name>
<Folder><name>Route</name>
<Placemark><name>Line</name><MultiGeometry>
<LineString><coordinates>6.0,45.0,1000 6.0,45.001,1001</coordinates></LineString>
<LineString><coordinates>
  6.0,45.002 6.0,45.003
</coordinates></LineString>
</MultiGeometry></Placemark>
<Placemark><name>Recorded</name><gx:Track>
<when>2023-11-14T22:13:20Z</when><when>2023-11-14T22:13:30Z</when>
<gx:coord>6.0 45.004 1010</gx:coord><gx:coord>6.0 45.005 1011</gx:coord>
</gx:Track></Placemark>
<Placemark><name>Aid 1</name><Point><coordinates>6.0,45.002,0</coordinates></Point></Placemark>
</Folder></Document></kml>
"""

TCX = """<?xml version="1.0" encoding="UTF-8"?>
<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2">
<Courses><Course><Name>TCX course</Name>
<Track>
<Trackpoint><Time>2023-11-14T22:13:20Z</Time><Position><LatitudeDegrees>45.0</LatitudeDegrees>
<LongitudeDegrees>6.0</LongitudeDegrees></Position><AltitudeMeters>1000</AltitudeMeters>
</Trackpoint>
<Trackpoint><Time>2023-11-14T22:13:30Z</Time></Trackpoint>
<Trackpoint><Position><LatitudeDegrees>45.002</LatitudeDegrees>
<LongitudeDegrees>6.0</LongitudeDegrees></Position></Trackpoint>
</Track>
<CoursePoint><Name>Aid 1</Name><Position><LatitudeDegrees>45.001</LatitudeDegrees>
<LongitudeDegrees>6.0</LongitudeDegrees></Position><PointType>Food</PointType></CoursePoint>
</Course></Courses></TrainingCenterDatabase>
"""

TCX_ACTIVITY = """<TrainingCenterDatabase
 xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"><Activities>
<Activity Sport="Running"><Id>2023-11-14T22:13:20Z</Id>
<Lap StartTime="2023-11-14T22:13:20Z"><Track><Trackpoint><Time>2023-11-14T22:13:20Z</Time>
<Position><LatitudeDegrees>45.0</LatitudeDegrees><LongitudeDegrees>6.0</LongitudeDegrees>
</Position></Trackpoint></Track></Lap>
<Lap StartTime="2023-11-14T22:14:20Z"><Track><Trackpoint><Time>2023-11-14T22:14:20Z</Time>
<Position><LatitudeDegrees>45.001</LatitudeDegrees><LongitudeDegrees>6.0</LongitudeDegrees>
</Position></Trackpoint></Track></Lap>
</Activity></Activities></TrainingCenterDatabase>
"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE gpx [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<gpx version="1.1"><trk><name>&lol9;</name><trkseg><trkpt lat="45" lon="6"/></trkseg></trk></gpx>
"""


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def read(tmp_path: Path, name: str, content: str | bytes, max_bytes: int = MAX_BYTES) -> RawPoints:
    return read_points(write(tmp_path, name, content), max_bytes)


# --- GPX -------------------------------------------------------------------------------------


def test_gpx_tracks_and_segments_joined_in_order(tmp_path: Path) -> None:
    raw = read(tmp_path, "loop.gpx", GPX11)
    assert raw.format == "gpx"
    assert raw.name == "Test Loop"
    np.testing.assert_allclose(raw.lat, [45.0, 45.001, 45.002, 45.003])
    np.testing.assert_allclose(raw.ele_m[:2], [1000.0, 1005.5])
    assert raw.time_s[0] == T0_S and raw.time_s[1] == T0_S + 10
    assert math.isnan(raw.time_s[2]) and math.isnan(raw.ele_m[3])
    assert [w.name for w in raw.waypoints] == ["Aid 1"]


def test_gpx_route_only_reads_route_points(tmp_path: Path) -> None:
    gpx = """<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><rte><name>Planned</name>
    <rtept lat="45.0" lon="6.0"/><rtept lat="45.1" lon="6.1"/><rtept lat="45.2" lon="6.2"/>
    </rte></gpx>"""
    raw = read(tmp_path, "route.gpx", gpx)
    assert len(raw) == 3 and raw.name == "Planned"
    assert any("route" in n for n in raw.notes)


def test_gpx_1_0(tmp_path: Path) -> None:
    gpx = """<?xml version="1.0"?><gpx version="1.0" creator="GPSBabel"
    xmlns="http://www.topografix.com/GPX/1/0"><name>Old hike</name><time>2010-10-03T08:00:00Z</time>
    <wpt lat="45.3" lon="14.4"><name>Summit</name></wpt>
    <trk><trkseg><trkpt lat="45.30" lon="14.40"><ele>120</ele><time>2010-10-03T08:00:00Z</time>
    </trkpt><trkpt lat="45.31" lon="14.41"><ele>130</ele></trkpt></trkseg></trk></gpx>"""
    raw = read(tmp_path, "hike.gpx", gpx)
    assert raw.name == "Old hike"
    assert len(raw) == 2 and raw.ele_m[1] == 130.0
    assert raw.time_s[0] == 1286092800.0 and math.isnan(raw.time_s[1])
    assert raw.waypoints[0].name == "Summit"


def test_wrong_extension_is_read_by_content(tmp_path: Path) -> None:
    assert read(tmp_path, "course.txt", GPX11).format == "gpx"
    assert read(tmp_path, "course.gpx", KML).format == "kml"
    assert read(tmp_path, "download", TCX).format == "tcx"


def test_truncated_xml_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="truncated") as info:
        read(tmp_path, "cut.gpx", GPX11[: len(GPX11) // 2])
    assert "cut.gpx" in str(info.value)


def test_xml_bomb_is_refused(tmp_path: Path) -> None:
    # Expanding it would need ~3 GB; defusedxml refuses the entity declarations up front.
    with pytest.raises(FileFormatError, match="entities"):
        read(tmp_path, "bomb.gpx", BILLION_LAUGHS)


def test_gpx_with_only_waypoints_has_no_points(tmp_path: Path) -> None:
    gpx = '<gpx version="1.1"><wpt lat="45" lon="6"><name>A</name></wpt></gpx>'
    with pytest.raises(EmptyDataError, match="no track"):
        read(tmp_path, "wpts.gpx", gpx)


# --- KML / KMZ -------------------------------------------------------------------------------


def test_kml_linestrings_tracks_and_points(tmp_path: Path) -> None:
    raw = read(tmp_path, "course.kml", KML)
    assert raw.format == "kml" and raw.name == "KML course"
    np.testing.assert_allclose(raw.lat, [45.0, 45.001, 45.002, 45.003, 45.004, 45.005])
    assert raw.ele_m[1] == 1001.0 and math.isnan(raw.ele_m[2])
    assert raw.time_s[4] == T0_S and raw.time_s[5] == T0_S + 10
    assert [(w.name, w.lat) for w in raw.waypoints] == [("Aid 1", 45.002)]


def test_kmz_is_a_zip_with_a_kml(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("images/icon.png", b"\x89PNG")
        archive.writestr("doc.kml", KML)
    raw = read(tmp_path, "course.zip", buffer.getvalue())
    assert raw.format == "kmz" and len(raw) == 6


def test_zip_that_is_not_a_kmz(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("course.gpx", GPX11)
    with pytest.raises(FileFormatError, match="not a KMZ"):
        read(tmp_path, "course.kmz", buffer.getvalue())


def test_truncated_kmz(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("doc.kml", KML * 5)
    with pytest.raises(FileFormatError, match="zip"):
        read(tmp_path, "course.kmz", buffer.getvalue()[:200])


# --- GeoJSON ---------------------------------------------------------------------------------


def test_geojson_feature_collection(tmp_path: Path) -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "name": "Course",
                    "coordTimes": ["2023-11-14T22:13:20Z", "2023-11-14T22:13:30Z"],
                },
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[6.0, 45.0, 1000], [6.0, 45.001]],
                },
            },
            {
                "type": "Feature",
                "properties": {"title": "Aid 1"},
                "geometry": {"type": "Point", "coordinates": [6.0, 45.0005]},
            },
            {
                "type": "Feature",
                "properties": {"times": [T0_S * 1000 + 20_000]},  # epoch milliseconds
                "geometry": {"type": "LineString", "coordinates": [[6.0, 45.002]]},
            },
        ],
    }
    raw = read(tmp_path, "course.geojson", json.dumps(doc))
    assert raw.format == "geojson"
    np.testing.assert_allclose(raw.lat, [45.0, 45.001, 45.002])
    np.testing.assert_allclose(raw.time_s, [T0_S, T0_S + 10, T0_S + 20])
    assert raw.ele_m[0] == 1000.0 and math.isnan(raw.ele_m[1])
    assert raw.waypoints[0].name == "Aid 1"


def test_geojson_multilinestring_parts_joined(tmp_path: Path) -> None:
    doc = {
        "type": "Feature",
        "properties": {"coordTimes": [[T0_S, T0_S + 1], [T0_S + 2]]},
        "geometry": {
            "type": "MultiLineString",
            "coordinates": [[[6.0, 45.0], [6.0, 45.001]], [[6.0, 45.002]]],
        },
    }
    raw = read(tmp_path, "parts.json", json.dumps(doc))
    np.testing.assert_allclose(raw.lat, [45.0, 45.001, 45.002])
    np.testing.assert_allclose(raw.time_s, [T0_S, T0_S + 1, T0_S + 2])


def test_bad_json_and_unknown_json(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="JSON"):
        read(tmp_path, "cut.geojson", '{"type": "LineString", "coordinates": [[6.0, 4')
    with pytest.raises(FileFormatError, match="neither GeoJSON"):
        read(tmp_path, "other.json", '{"hello": "world"}')


def test_geojson_with_bad_coordinates(tmp_path: Path) -> None:
    doc = {"type": "LineString", "coordinates": [[6.0]]}
    with pytest.raises(FileFormatError, match="malformed"):
        read(tmp_path, "bad.geojson", json.dumps(doc))


# --- TCX -------------------------------------------------------------------------------------


def test_tcx_course(tmp_path: Path) -> None:
    raw = read(tmp_path, "course.tcx", TCX)
    assert raw.format == "tcx" and raw.name == "TCX course"
    assert len(raw) == 3 and math.isnan(raw.lat[1]) and raw.time_s[1] == T0_S + 10
    assert raw.ele_m[0] == 1000.0
    assert [w.name for w in raw.waypoints] == ["Aid 1"]


def test_tcx_activity_laps_joined(tmp_path: Path) -> None:
    raw = read(tmp_path, "run.tcx", TCX_ACTIVITY)
    np.testing.assert_allclose(raw.time_s, [T0_S, T0_S + 60])


# --- FIT -------------------------------------------------------------------------------------


def fit_bytes(file_type: FileType) -> bytes:
    builder = FitFileBuilder(auto_define=True, min_string_size=50)
    message = FileIdMessage()
    message.type = file_type
    message.manufacturer = Manufacturer.DEVELOPMENT.value
    message.product = 0
    message.time_created = int(T0_S * 1000)
    message.serial_number = 1
    builder.add(message)
    if file_type == FileType.COURSE:
        course = CourseMessage()
        course.course_name = "FIT course"
        course.sport = Sport.RUNNING
        builder.add(course)
    no_fix = RecordMessage()  # a record before the first GPS fix
    no_fix.timestamp = int(T0_S * 1000)
    builder.add(no_fix)
    for i in range(3):
        record = RecordMessage()
        record.timestamp = int((T0_S + 1 + i) * 1000)
        record.position_lat = 45.0 + i * 0.001
        record.position_long = 6.0
        record.altitude = 1000.0 + i
        builder.add(record)
    if file_type == FileType.COURSE:
        point = CoursePointMessage()
        point.timestamp = int((T0_S + 2) * 1000)
        point.position_lat = 45.001
        point.position_long = 6.0
        point.type = CoursePoint.FOOD
        point.course_point_name = "Aid 1"
        builder.add(point)
    return bytes(builder.build().to_bytes())


def test_fit_course(tmp_path: Path) -> None:
    raw = read(tmp_path, "course.fit", fit_bytes(FileType.COURSE))
    assert raw.format == "fit" and raw.name == "FIT course"
    assert len(raw) == 4 and math.isnan(raw.lat[0]) and math.isnan(raw.lon[0])
    np.testing.assert_allclose(raw.lat[1:], [45.0, 45.001, 45.002], atol=1e-6)
    np.testing.assert_allclose(raw.time_s, [T0_S, T0_S + 1, T0_S + 2, T0_S + 3])
    np.testing.assert_allclose(raw.ele_m[1:], [1000.0, 1001.0, 1002.0])
    assert raw.waypoints[0].name == "Aid 1"
    assert raw.waypoints[0].lat == pytest.approx(45.001, abs=1e-6)


def test_fit_activity(tmp_path: Path) -> None:
    raw = read(tmp_path, "run.bin", fit_bytes(FileType.ACTIVITY))
    assert raw.format == "fit" and raw.name is None and len(raw) == 4


def test_corrupt_and_truncated_fit(tmp_path: Path) -> None:
    data = bytearray(fit_bytes(FileType.ACTIVITY))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(FileFormatError, match="corrupt"):
        read(tmp_path, "corrupt.fit", bytes(data))
    with pytest.raises(FileFormatError, match="truncated"):
        read(tmp_path, "cut.fit", fit_bytes(FileType.ACTIVITY)[:60])


# --- inReach ---------------------------------------------------------------------------------


def inreach_event(ts_ms: int, lat: float, lon: float, fix: int = 2) -> dict[str, object]:
    point = {"latitude": lat, "longitude": lon, "altitude": 2000.0, "gpsFix": fix}
    return {"imei": "0", "messageCode": 0, "timeStamp": ts_ms, "point": point}


def test_inreach_keeps_no_fix_and_duplicates_in_arrival_order(tmp_path: Path) -> None:
    log = [
        {"Version": "3.0", "Events": [inreach_event(1_700_000_600_000, 38.01, -107.6)]},
        {"Version": "3.0", "Events": [inreach_event(1_700_000_000_000, 38.00, -107.6)]},
        {"Version": "3.0", "Events": [inreach_event(1_700_000_900_000, 0.0, 0.0, fix=0)]},
        {"Version": "3.0", "Events": [inreach_event(1_700_000_600_000, 38.01, -107.6)]},
    ]
    raw = read(tmp_path, "pings.json", json.dumps(log))
    assert raw.format == "inreach" and len(raw) == 4
    np.testing.assert_allclose(raw.lat, [38.01, 38.00, 0.0, 38.01])
    np.testing.assert_allclose(raw.time_s, [T0_S + 600, T0_S, T0_S + 900, T0_S + 600])


def test_inreach_single_payload_and_helper(tmp_path: Path) -> None:
    payload = {"Version": "3.0", "Events": [inreach_event(1_700_000_000_000, 38.0, -107.6)]}
    assert len(read(tmp_path, "one.json", json.dumps(payload))) == 1
    assert parse_inreach_payload(payload) == [InreachPoint(38.0, -107.6, 2000.0, T0_S)]
    with pytest.raises(InputError, match="Events"):
        parse_inreach_payload({"events": []})
    with pytest.raises(InputError, match="latitude"):
        parse_inreach_payload({"Events": [inreach_event(0, "x", 1.0)]})  # type: ignore[arg-type]


# --- the sniffer and the file checks ---------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="empty"):
        read(tmp_path, "empty.gpx", b"")
    with pytest.raises(FileFormatError, match="empty"):
        read(tmp_path, "blank.gpx", "\n  \n")


def test_too_large_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(FileTooLargeError, match="COURSEWATCH_MAX_FILE_BYTES"):
        read(tmp_path, "big.gpx", GPX11, max_bytes=100)


def test_unknown_content_lists_the_formats(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError) as info:
        read(tmp_path, "notes.gpx", "lat,lon\n45,6\n")
    assert SUPPORTED_FORMATS in str(info.value)
    with pytest.raises(FileFormatError, match="not GPX, KML or TCX"):
        read(tmp_path, "page.gpx", "<html><body>404</body></html>")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_points(tmp_path / "nope.gpx", MAX_BYTES)


def test_sniff_sees_the_root_past_comments_and_bom() -> None:
    head = b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- <kml> -->'
    head += b"<!DOCTYPE x><tcx:TrainingCenterDatabase>"
    assert sniff_format(head) == "tcx"
    assert sniff_format(b"   [1, 2]") == "json"
    assert sniff_format(b"hello") == "unknown"
    # Many comments and no root: answered at once (a naive regex backtracks for minutes).
    assert sniff_format(b"<?xml?>" + b"<!-- a -->  " * 5000 + b"x") == "xml"


def test_a_recording_cut_short_is_read_up_to_its_cut_a_course_never(tmp_path: Path) -> None:
    """A watch that died while writing: the file ends mid-way, and the runner's race before
    the cut was refused whole. A recording is read up to its last complete point and says so;
    a course cut short is still refused (a line cut short would follow runners on half of
    it), and so is a file broken before its end."""
    from coursewatch.formats.load import load_course, load_track

    cut = GPX11[: GPX11.index("</trkseg>") + 3]  # in the first segment's closing tag
    path = write(tmp_path, "cut.gpx", cut)
    track = load_track(path)
    assert len(track) == 2 and track.notes and "ends mid-way" in track.notes[0]
    with pytest.raises(FileFormatError, match="truncated"):
        load_course(path)
    broken = GPX11.replace("<ele>1000</ele>", "<ele>1000</el>")
    with pytest.raises(FileFormatError, match="not well-formed"):
        load_track(write(tmp_path, "broken.gpx", broken))
    # cut before its first point: cut short, not broken (it said "not only cut short")
    early = GPX11[: GPX11.index("<trkpt")] + "<trk"
    with pytest.raises(FileFormatError, match="cut short before its first point"):
        load_track(write(tmp_path, "early.gpx", early))
