"""Live payloads -> :class:`Fix`. One module per protocol (osmand, owntracks, inreach, native).

A decoder never raises for one bad fix: it returns the good fixes and a :class:`FixProblem` for
each bad one (what, where, what to do), so a batch with one bad fix still stores the rest. Only a
payload that cannot be read at all (not JSON, no list of fixes) raises :class:`PayloadError`.

Every number is range-checked before it is converted (:func:`number`, :func:`parse_time_s`), and
every value in a message is shown by :func:`describe`, never by ``repr()``: a 309-digit integer,
a list nested 1,000 deep or a 5,000-character string in one fix is that fix's problem.

>>> parse_time_s("2024-07-19T13:27:15Z")
1721395635.0
>>> parse_time_s(1721395635000)
1721395635.0
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from coursewatch.errors import InputError
from coursewatch.protocols.values import MAX_NUMBER_CHARS, LongNumber, describe

# Epoch values above this are milliseconds (1e11 s is the year 5138).
_MS_THRESHOLD = 1e11
# Raw times at or above this (in ms: the year 5138 again) are not times.
_MAX_TIME = 1e14
_MAX_TIME_CHARS = 64  # "2024-07-19T13:27:15.123456+05:30" is 32
# Every number of a fix lies within +-LARGEST unless its field says otherwise: sums and squares
# of such numbers stay finite, and an absurd value is refused rather than carried along.
LARGEST = 1e9
_FLOAT_MAX = sys.float_info.max
MAX_ID_CHARS = 128
NO_FIX_DEG = 1e-9  # |lat| and |lon| both under this: a tracker's "no position" (0, 0)
_NUMBER_HINT = "send a number such as 12.5"


class PayloadError(InputError):
    """A request body that cannot be read as the protocol at all."""


class FieldError(ValueError):
    """One field of one fix is unusable; ``field`` names it, the message says why."""

    def __init__(self, field: str, message: str, hint: str = "") -> None:
        self.field = field
        self.hint = hint
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Fix:
    """One position report. ``device_id`` or ``bib`` says whose it is (bib: native batches)."""

    time_s: float
    lat: float
    lon: float
    device_id: str | None = None
    bib: str | None = None
    accuracy_m: float | None = None
    speed_mps: float | None = None
    bearing_deg: float | None = None
    altitude_m: float | None = None
    battery_pct: float | None = None


@dataclass(frozen=True, slots=True)
class FixProblem:
    """Why fix number ``index`` of a payload was not used."""

    index: int
    where: str
    message: str
    hint: str = ""


# What a device can say besides where it is (satellite messengers: inReach, SPOT, MapShare).
DEVICE_EVENTS = ("sos", "sos_cancel", "battery_low", "battery_ok", "message")


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """An SOS, its cancellation, the battery low (or fine again), a message the runner typed.
    ``lat``/``lon`` NaN when the message came without a position."""

    time_s: float
    kind: str  # one of DEVICE_EVENTS
    lat: float = math.nan
    lon: float = math.nan
    device_id: str | None = None
    bib: str | None = None
    text: str = ""


@dataclass
class Decoded:
    """What a decoder made of one payload: fixes in payload order, device events, problems."""

    fixes: list[Fix] = field(default_factory=list)
    problems: list[FixProblem] = field(default_factory=list)
    index: list[int] = field(default_factory=list)  # payload position of each fix
    events: list[DeviceEvent] = field(default_factory=list)

    def add(self, fix: Fix, index: int) -> None:
        self.fixes.append(fix)
        self.index.append(index)

    def problem(self, index: int, where: str, exc: FieldError) -> None:
        self.problems.append(FixProblem(index, f"{where}.{exc.field}", str(exc), exc.hint))

    def take(
        self,
        index: int,
        where: str,
        make: Callable[[], Fix],
        said: Callable[[Fix], list[DeviceEvent]] | None = None,
        whose: Callable[[], tuple[str, float] | None] | None = None,
    ) -> None:
        """The fix ``make`` reads from payload item ``index``, or the problem it found there;
        ``said``: what the device said besides, read once the fix is. When there is no fix,
        ``whose`` reads the item's device id and time (None: either cannot be read): an SOS
        or a message is not lost with its position, it is kept without one. Without its own
        time it is dropped: dated by anything else, an old message polled again would be new
        every time (an old SOS reopened, a real one cancelled by an old "not in emergency")."""
        try:
            fix = make()
        except FieldError as exc:
            self.problem(index, where, exc)
            ident = whose() if whose is not None and said is not None else None
            if ident is not None and said is not None:
                device, time_s = ident
                fix = Fix(time_s=time_s, lat=math.nan, lon=math.nan, device_id=device)
                self.events.extend(said(fix))
            return
        self.add(fix, index)
        if said is not None:
            self.events.extend(said(fix))


def parse_time_s(value: object, field: str = "time") -> float:
    """Epoch seconds or milliseconds, or ISO 8601 text (UTC if no zone) -> epoch seconds.

    Checked before any conversion: NaN, infinities, times before 1970 or after the year 5138
    and numbers of hundreds of digits are a FieldError, never an OverflowError.
    """
    if isinstance(value, str):
        text = value.strip()
        if len(text) > _MAX_TIME_CHARS:
            raise _time_error(field, value)
        try:
            v: float = float(text)
        except ValueError:
            return _iso(text, field, value)
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise _time_error(field, value)
    else:
        v = value
    if not 0 < v < _MAX_TIME:  # int and float compare exactly, unconverted; NaN fails too
        raise _time_error(field, value)
    v = float(v)
    return v / 1000.0 if v > _MS_THRESHOLD else v


def _iso(text: str, field: str, value: object) -> float:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)  # trackers send UTC
        t = when.timestamp()  # OverflowError at the ends of the calendar with an offset
    except (ValueError, OverflowError):
        raise _time_error(field, value) from None
    if not 0 < t < _MS_THRESHOLD:
        raise _time_error(field, value)
    return t


def _time_error(field: str, value: object) -> FieldError:
    return FieldError(
        field,
        f"{describe(value)} is not a time between 1970 and 5138",
        "send epoch seconds, epoch milliseconds or ISO 8601 such as 2024-07-19T13:27:15Z",
    )


def number(value: object, field: str, low: float = -LARGEST, high: float = LARGEST) -> float:
    """A finite number (or numeric text) within [low, high]; FieldError otherwise.

    The range is checked before the value becomes a float, so a 309-digit integer is refused
    for its fix, not an OverflowError for the whole payload.
    """
    # the common case, a JSON number within finite bounds (NaN never is), in one comparison
    if (type(value) is float or type(value) is int) and (
        -_FLOAT_MAX <= low <= value <= high <= _FLOAT_MAX
    ):
        return float(value)
    if isinstance(value, str):
        v: float = _numeric_text(value, field)
    elif isinstance(value, LongNumber):
        raise FieldError(field, f"{describe(value)} is too long", _NUMBER_HINT)
    elif value is None:  # (absent, or null: it read "null is not a number")
        raise FieldError(field, f"missing: a fix needs its {field}", _NUMBER_HINT)
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(field, f"{describe(value)} is not a number", _NUMBER_HINT)
    else:
        v = value
    if isinstance(v, float) and not math.isfinite(v):
        raise FieldError(field, f"{describe(value)} is not a finite number", _NUMBER_HINT)
    if not (low <= v <= high and -_FLOAT_MAX <= v <= _FLOAT_MAX):  # exact for int and float
        raise FieldError(field, f"{describe(value)} is outside {low:g}..{high:g}", _NUMBER_HINT)
    return float(v)


def _numeric_text(value: str, field: str) -> float:
    text = value.strip()
    if len(text) > MAX_NUMBER_CHARS:
        raise FieldError(field, f"{describe(value)} is too long to be a number", _NUMBER_HINT)
    try:
        return float(text)
    except ValueError:
        raise FieldError(field, f"{describe(value)} is not a number", _NUMBER_HINT) from None


def optional(
    value: object, field: str, low: float = -LARGEST, high: float = LARGEST
) -> float | None:
    """Like :func:`number`, but None or empty text is None."""
    if value is None or (isinstance(value, str) and value == ""):
        return None
    return number(value, field, low, high)


def ident(value: object, field: str) -> str | None:
    """A bib or device id: text, or a whole number as text; None when absent.

    >>> ident(868123, "id"), ident("ann/phone", "id"), ident(None, "id")
    ('868123', 'ann/phone', None)
    """
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= MAX_ID_CHARS:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() <= 64:
        return int.__repr__(value)
    raise FieldError(
        field,
        f"{describe(value)} is not an id",
        f"send the {field} as text of at most {MAX_ID_CHARS} characters",
    )


def device_id(value: object, field: str, hint: str) -> str:
    """A device's id, which every message of the protocol carries (``hint`` says so)."""
    found = ident(value, field)
    if not found:
        raise FieldError(field, f"no {field}", hint)
    return found


def position(
    lat: object, lon: object, names: tuple[str, str] = ("lat", "lon")
) -> tuple[float, float]:
    """A latitude and a longitude in range; FieldError naming the bad one (as ``names``)."""
    hint = "send decimal degrees, latitude -90..90 and longitude -180..180"
    try:
        la = number(lat, names[0], -90.0, 90.0)
        lo = number(lon, names[1], -180.0, 180.0)
    except FieldError as exc:
        raise FieldError(exc.field, str(exc), hint) from None
    return la, lo


__all__ = [
    "DEVICE_EVENTS",
    "LARGEST",
    "MAX_ID_CHARS",
    "MAX_NUMBER_CHARS",
    "NO_FIX_DEG",
    "Decoded",
    "DeviceEvent",
    "FieldError",
    "Fix",
    "FixProblem",
    "LongNumber",
    "PayloadError",
    "describe",
    "device_id",
    "ident",
    "number",
    "optional",
    "parse_time_s",
    "position",
]
