"""Live payloads -> :class:`Fix`. One module per protocol (osmand, owntracks, inreach, native).

A decoder never raises for one bad fix: it returns the good fixes and a :class:`FixProblem` for
each bad one (what, where, what to do), so a batch with one bad fix still stores the rest. Only a
payload that cannot be read at all (not JSON, no list of fixes) raises :class:`PayloadError`.

>>> parse_time_s("2024-07-19T13:27:15Z")
1721395635.0
>>> parse_time_s(1721395635000)
1721395635.0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from coursewatch.errors import InputError

# Epoch values above this are milliseconds (1e11 s is the year 5138).
_MS_THRESHOLD = 1e11


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


@dataclass
class Decoded:
    """What a decoder made of one payload: fixes in payload order and the problems."""

    fixes: list[Fix] = field(default_factory=list)
    problems: list[FixProblem] = field(default_factory=list)
    index: list[int] = field(default_factory=list)  # payload position of each fix

    def add(self, fix: Fix, index: int) -> None:
        self.fixes.append(fix)
        self.index.append(index)

    def problem(self, index: int, where: str, exc: FieldError) -> None:
        self.problems.append(FixProblem(index, f"{where}.{exc.field}", str(exc), exc.hint))

    def take(self, index: int, where: str, make: Callable[[], Fix]) -> None:
        """The fix ``make`` reads from payload item ``index``, or the problem it found there."""
        try:
            self.add(make(), index)
        except FieldError as exc:
            self.problem(index, where, exc)


def parse_time_s(value: object, field: str = "time") -> float:
    """Epoch seconds or milliseconds, or ISO 8601 text (UTC if no zone) -> epoch seconds."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return parse_time_s(float(text), field)
        except FieldError:
            raise
        except ValueError:
            pass
        try:
            return _iso(text)
        except ValueError:
            raise _time_error(field, value) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _time_error(field, value)
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise _time_error(field, value)
    return v / 1000.0 if v > _MS_THRESHOLD else v


def _iso(text: str) -> float:
    when = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # trackers send UTC
    return when.timestamp()


def _time_error(field: str, value: object) -> FieldError:
    return FieldError(
        field,
        f"{value!r} is not a time",
        "send epoch seconds, epoch milliseconds or ISO 8601 such as 2024-07-19T13:27:15Z",
    )


def number(value: object, field: str, low: float = -math.inf, high: float = math.inf) -> float:
    """A finite number (or numeric text) within [low, high]; FieldError otherwise."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise FieldError(field, f"{value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FieldError(field, f"{value!r} is not a number")
    if not low <= value <= high:
        raise FieldError(field, f"{value!r} is outside {low:g}..{high:g}")
    return float(value)


def optional(
    value: object, field: str, low: float = -math.inf, high: float = math.inf
) -> float | None:
    """Like :func:`number`, but None or empty text is None."""
    if value is None or value == "":
        return None
    return number(value, field, low, high)


def position(lat: object, lon: object) -> tuple[float, float]:
    """A latitude and a longitude in range; FieldError naming the bad one."""
    hint = "send decimal degrees, latitude -90..90 and longitude -180..180"
    try:
        la = number(lat, "lat", -90.0, 90.0)
        lo = number(lon, "lon", -180.0, 180.0)
    except FieldError as exc:
        raise FieldError(exc.field, str(exc), hint) from None
    return la, lo


__all__ = [
    "Decoded",
    "FieldError",
    "Fix",
    "FixProblem",
    "PayloadError",
    "number",
    "optional",
    "parse_time_s",
    "position",
]
