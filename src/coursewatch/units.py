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

    >>> off(310.4), off(61.0, "mi"), off(310.4, "mi"), off(304.0, "mi")
    ('310 m', '200 ft', '0.19 mi', '0.19 mi')
    """
    if units != "mi":
        return f"{distance_m:.0f} m"
    feet = distance_m / M_PER_FT
    feet = math.floor(feet + 0.5) if feet < 100.0 else 10.0 * math.floor(feet / 10.0 + 0.5)
    return length(distance_m, "mi", 2) if feet >= 1000.0 else f"{feet:.0f} ft"


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
