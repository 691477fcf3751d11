"""What the kernel raises: event rows (numbers, written in numba) and the events they decode to.

A detector that fires writes one row of :data:`FIELDS` floats; :func:`decode_event` turns a row
into an :class:`Event` with times and positions, for the matcher's callers. Events carry data
only; the sentences people read are written in :mod:`coursewatch.live.narrate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numba as nb
import numpy as np

from coursewatch.geo import FloatArray

# --- event rows ---------------------------------------------------------------------------
FIELDS = (
    "EV_CODE", "EV_T", "EV_X", "EV_Y", "EV_S", "EV_OFFSET", "EV_LEFT_T", "EV_LEFT_S",
    "EV_LEFT_X", "EV_LEFT_Y", "EV_MAXOFF", "EV_PATH", "EV_FIX", "EV_ALARM_T",
)  # fmt: skip
EV_CODE = 0
EV_T = 1  # where the event happened: time, x, y, course distance
EV_X = 2
EV_Y = 3
EV_S = 4
EV_OFFSET = 5
EV_LEFT_T = 6  # where the runner left the course (wrong way: the furthest point reached)
EV_LEFT_S = 7
EV_LEFT_X = 8
EV_LEFT_Y = 9
EV_MAXOFF = 10
EV_PATH = 11  # distance run since leaving, m
EV_FIX = 12  # the fix that raised it
EV_ALARM_T = 13  # when the episode began (the flag): its key, in every event of it
EV_FIELDS = len(FIELDS)

CODE_OFF_COURSE = 1
CODE_BACK_ON_COURSE = 2
CODE_SHORTCUT = 3
CODE_WRONG_WAY = 4
CODE_WRONG_WAY_END = 5
CODE_ALERT = 6  # the episode is confirmed: race HQ is told (engine/confirm.py)
CODE_FAR = 7  # more than far_course_m from every part of the course
CODE_NEAR = 8  # back within near_course_m of it
CODE_WW_ALERT = 9  # a wrong way ww_hq_m back along the course: race HQ is told
EVENT_KINDS = {
    CODE_OFF_COURSE: "off_course",
    CODE_BACK_ON_COURSE: "back_on_course",
    CODE_SHORTCUT: "shortcut",
    CODE_WRONG_WAY: "wrong_way",
    CODE_WRONG_WAY_END: "wrong_way_end",
    CODE_ALERT: "alert",
    CODE_FAR: "far_from_course",
    CODE_NEAR: "back_near_course",
    CODE_WW_ALERT: "wrong_way_confirmed",
}
FLAGS = ("off_course", "wrong_way")  # the runner may be off course: their own channel
ENDS = ("back_on_course", "shortcut", "wrong_way_end")  # the episode is over


@nb.njit(cache=True)
def write_event(
    ev: FloatArray,
    code: int,
    at: tuple[float, float, float, float],
    left: tuple[float, float, float, float],
    offset_m: float,
) -> None:
    """Fill ``ev`` with an event: ``at`` and ``left`` are (time, course m, x, y)."""
    ev[:] = np.nan
    ev[EV_CODE] = code
    ev[EV_T], ev[EV_S], ev[EV_X], ev[EV_Y] = at
    ev[EV_LEFT_T], ev[EV_LEFT_S], ev[EV_LEFT_X], ev[EV_LEFT_Y] = left
    ev[EV_OFFSET] = offset_m


@dataclass(frozen=True)
class Place:
    """Where and when: a moment of an event."""

    time: datetime
    lat: float
    lon: float
    course_m: float | None


@dataclass(frozen=True)
class Event:
    """Something a detector raised, at fix ``fix_index`` of the runner's accepted fixes.

    ``left`` is where the runner left the course (or, for wrong_way, the furthest point
    reached); ``at`` is where the event happened: the alarm for off_course and wrong_way, the
    point of rejoining for back_on_course and shortcut.
    """

    kind: str
    at: Place
    left: Place | None
    offset_m: float
    max_offset_m: float | None
    path_m: float | None
    alarm_time: datetime | None
    fix_index: int


def _time(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _opt(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


def _course_m(v: float) -> float | None:
    """A course distance, None where the runner was not yet on the line (stored as -1)."""
    return None if v < 0.0 else float(v)


def decode_event(latlon: Callable[[float, float], tuple[float, float]], row: FloatArray) -> Event:
    """The event of a row; ``latlon`` turns the course frame's x, y into degrees."""
    lat, lon = latlon(row[EV_X], row[EV_Y])
    at = Place(_time(row[EV_T]), lat, lon, _course_m(row[EV_S]))
    left = None
    if not math.isnan(row[EV_LEFT_T]):
        llat, llon = latlon(row[EV_LEFT_X], row[EV_LEFT_Y])
        left = Place(_time(row[EV_LEFT_T]), llat, llon, _course_m(row[EV_LEFT_S]))
    alarm = row[EV_ALARM_T]
    return Event(
        kind=EVENT_KINDS[int(row[EV_CODE])],
        at=at,
        left=left,
        offset_m=float(row[EV_OFFSET]),
        max_offset_m=_opt(row[EV_MAXOFF]),
        path_m=_opt(row[EV_PATH]),
        alarm_time=None if math.isnan(alarm) else _time(alarm),
        fix_index=int(row[EV_FIX]) if not math.isnan(row[EV_FIX]) else -1,
    )
