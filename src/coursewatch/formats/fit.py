"""FIT reader: Garmin/Coros/Suunto course and activity files, the watches' native format.

Decoded with fitdecode, checking the CRC so a corrupt file is refused rather than half-read.
``record`` messages give the points (positions in semicircles), ``course_point`` messages the
waypoints and the ``course`` message the name. Records without a position (no GPS fix yet,
indoor stretches) are kept with NaN lat/lon so the track cleaner can count them.

>>> semicircles_to_deg(2**30)
90.0
"""

from __future__ import annotations

import io
import math
import struct
from datetime import datetime

import fitdecode

from coursewatch.errors import FileFormatError
from coursewatch.points import RawPoints, Waypoint

_DEG_PER_SEMICIRCLE = 180.0 / 2**31
# What fitdecode raises on malformed bytes that pass the CRC (a file re-signed after damage, or
# written wrong by its tool): its own errors, and, from inside the decoder, a failed unpack
# or an assertion about the record layout. All mean the same to the user: a corrupt file.
_DECODER_ERRORS = (
    fitdecode.FitError, struct.error, AssertionError, ValueError, IndexError, KeyError,
    TypeError, OverflowError,
)  # fmt: skip


def semicircles_to_deg(value: object) -> float:
    """FIT semicircles -> degrees; NaN when the field is missing or invalid."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) * _DEG_PER_SEMICIRCLE
    return math.nan


def read_fit(data: bytes) -> RawPoints:
    """Read FIT bytes (course or activity): records in order, course points as waypoints."""
    lat: list[float] = []
    lon: list[float] = []
    ele: list[float] = []
    time: list[float] = []
    waypoints: list[Waypoint] = []
    name: str | None = None
    try:
        with fitdecode.FitReader(
            io.BytesIO(data),
            check_crc=fitdecode.CrcCheck.RAISE,
            # Odd field definitions read as raw bytes, as by default, but without a warning
            # per field: noise in race HQ's log, and an error where warnings are (the tests).
            error_handling=fitdecode.ErrorHandling.IGNORE,
        ) as reader:
            for frame in reader:
                if not isinstance(frame, fitdecode.FitDataMessage):
                    continue
                if frame.name == "record":
                    lat.append(semicircles_to_deg(_value(frame, "position_lat")))
                    lon.append(semicircles_to_deg(_value(frame, "position_long")))
                    ele.append(_altitude_m(frame))
                    time.append(_time_s(_value(frame, "timestamp")))
                elif frame.name == "course_point":
                    waypoints.append(_course_point(frame, len(waypoints) + 1))
                elif frame.name == "course":
                    course_name = _value(frame, "name")
                    if isinstance(course_name, str) and course_name.strip():
                        name = course_name.strip()
    except _DECODER_ERRORS as exc:
        raise FileFormatError(
            f"corrupt or truncated FIT file ({type(exc).__name__}: {exc}): copy it from the "
            "watch or export it again"
        ) from None
    return RawPoints.from_lists(
        "fit", lat, lon, ele_m=ele, time_s=time, name=name, waypoints=tuple(waypoints)
    )


def _value(frame: fitdecode.FitDataMessage, field: str) -> object:
    return frame.get_value(field, fallback=None)


def _altitude_m(frame: fitdecode.FitDataMessage) -> float:
    for field in ("enhanced_altitude", "altitude"):
        value = _value(frame, field)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return math.nan


def _time_s(value: object) -> float:
    return value.timestamp() if isinstance(value, datetime) else math.nan


def _course_point(frame: fitdecode.FitDataMessage, number: int) -> Waypoint:
    name = _value(frame, "name")
    label = name.strip() if isinstance(name, str) and name.strip() else f"course point {number}"
    return Waypoint(
        name=label,
        lat=semicircles_to_deg(_value(frame, "position_lat")),
        lon=semicircles_to_deg(_value(frame, "position_long")),
    )
