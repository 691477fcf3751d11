"""How distances, durations and directions are written for people: km and miles, h:mm:ss,
"north-east".

>>> km_mi(147650.0)
'km 147.65 (mi 91.75)'
>>> km_mi(147650.0, lead="mi")
'mile 91.75 (km 147.65)'
>>> fmt_duration(3725.0)
'1:02:05'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from coursewatch.geo import FloatArray

Number = TypeVar("Number", float, "FloatArray")

M_PER_MI = 1609.344
M_PER_FT = 0.3048


def km_mi(distance_m: float, lead: str = "km", other: bool = True) -> str:
    """A place along a course in both units, ``lead`` first ("mi" for a race run in miles);
    without the ``other`` in brackets when it would be too much ("the station at mile 7.77")."""
    km, mi = f"km {distance_m / 1000:.2f}", f"mile {distance_m / M_PER_MI:.2f}"
    first, then = (mi, km) if lead == "mi" else (km, mi.replace("mile", "mi"))
    return f"{first} ({then})" if other else first


def length(distance_m: float, units: str = "km", digits: int = 1) -> str:
    """A course's length in its race's unit.

    >>> length(159_670.0), length(159_670.0, "mi", 2)
    ('159.7 km', '99.21 mi')
    """
    per_m = M_PER_MI if units == "mi" else 1000.0
    return f"{distance_m / per_m:.{digits}f} {'mi' if units == 'mi' else 'km'}"


def off(distance_m: float, units: str = "km") -> str:
    """A short distance across the course (how far off it, how far to it) in the race's unit:
    metres, or in a race run in miles feet to 1,000 ft and miles past that.

    >>> off(310.4), off(61.0, "mi"), off(310.4, "mi"), off(304.0, "mi"), off(math.inf, "mi")
    ('310 m', '200 ft', '0.19 mi', '0.19 mi', 'far')
    """
    if not math.isfinite(distance_m):  # (beyond where the course is looked for)
        return "far"
    if units != "mi":
        return f"{distance_m:.0f} m"
    feet = distance_m / M_PER_FT
    feet = math.floor(feet + 0.5) if feet < 100.0 else 10.0 * math.floor(feet / 10.0 + 0.5)
    return length(distance_m, "mi", 2) if feet >= 1000.0 else f"{feet:.0f} ft"


@dataclass(frozen=True)
class Units:
    """How a report writes distances in its race's unit: ``"km"`` (metres, km, pace per km)
    or ``"mi"`` (feet, miles, pace per mile, as a race run in miles says them).

    >>> mi = Units("mi")
    >>> mi.at(147650.0), mi.distance(150.0), mi.distance(2500.0), mi.speed(16.7)
    ('mile 91.7', '490 ft', '1.55 mi', '37 mph')
    >>> print(mi.pace(372.0))
    9'59"/mi
    >>> km = Units()
    >>> km.at(147650.0), km.distance(310.4), km.distance(2500.0), km.speed(16.7)
    ('km 147.7', '310 m', '2.5 km', '60 km/h')
    >>> Units("miles")
    Traceback (most recent call last):
    ValueError: units 'miles': give km or mi
    """

    name: str = "km"  # or "mi"

    def __post_init__(self) -> None:
        if self.name not in ("km", "mi"):  # ("miles" wrote km with a "/miles" pace)
            raise ValueError(f"units {self.name!r}: give km or mi")

    @classmethod
    def of(cls, name: str | None) -> Units:
        return cls("mi" if name == "mi" else "km")

    @property
    def miles(self) -> bool:
        return self.name == "mi"

    @property
    def unit_m(self) -> float:
        """Metres in one of the unit: 1,000 or 1,609.344."""
        return M_PER_MI if self.miles else 1000.0

    @property
    def height(self) -> str:
        """The unit of elevation beside it: "m" or "ft"."""
        return "ft" if self.miles else "m"

    def along(self, distance_m: Number) -> Number:
        """A distance in the unit, as a chart's axis reads it (works on numpy arrays too)."""
        return distance_m / self.unit_m

    def up(self, elevation_m: Number) -> Number:
        """An elevation in the height unit (works on numpy arrays too)."""
        return elevation_m / M_PER_FT if self.miles else elevation_m

    def at(self, distance_m: float | None, digits: int = 1) -> str:
        """A place along the course: "km 12.3", "mile 7.6"; "-" for none."""
        if distance_m is None:
            return "-"
        return f"{'mile' if self.miles else 'km'} {self.along(distance_m):.{digits}f}"

    def distance(self, distance_m: float) -> str:
        """A distance at the right scale, without its sign: "480 m", "1.9 km"; "600 ft",
        "0.19 mi", "12.4 mi"."""
        d = abs(distance_m)
        if not self.miles:
            return f"{d:.0f} m" if d < 1000 else f"{d / 1000:.1f} km"
        if d / M_PER_MI >= 10.0:
            return length(d, "mi")
        return off(d, "mi")

    def off(self, distance_m: float) -> str:
        """A distance across the course (how far off it): "310 m", "200 ft"."""
        return off(distance_m, self.name)

    def length(self, distance_m: float) -> str:
        """A course's length, in both units, the race's first: "79.9 km (49.6 mi)"."""
        km, mi = length(distance_m), length(distance_m, "mi")
        return f"{mi} ({km})" if self.miles else f"{km} ({mi})"

    def pace(self, s_per_km: float | None, per: bool = True) -> str:
        """Minutes and seconds per unit: 6'12\"/km, 9'59\"/mi (without ``per``, 9'59\": a
        table's heading says per what); "-" for none."""
        if s_per_km is None:
            return "-"
        s = round(s_per_km * self.unit_m / 1000.0)
        return f"{s // 60}'{s % 60:02d}\"" + (f"/{self.name}" if per else "")

    def speed(self, mps: float) -> str:
        """A speed: "60 km/h", "37 mph"."""
        return f"{mps * 3600.0 / M_PER_MI:.0f} mph" if self.miles else f"{mps * 3.6:.0f} km/h"


KM = Units()  # the default: a race run in km


def fmt_duration(seconds: float) -> str:
    s = round(seconds)
    sign = "-" if s < 0 else ""
    s = abs(s)
    return f"{sign}{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def h_min(seconds: float) -> str:
    """A duration as race HQ reads it: "42 min", "2 h 04 min"."""
    minutes = round(seconds / 60.0)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def compass(heading_deg: float) -> str:
    """A heading as one of eight directions.

    >>> compass(0.0), compass(135.0), compass(300.0)
    ('north', 'south-east', 'north-west')
    """
    names = ("north", "north-east", "east", "south-east", "south", "south-west", "west",
             "north-west")  # fmt: skip
    return names[round(heading_deg % 360.0 / 45.0) % 8]
