"""How distances, durations and directions are written for people: km and miles, h:mm:ss,
"north-east".

>>> km_mi(147650.0)
'km 147.65 (mi 91.75)'
>>> km_mi(147650.0, lead="mi")
'mi 91.75 (km 147.65)'
>>> fmt_duration(3725.0)
'1:02:05'
"""

from __future__ import annotations

M_PER_MI = 1609.344


def km_mi(distance_m: float, lead: str = "km") -> str:
    """A place along a course in both units, ``lead`` first ("mi" for a race run in miles)."""
    km, mi = f"km {distance_m / 1000:.2f}", f"mi {distance_m / M_PER_MI:.2f}"
    return f"{mi} ({km})" if lead == "mi" else f"{km} ({mi})"


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
