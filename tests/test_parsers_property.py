"""Every file parser, fed garbage and near-misses: it returns a course or a track, or raises
the project's :class:`InputError` with a message of its own, never anything else.

The inputs are arbitrary bytes and, more useful, small valid files of every format mutated a
little: bytes flipped, cut or spliced, numbers swapped for odd ones (NaN, 1e999, -91, text),
FIT files re-signed after the mutation so that the reader gets past the CRC. A message from
the reader's last-resort handler ("could not be read (KeyError: ...)") counts as a crash: the
reader met a case it had not thought of. ``COURSEWATCH_FUZZ_EXAMPLES`` runs more examples.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import time
import zipfile
from collections.abc import Callable

import fitdecode.utils
import pytest
from fit_tool.fit_file_builder import FitFileBuilder
from fit_tool.profile.messages.course_message import CourseMessage
from fit_tool.profile.messages.course_point_message import CoursePointMessage
from fit_tool.profile.messages.file_id_message import FileIdMessage
from fit_tool.profile.messages.record_message import RecordMessage
from fit_tool.profile.profile_type import CoursePoint, FileType, Manufacturer, Sport
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coursewatch.course import Course
from coursewatch.errors import InputError
from coursewatch.formats.load import course_from_bytes, track_from_bytes
from coursewatch.track import Track

EXAMPLES = int(os.environ.get("COURSEWATCH_FUZZ_EXAMPLES", "100"))
MAX_BYTES = 1024 * 1024
EXAMPLE_MAX_S = 5.0
FALLBACK = "could not be read ("  # the reader's last-resort message: an unforeseen exception
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
T0 = "2024-07-19T13:27:{:02d}Z"
LAT = [45.9, 45.901, 45.902, 45.903, 45.904]
LON = [6.87, 6.871, 6.872, 6.873, 6.874]


def gpx_sample() -> bytes:
    points = "".join(
        f'<trkpt lat="{la}" lon="{lo}"><ele>{1000 + i}</ele><time>{T0.format(i)}</time></trkpt>'
        for i, (la, lo) in enumerate(zip(LAT, LON, strict=True))
    )
    return (
        '<?xml version="1.0"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">'
        '<metadata><name>Five</name></metadata><wpt lat="45.902" lon="6.872"><name>Aid</name>'
        f"</wpt><trk><name>t</name><trkseg>{points}</trkseg></trk></gpx>"
    ).encode()


def tcx_sample() -> bytes:
    points = "".join(
        f"<Trackpoint><Time>{T0.format(i)}</Time><Position><LatitudeDegrees>{la}"
        f"</LatitudeDegrees><LongitudeDegrees>{lo}</LongitudeDegrees></Position>"
        f"<AltitudeMeters>{1000 + i}</AltitudeMeters></Trackpoint>"
        for i, (la, lo) in enumerate(zip(LAT, LON, strict=True))
    )
    return (
        "<TrainingCenterDatabase xmlns="
        '"http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"><Courses><Course>'
        f"<Name>Five</Name><Track>{points}</Track><CoursePoint><Name>Aid</Name><Position>"
        "<LatitudeDegrees>45.902</LatitudeDegrees><LongitudeDegrees>6.872</LongitudeDegrees>"
        "</Position></CoursePoint></Course></Courses></TrainingCenterDatabase>"
    ).encode()


def kml_sample() -> bytes:
    line = " ".join(f"{lo},{la},1000" for la, lo in zip(LAT[:3], LON[:3], strict=True))
    track = "".join(f"<when>{T0.format(i)}</when>" for i in range(2)) + "".join(
        f"<gx:coord>{lo} {la} 1010</gx:coord>" for la, lo in zip(LAT[3:], LON[3:], strict=True)
    )
    return (
        '<kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2">'
        "<Document><name>Five</name><Placemark><LineString><coordinates>"
        f"{line}</coordinates></LineString></Placemark><Placemark><gx:Track>{track}</gx:Track>"
        "</Placemark><Placemark><name>Aid</name><Point><coordinates>6.872,45.902</coordinates>"
        "</Point></Placemark></Document></kml>"
    ).encode()


def kmz_of(kml: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("doc.kml", kml)
    return buffer.getvalue()


def geojson_sample() -> bytes:
    coords = [[lo, la, 1000 + i] for i, (la, lo) in enumerate(zip(LAT, LON, strict=True))]
    line = {"type": "LineString", "coordinates": coords}
    times = [T0.format(i) for i in range(5)]
    point = {"type": "Point", "coordinates": [6.872, 45.902]}
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "Five", "coordTimes": times}, "geometry": line},
        {"type": "Feature", "properties": {"name": "Aid"}, "geometry": point},
    ]}).encode()  # fmt: skip


def inreach_sample() -> bytes:
    def event(i: int) -> dict[str, object]:
        point = {"latitude": LAT[i], "longitude": LON[i], "altitude": 2000.0, "gpsFix": 2}
        return {"imei": "0", "timeStamp": 1_721_395_635_000 + 600_000 * i, "point": point}

    return json.dumps([{"Version": "3.0", "Events": [event(i)]} for i in range(5)]).encode()


def fit_sample() -> bytes:
    builder = FitFileBuilder(auto_define=True, min_string_size=50)
    file_id = FileIdMessage()
    file_id.type = FileType.COURSE
    file_id.manufacturer = Manufacturer.DEVELOPMENT.value
    file_id.product = 0
    file_id.time_created = 1_721_395_635_000
    file_id.serial_number = 1
    builder.add(file_id)
    course = CourseMessage()
    course.course_name = "Five"
    course.sport = Sport.RUNNING
    builder.add(course)
    for i, (la, lo) in enumerate(zip(LAT, LON, strict=True)):
        record = RecordMessage()
        record.timestamp = 1_721_395_635_000 + 1000 * i
        record.position_lat = la
        record.position_long = lo
        record.altitude = 1000.0 + i
        builder.add(record)
    aid = CoursePointMessage()
    aid.timestamp = 1_721_395_637_000
    aid.position_lat = LAT[2]
    aid.position_long = LON[2]
    aid.type = CoursePoint.FOOD
    aid.course_point_name = "Aid"
    builder.add(aid)
    return bytes(builder.build().to_bytes())


def resign_fit(data: bytes) -> bytes:
    """Recompute a FIT file's CRCs (header and file) so the reader parses the mutated body."""
    if len(data) < 14:
        return data
    out = bytearray(data)
    if out[0] >= 14:
        struct.pack_into("<H", out, 12, fitdecode.utils.compute_crc(bytes(out[:12])))
    body = bytes(out[:-2])
    return body + struct.pack("<H", fitdecode.utils.compute_crc(body))


SAMPLES: dict[str, bytes] = {
    "gpx": gpx_sample(),
    "tcx": tcx_sample(),
    "kml": kml_sample(),
    "kmz": kmz_of(kml_sample()),
    "geojson": geojson_sample(),
    "inreach": inreach_sample(),
    "fit": fit_sample(),
}
TOKENS = [
    b"nan", b"NaN", b"inf", b"-inf", b"1e999", b"-1e999", b"-", b"-91", b"181", b"90", b"-180",
    b"0", b"0.0", b"", b" ", b"<", b">", b"&", b"&amp;", b'"', b"'", b"]]>", b"<!--", b"<?x?>",
    b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"9" * 40, b"{}", b"[]", b"null", b"true", b",",
    b"[[", b"]]", b'{"type": "Point"}', b"<trkpt/>", b'<trkpt lat="1"/>', b"T", b"Z",
    b"2024-13-45T99:99:99Z", b"0001-01-01T00:00:00Z", b"9999-12-31T23:59:59+14:00",
]  # fmt: skip
NUMBER = re.compile(rb"-?\d+(?:\.\d+)?")
ODD_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(lambda v: repr(v).encode()),
    st.integers(min_value=-(10**30), max_value=10**30).map(lambda v: str(v).encode()),
    st.floats(min_value=-200, max_value=200).map(lambda v: f"{v:.6f}".encode()),
    st.sampled_from(TOKENS),
)


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> bytes:
    """A sample of format ``kind`` with a few byte-level and number-level mutations."""
    data = SAMPLES[kind]
    if kind == "kmz" and draw(st.booleans()):
        return kmz_of(draw(mutated("kml")))  # a valid zip around a broken KML
    for _ in range(draw(st.integers(1, 4))):
        data = draw(st.sampled_from(MUTATIONS))(draw, data)
    if kind == "fit" and draw(st.booleans()):
        data = resign_fit(data)
    return data


def _flip(draw: st.DrawFn, data: bytes) -> bytes:
    if not data:
        return data
    i = draw(st.integers(0, len(data) - 1))
    return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]


def _cut(draw: st.DrawFn, data: bytes) -> bytes:
    i = draw(st.integers(0, len(data)))
    j = draw(st.integers(i, min(len(data), i + 64)))
    return data[:i] + data[j:]


def _splice(draw: st.DrawFn, data: bytes) -> bytes:
    i = draw(st.integers(0, len(data)))
    token = draw(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=8)))
    return data[:i] + token + data[i:]


def _truncate(draw: st.DrawFn, data: bytes) -> bytes:
    return data[: draw(st.integers(0, len(data)))]


def _number(draw: st.DrawFn, data: bytes) -> bytes:
    found = list(NUMBER.finditer(data))
    if not found:
        return data
    m = draw(st.sampled_from(found))
    return data[: m.start()] + draw(ODD_NUMBERS) + data[m.end() :]


def _repeat(draw: st.DrawFn, data: bytes) -> bytes:
    i = draw(st.integers(0, len(data)))
    j = draw(st.integers(i, min(len(data), i + 200)))
    return data[:j] + data[i:j] * draw(st.integers(1, 20)) + data[j:]


MUTATIONS: list[Callable[[st.DrawFn, bytes], bytes]] = [
    _flip, _cut, _splice, _truncate, _number, _number, _number, _repeat,
]  # fmt: skip


def check(data: bytes, label: str) -> None:
    """The property: a Course and a Track, or InputErrors of the readers' own wording."""
    for parse in (
        lambda: course_from_bytes(data, label, max_file_bytes=MAX_BYTES),
        lambda: track_from_bytes(data, label, MAX_BYTES),
    ):
        started = time.perf_counter()
        try:
            assert isinstance(parse(), Course | Track)
        except InputError as exc:
            assert FALLBACK not in str(exc), f"unforeseen failure: {exc}"
            assert str(exc).startswith(f"{label}: ")
        assert time.perf_counter() - started < EXAMPLE_MAX_S


@FUZZ
@given(st.binary(max_size=2048), st.sampled_from(["x.gpx", "x.fit", "x.kmz", "x.json"]))
def test_arbitrary_bytes(data: bytes, label: str) -> None:
    check(data, label)


@FUZZ
@given(st.data())
def test_arbitrary_bytes_behind_each_signature(data: st.DataObject) -> None:
    head = data.draw(st.sampled_from([b"PK\x03\x04", b"\x0e\x10\x00\x00\x00\x00\x00\x00.FIT",
                                      b"<gpx>", b"<kml>", b"<TrainingCenterDatabase>", b"{",
                                      b"["]))  # fmt: skip
    check(head + data.draw(st.binary(max_size=512)), "head.bin")


@FUZZ
@given(st.data(), st.sampled_from(sorted(SAMPLES)))
def test_mutated_valid_files(data: st.DataObject, kind: str) -> None:
    check(data.draw(mutated(kind)), f"mutated.{kind}")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12,
)  # fmt: skip
COORDINATE = st.lists(st.one_of(st.floats(), st.integers(), JSON_VALUES), max_size=4)


@FUZZ
@given(
    st.sampled_from(["LineString", "MultiLineString", "Point", "Feature", "FeatureCollection"]),
    st.lists(COORDINATE, max_size=6),
    st.dictionaries(st.sampled_from(["name", "coordTimes", "times"]), JSON_VALUES, max_size=3),
)
def test_geojson_shaped_documents(
    kind: str, coords: list[object], props: dict[str, object]
) -> None:
    geometry: object = {"type": kind, "coordinates": coords}
    if kind == "Point":
        geometry = {"type": kind, "coordinates": coords[0] if coords else []}
    if kind == "MultiLineString":
        geometry = {"type": kind, "coordinates": [coords, coords[:2]]}
    if kind in ("Feature", "FeatureCollection"):
        line = {"type": "LineString", "coordinates": coords}
        geometry = {"type": "Feature", "properties": props, "geometry": line}
    if kind == "FeatureCollection":
        geometry = {"type": kind, "features": [geometry, props]}
    check(json.dumps(geometry).encode(), "shaped.geojson")


@FUZZ
@given(st.lists(st.dictionaries(
    st.sampled_from(["timeStamp", "point", "imei"]),
    st.one_of(JSON_VALUES, st.fixed_dictionaries({}, optional={
        "latitude": JSON_VALUES, "longitude": JSON_VALUES, "altitude": JSON_VALUES})),
), max_size=6))  # fmt: skip
def test_inreach_shaped_logs(events: list[dict[str, object]]) -> None:
    check(json.dumps([{"Version": "3.0", "Events": events}]).encode(), "shaped.json")


def test_every_valid_sample_reads_as_a_course() -> None:
    for kind, data in SAMPLES.items():
        course = course_from_bytes(data, f"sample.{kind}")
        assert len(course.lat) == 5, kind


# --- reproducers the properties found, kept as plain examples ---------------------------------


def mutate_fit(offset: int, value: int) -> bytes:
    """The FIT sample (as fit_tool 0.9 writes it) with one byte set, CRCs recomputed."""
    data = bytearray(SAMPLES["fit"])
    data[offset] = value
    return resign_fit(bytes(data))


def test_fit_reproducers_are_corrupt_fit_files_not_crashes() -> None:
    for data, _raised_inside_fitdecode in [
        (mutate_fit(0, 15), "struct.error: unpack requires a buffer of 2 bytes"),
        (mutate_fit(17, 28), "ValueError: size"),
        (mutate_fit(121, 150), "AssertionError in FitReader._read_next"),
        (mutate_fit(119, 48), "TypeError: '>=' not supported ... (date_time processor)"),
        (mutate_fit(22, 3), "UserWarning: invalid field size 3, an error under the tests"),
    ]:
        with pytest.raises(InputError, match="corrupt or truncated FIT file"):
            course_from_bytes(data, "w.fit")
        with pytest.raises(InputError, match="corrupt or truncated FIT file"):
            track_from_bytes(data, "w.fit", MAX_BYTES)


def test_kmz_whose_entries_point_before_the_file_is_a_corrupt_zip() -> None:
    data = SAMPLES["kmz"]
    shifted = data[:4] + data[5:]  # a byte lost: every offset is now one too far ("seek -1")
    with pytest.raises(InputError, match="corrupt or truncated zip/KMZ archive"):
        course_from_bytes(shifted, "c.kmz")
    with pytest.raises(InputError, match="corrupt or truncated zip/KMZ archive"):
        track_from_bytes(shifted, "c.kmz", MAX_BYTES)
