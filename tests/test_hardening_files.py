"""Files that would stall race HQ: a KMZ that inflates past its headers, a course that jumps.

Race day hardening: a 4 MB KMZ whose headers lie about its size used to inflate to 4 GiB in
memory, and one sign-flipped latitude in a course made the matcher's set-up take tens of
seconds. Both are now refused, at once and with a message naming what to fix.
"""

from __future__ import annotations

import io
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from zipfiles import forge_sizes, zeros_kmz

from coursewatch.course import build_course
from coursewatch.course_geometry import MAX_BOX_DEG2, MAX_LENGTH_M, MAX_SEGMENT_M
from coursewatch.engine.matcher import LiveMatcher
from coursewatch.errors import CourseGeometryError, FileFormatError, FileTooLargeError, InputError
from coursewatch.formats.detect import parse_points
from coursewatch.formats.load import course_from_bytes, load_course
from coursewatch.geo import LocalFrame, haversine_m
from coursewatch.points import RawPoints

CAP = 4 * 1024 * 1024
KML = (
    '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>Ridge</name><Placemark>'
    "<LineString><coordinates>{}</coordinates></LineString></Placemark><Placemark><name>Col"
    "</name><Point><coordinates>6.01,45.9</coordinates></Point></Placemark></Document></kml>"
)


def kml_line(n: int = 2000) -> str:
    return KML.format(" ".join(f"{6.0 + i * 1e-5:.5f},45.9,1000" for i in range(n)))


def kmz(members: dict[str, bytes | str], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


# --- KMZ -------------------------------------------------------------------------------------


def test_a_kmz_whose_headers_lie_is_refused_at_the_cap_in_little_memory() -> None:
    bomb = forge_sizes(zeros_kmz(50 * 1024 * 1024), 1000)
    assert len(bomb) < 100_000
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(FileTooLargeError) as info:
            parse_points(bomb, CAP, "race.kmz")
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert message.startswith("race.kmz: ") and "'doc.kml'" in message
    assert f"inflates past {CAP} bytes" in message and "export the course again" in message
    assert peak < 2 * CAP, f"peak {peak} bytes"
    assert elapsed < 2.0  # 0.02 s measured; the unbounded read took minutes


def test_a_kmz_that_declares_more_than_the_cap_is_refused_before_inflating() -> None:
    with pytest.raises(FileTooLargeError, match=r"declares .* COURSEWATCH_MAX_FILE_BYTES"):
        parse_points(kmz({"doc.kml": kml_line()}), 10_000, "race.kmz")


def test_a_kmz_member_smaller_than_declared_is_corrupt() -> None:
    data = kmz({"doc.kml": kml_line()})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        real = archive.infolist()[0].file_size
    with pytest.raises(FileFormatError, match=f"declares {real + 10} bytes but inflates to {real}"):
        parse_points(forge_sizes(data, real + 10), CAP, "race.kmz")


def test_a_kmz_compressed_with_bzip2_or_encrypted_is_refused() -> None:
    with pytest.raises(FileFormatError, match="method 12, not deflate"):
        parse_points(kmz({"doc.kml": kml_line()}, zipfile.ZIP_BZIP2), CAP, "race.kmz")
    data = bytearray(kmz({"doc.kml": kml_line()}))
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 1  # the "encrypted" flag
    with pytest.raises(FileFormatError, match="encrypted"):
        parse_points(bytes(data), CAP, "race.kmz")


def test_a_normal_kmz_still_loads_from_a_path_and_from_stored_bytes(tmp_path: Path) -> None:
    data = kmz({"images/icon.png": b"\x89PNG", "doc.kml": kml_line()})
    path = tmp_path / "course.kmz"
    path.write_bytes(data)
    course = load_course(path)
    assert len(course.lat) == 2000 and course.name == "Ridge"
    assert [s.name for s in course.stations] == ["Col"]
    # The server keeps the bytes: they used to be capped at their own size, which refused
    # every KMZ (its KML is larger than the zip).
    assert len(course_from_bytes(data, "course_file").lat) == 2000


# --- course geometry -------------------------------------------------------------------------


def gpx(points: list[tuple[float, float]]) -> bytes:
    body = "".join(f'<trkpt lat="{la}" lon="{lo}"/>' for la, lo in points)
    return f'<gpx version="1.1"><trk><trkseg>{body}</trkseg></trk></gpx>'.encode()


def along(n: int, lat0: float = 45.9, lon0: float = 6.87) -> list[tuple[float, float]]:
    return [(round(lat0 + i * 0.0005, 6), lon0) for i in range(n)]


def test_a_sign_flipped_latitude_names_the_point_as_the_file_counts_it() -> None:
    points = [(0.0, 0.0), *along(100)]  # a no-fix point first: dropped, but still counted
    points[50] = (-points[50][0], points[50][1])
    with pytest.raises(CourseGeometryError) as info:
        course_from_bytes(gpx(points), "utmb.gpx")
    message = str(info.value)
    assert message.startswith("utmb.gpx: point 51 (lat -45.92450, lon 6.87000) is 10")
    assert "from point 50 and" in message and "from point 52" in message
    assert message.endswith("fix or remove point 51")
    assert isinstance(info.value, InputError)


def test_a_stray_first_or_last_point_and_a_gap_are_named() -> None:
    stray = (46.2, 6.87)  # 33 km north
    with pytest.raises(CourseGeometryError, match=r"^c\.gpx: point 1 .*fix or remove point 1$"):
        course_from_bytes(gpx([stray, *along(10)]), "c.gpx")
    with pytest.raises(CourseGeometryError, match=r"^c\.gpx: point 11 .*fix or remove point 11$"):
        course_from_bytes(gpx([*along(10), stray]), "c.gpx")
    gap = along(10) + along(10, lat0=46.3)
    with pytest.raises(CourseGeometryError, match=r"jumps 44\.\d km from point 10 .* to point 11"):
        course_from_bytes(gpx(gap), "c.gpx")


def test_a_course_across_the_180th_meridian_is_refused() -> None:
    points = [(-16.8, 179.9975 + i * 0.001) for i in range(5)]
    points = [(la, lo - 360 if lo > 180 else lo) for la, lo in points]
    with pytest.raises(CourseGeometryError, match="crosses the 180th meridian between point 3"):
        course_from_bytes(gpx(points), "fiji.gpx")


def synthetic(x: np.ndarray, y: np.ndarray, lat0: float = 45.9) -> RawPoints:
    lat, lon = LocalFrame.centred(lat0, 6.87).to_latlon(x, y)
    return RawPoints.from_lists("synthetic", list(lat), list(lon))


def test_a_course_too_long_or_too_wide_is_refused() -> None:
    diagonal = 19_000 / np.sqrt(2)
    zigzag = np.where(np.arange(600) % 2, diagonal, 0.0)  # 11,400 km back and forth
    with pytest.raises(CourseGeometryError, match=r"11,\d{3} km long, more than the 10,000"):
        build_course(synthetic(zigzag, zigzag), "zigzag")
    side = 700_000.0
    t = np.arange(0.0, 4 * side, 10_000.0)
    x = np.select([t < side, t < 2 * side, t < 3 * side], [t, side + 0 * t, 3 * side - t], 0 * t)
    y = np.select([t < side, t < 2 * side, t < 3 * side], [0 * t, t - side, side + 0 * t],
                  4 * side - t)  # fmt: skip
    with pytest.raises(CourseGeometryError, match=r"square degrees, more than the 50"):
        build_course(synthetic(x - side / 2, y - side / 2), "square")
    assert MAX_LENGTH_M == 10_000_000.0 and MAX_BOX_DEG2 == 50.0


def test_a_course_at_the_limits_builds_and_sets_up_a_matcher() -> None:
    x = np.concatenate([np.arange(0.0, 20_000.0, 15.0), [20_000.0 + 19_000.0]])
    course = build_course(synthetic(x, np.zeros_like(x)), "long straight")
    assert np.diff(course.cum_m).max() == pytest.approx(19_000.0, rel=0.01)
    lat, lon = course.latlon_at(np.array([0.0, 30.0]))
    matcher = LiveMatcher(course)
    matcher.push(1.7e9, float(lat[0]), float(lon[0]))
    matcher.push(1.7e9 + 10, float(lat[1]), float(lon[1]))
    assert matcher.progress_m == pytest.approx(30.0, abs=5.0)


@pytest.mark.realdata
def test_every_real_course_loads_well_inside_the_limits(data_dir: Path) -> None:
    paths = sorted((data_dir / "courses").iterdir())
    assert paths
    for path in paths:
        course = load_course(path)
        seg_m = haversine_m(course.lat[:-1], course.lon[:-1], course.lat[1:], course.lon[1:])
        assert seg_m.max() < MAX_SEGMENT_M / 4, path.name  # 4.9 km at most (swammie)
        assert course.length_m < MAX_LENGTH_M / 20, path.name


HUGE = "9" * 400  # an integer no float holds


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("t.geojson", f'{{"type":"LineString","coordinates":[[6.8,45.9],[{HUGE},45.9]]}}',
         "GeoJSON with malformed coordinates"),
        ("t.geojson", '{"type":["Feature"],"coordinates":[]}', "neither GeoJSON nor"),
        ("t.gpx", '<?xml version="1.0" encoding="UTF111"?><gpx></gpx>',
         "declares an encoding that cannot be read"),
        ("t.json", '[{"Version":"3.0","Events":[{"imei":"1","timeStamp":1721395635000,'
         f'"point":{{"latitude":45.9,"longitude":6.87,"altitude":{HUGE},"gpsFix":2}}}}]}}]',
         "altitude is a number of over 308 digits"),
    ],
)  # fmt: skip
def test_what_the_fuzzer_found_in_file_readers_is_said_in_words(
    name: str, data: str, says: str
) -> None:
    """benchmarks/fuzz.py reproducers: the reader's last resort caught them ("could not be
    read (OverflowError)"); now each says what is wrong."""
    with pytest.raises(FileFormatError, match=says):
        parse_points(data.encode(), 1 << 20, name)
