"""The only place a file becomes a :class:`Course` or a :class:`Track`: read, parse, clean.

A path (the CLI, the benchmarks) or bytes (a race stored by the server, an upload) go through
the same readers (:mod:`coursewatch.formats.detect`) and the same cleaning
(:func:`coursewatch.course.build_course`, :func:`coursewatch.track.build_track`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from coursewatch.course import Course, build_course
from coursewatch.errors import CoursewatchError, EmptyDataError, FileFormatError
from coursewatch.formats.detect import parse_points, read_bytes, read_points
from coursewatch.formats.safexml import TRUNCATED, mended_xml
from coursewatch.settings import load_settings
from coursewatch.track import Track, build_track


def load_course(
    path: str | Path, max_file_bytes: int | None = None, snap_m: float | None = None
) -> Course:
    """Read a course: GPX, KML/KMZ, GeoJSON, FIT or TCX; waypoints become stations."""
    settings = load_settings()
    limit = max_file_bytes if max_file_bytes is not None else settings.max_file_bytes
    snap = snap_m if snap_m is not None else settings.station_snap_m
    return build_course(read_points(path, limit), path, snap)


def course_from_bytes(
    data: bytes, where: str, snap_m: float | None = None, max_file_bytes: int | None = None
) -> Course:
    """A course file's bytes as a course; errors name ``where``.

    The bytes were stored once accepted, so their own size is never refused; the limit
    (``max_file_bytes``, default the setting) caps what a KMZ inside them inflates to.
    """
    settings = load_settings()
    snap = snap_m if snap_m is not None else settings.station_snap_m
    limit = max_file_bytes if max_file_bytes is not None else settings.max_file_bytes
    return build_course(parse_points(data, max(limit, len(data)), where), where, snap)


def load_track(path: str | Path, max_file_bytes: int | None = None) -> Track:
    """Read and clean a recording: GPX, FIT, TCX, GeoJSON, KML or an inReach JSON log."""
    limit = max_file_bytes if max_file_bytes is not None else load_settings().max_file_bytes
    return track_from_bytes(read_bytes(Path(path), limit), str(path), limit)


def track_from_bytes(data: bytes, where: str, max_bytes: int) -> Track:
    """A recording's bytes as a track (an upload); errors name ``where``. An XML recording
    cut short is read up to its last complete point, and says so (a course never is: a line
    cut short would follow runners on half a course)."""
    try:
        raw = parse_points(data, max_bytes, where)
    except FileFormatError:
        mended = mended_xml(data)
        if mended is None:
            raise
        try:
            raw = parse_points(mended, max_bytes, where)
        except EmptyDataError:
            raise FileFormatError(
                "cut short before its first point: nothing to read; export it again", where
            ) from None
        except CoursewatchError:
            raise FileFormatError(
                "not well-formed XML, and not only cut short: export it again", where
            ) from None
        raw = replace(raw, notes=(*raw.notes, TRUNCATED))
    return build_track(raw, where)
