"""How distances and durations are written for people: km and miles, h:mm:ss.

>>> km_mi(147650.0)
'km 147.65 (mi 91.75)'
>>> fmt_duration(3725.0)
'1:02:05'
"""

from __future__ import annotations

M_PER_MI = 1609.344


def km_mi(distance_m: float) -> str:
    return f"km {distance_m / 1000:.2f} (mi {distance_m / M_PER_MI:.2f})"


def fmt_duration(seconds: float) -> str:
    s = round(seconds)
    sign = "-" if s < 0 else ""
    s = abs(s)
    return f"{sign}{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
