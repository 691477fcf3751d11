"""Open any course or track file: check its size, sniff the format from the bytes, dispatch.

Race directors and runners send files with wrong or missing extensions (a GPX saved as .txt, a
KMZ renamed .zip), so the format is decided by the content: the FIT signature, the zip magic,
the XML root element, the shape of the JSON. Every failure comes out as an :class:`InputError`
subclass naming the file and saying what to do; nothing else escapes.

>>> sniff_format(b'<?xml version="1.0"?><gpx version="1.1">')
'gpx'
>>> sniff_format(b'{"type": "FeatureCollection", "features": []}')
'json'
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from coursewatch.errors import (
    CoursewatchError,
    EmptyDataError,
    FileFormatError,
    FileTooLargeError,
    InputError,
)
from coursewatch.formats.fit import read_fit
from coursewatch.formats.geojson import is_geojson, read_geojson_object
from coursewatch.formats.gpx import read_gpx
from coursewatch.formats.inreach import is_inreach, read_inreach_object
from coursewatch.formats.kml import read_kml
from coursewatch.formats.kmz import read_kmz
from coursewatch.formats.safexml import local_name, parse_xml
from coursewatch.formats.tcx import read_tcx
from coursewatch.points import RawPoints

SUPPORTED_FORMATS = (
    "GPX 1.0/1.1, KML, KMZ, GeoJSON, TCX, FIT (course or activity) "
    "and Garmin inReach IPC Outbound JSON"
)
_HEAD_BYTES = 65536
_XML_NAME = re.compile(r"<(?:[\w.\-]+:)?([\w.\-]+)")
_XML_ROOTS = {"gpx": "gpx", "kml": "kml", "TrainingCenterDatabase": "tcx"}


def read_points(path: str | Path, max_bytes: int) -> RawPoints:
    """Read a course or track file of any supported format into :class:`RawPoints`.

    Raises FileTooLargeError above ``max_bytes``, FileFormatError for unknown, corrupt or
    truncated content, EmptyDataError when the file parses but holds no points.
    """
    path = Path(path)
    return parse_points(read_bytes(path, max_bytes), max_bytes, path)


def parse_points(data: bytes, max_bytes: int, where: str | Path | None = None) -> RawPoints:
    """:func:`read_points` for a file's bytes; errors name ``where`` (a path or a label)."""
    if len(data) > max_bytes:
        raise FileTooLargeError(_too_large(len(data), max_bytes), where)
    if not data.strip():
        raise FileFormatError(
            f"the file is empty: export the course or track again (supported: {SUPPORTED_FORMATS})",
            where,
        )
    try:
        raw = _dispatch(data, max_bytes)
    except InputError as exc:
        raise type(exc)(exc.detail, where) from None
    except CoursewatchError:
        raise
    except Exception as exc:  # any other parser failure is a bad file, not a crash
        raise FileFormatError(
            f"could not be read ({type(exc).__name__}: {exc}); the file looks corrupt: "
            f"export it again (supported: {SUPPORTED_FORMATS})",
            where,
        ) from None
    if len(raw) == 0:
        extra = f" (only {len(raw.waypoints)} waypoints)" if raw.waypoints else ""
        raise EmptyDataError(
            f"the {raw.format.upper()} file holds no track, route or course points{extra}: "
            "check that you exported the track, not just the waypoints",
            where,
        )
    return raw


def sniff_format(data: bytes) -> str:
    """Name the container format of ``data``: gpx, kml, tcx, fit, zip, json or xml."""
    if len(data) >= 12 and data[8:12] == b".FIT":
        return "fit"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    head = _head_text(data).lstrip()
    if head.startswith(("{", "[")):
        return "json"
    if head.startswith("<"):
        root = _xml_root_name(head)
        return _XML_ROOTS.get(root, "xml") if root else "xml"
    return "unknown"


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """A file's bytes, refused above ``max_bytes`` (and unreadable ones, with what to do)."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise FileTooLargeError(_too_large(size, max_bytes), path)
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise InputError("no such file: check the path", path) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a file: give the course or track file", path) from None
    except OSError as exc:
        raise InputError(
            f"cannot read the file ({exc.strerror}): check it exists and is readable", path
        ) from None
    return data  # too large (it grew while we read it) or empty: parse_points says so


def _too_large(size: int, max_bytes: int) -> str:
    return (
        f"file is {size} bytes, larger than the limit of {max_bytes} bytes: if it is genuine, "
        "raise the setting COURSEWATCH_MAX_FILE_BYTES"
    )


def _dispatch(data: bytes, max_bytes: int) -> RawPoints:
    kind = sniff_format(data)
    if kind == "fit":
        return read_fit(data)
    if kind == "zip":
        return read_kmz(data, max_bytes)
    if kind == "json":
        return _read_json(data)
    if kind == "xml":
        # Root not seen in the first bytes: parse (safely) to find it.
        kind = _XML_ROOTS.get(local_name(parse_xml(data, "XML").tag), "xml")
    if kind == "gpx":
        return read_gpx(data)
    if kind == "kml":
        return read_kml(data)
    if kind == "tcx":
        return read_tcx(data)
    if kind == "xml":
        raise FileFormatError(
            f"XML file that is not GPX, KML or TCX: open it in the tool that made it and "
            f"export one of: {SUPPORTED_FORMATS}"
        )
    raise FileFormatError(f"unknown file format: supported formats are {SUPPORTED_FORMATS}")


def _read_json(data: bytes) -> RawPoints:
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
        raise FileFormatError(
            f"invalid or truncated JSON ({exc}): download or export the file again"
        ) from None
    if is_geojson(obj):
        return read_geojson_object(obj)
    if is_inreach(obj):
        return read_inreach_object(obj)
    raise FileFormatError(
        "JSON that is neither GeoJSON nor a Garmin inReach IPC Outbound log: "
        f"supported formats are {SUPPORTED_FORMATS}"
    )


def _xml_root_name(head: str) -> str | None:
    """The root element's local name, skipping declarations, comments and a DOCTYPE.

    A plain scan rather than one regex, which backtracks badly on crafted preambles.
    """
    pos = 0
    while True:
        pos = head.find("<", pos)
        if pos < 0:
            return None
        if head.startswith("<?", pos):
            end, skip = head.find("?>", pos), 2
        elif head.startswith("<!--", pos):
            end, skip = head.find("-->", pos), 3
        elif head.startswith("<!", pos):  # DOCTYPE, maybe with an internal subset [...]
            bracket, close = head.find("[", pos), head.find(">", pos)
            if 0 <= bracket < close:
                end, skip = head.find("]", bracket), 1
                end = head.find(">", end) if end >= 0 else -1
            else:
                end, skip = close, 1
        else:
            match = _XML_NAME.match(head, pos)
            return match.group(1) if match else None
        if end < 0:
            return None
        pos = end + skip


def _head_text(data: bytes) -> str:
    head = data[:_HEAD_BYTES]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="replace")
    return head.decode("utf-8-sig", errors="replace")
