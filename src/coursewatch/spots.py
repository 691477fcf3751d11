"""Places where several runners went off the course: a marking gone, or the course line wrong.

One runner off course is that runner's episode. Several at the same place are news of the
place: a ribbon taken down, a sign turned, an arrow nobody sees at night, or a course line
that is not the trail. Race HQ sends someone to the place, not to each runner; a runner
coming to it may be warned. A **spot** is where at least ``MIN_RUNNERS`` runners' confirmed
course incidents (off course, wrong way, shortcut: race HQ's alerts, not the runners' own
flags) began within ``SPOT_M`` of where the first of them left the course.

Each incident counts where its runner left the course (the engine's estimate, in its
updates' ``left``), or where it was when that is unknown.

>>> from coursewatch.store import Incident
>>> def inc(n, bib, lat, t):
...     return Incident(n, "r", bib, f"course:{t}", "off_course", "alert", True, t, t, None,
...                     lat, 6.0, 1000.0, 80.0, "")
>>> found = spots([inc(1, "7", 45.0, 100.0), inc(2, "9", 45.001, 200.0), inc(3, "4", 46.0, 300.0)])
>>> [(s.bibs, s.first_s, s.open) for s in found]
[(('7', '9'), 100.0, 2)]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from coursewatch.geo import haversine_m
from coursewatch.store import Incident

SPOT_M = 300.0  # within this of where the first runner left the course: the same place
MIN_RUNNERS = 2  # runners who went off there before it is a spot
COURSE_KINDS = ("off_course", "wrong_way", "shortcut", "far_from_course")


@dataclass
class Spot:
    """A place several runners went off the course: where the first left it, who, when."""

    lat: float
    lon: float
    course_m: float | None
    bibs: tuple[str, ...] = ()  # in the order they went off there, each once
    incidents: list[int] = field(default_factory=list)
    first_s: float = math.inf
    last_s: float = -math.inf
    open: int = 0  # incidents there still open

    def json(self) -> dict[str, Any]:
        return {
            "lat": round(self.lat, 6), "lon": round(self.lon, 6),
            "course_m": None if self.course_m is None else round(self.course_m, 1),
            "runners": len(self.bibs), "bibs": list(self.bibs), "incidents": self.incidents,
            "first_s": self.first_s, "last_s": self.last_s, "open": self.open,
        }  # fmt: skip


def left_at(i: Incident) -> tuple[float, float, float | None]:
    """Where the runner of a course incident left the course (lat, lon, course m)."""
    for u in i.updates:
        left: Mapping[str, Any] | None = u.get("left")
        if left and left.get("lat") is not None and left.get("lon") is not None:
            return float(left["lat"]), float(left["lon"]), left.get("course_m")
    return i.lat, i.lon, i.course_m


def is_course_alert(i: Incident) -> bool:
    """A confirmed course incident (race HQ's), not withdrawn."""
    return (
        i.level == "alert"
        and not i.retracted
        and i.kind in COURSE_KINDS
        and i.episode.startswith("course:")
    )


def spots(incidents: Iterable[Incident], spot_m: float = SPOT_M,
          min_runners: int = MIN_RUNNERS) -> list[Spot]:  # fmt: skip
    """The race's spots, the newest news first: each confirmed course incident, in the
    order they began, joins the first spot within ``spot_m`` of where it began, else begins
    one; those with ``min_runners`` runners or more are spots."""
    found: list[Spot] = []
    for i in sorted(filter(is_course_alert, incidents), key=lambda i: (i.opened_s, i.id)):
        lat, lon, course_m = left_at(i)
        spot = next((s for s in found if _within(s, lat, lon, spot_m)), None)
        if spot is None:
            spot = Spot(lat, lon, course_m)
            found.append(spot)
        if i.bib not in spot.bibs:
            spot.bibs += (i.bib,)
        spot.incidents.append(i.id)
        spot.first_s = min(spot.first_s, i.opened_s)
        spot.last_s = max(spot.last_s, i.opened_s)
        spot.open += int(i.open)
    shown = [s for s in found if len(s.bibs) >= min_runners]
    return sorted(shown, key=lambda s: -s.last_s)


def spot_of(found: list[Spot], incident_id: int) -> Spot | None:
    """The spot an incident is one of, None: none."""
    return next((s for s in found if incident_id in s.incidents), None)


def _within(s: Spot, lat: float, lon: float, spot_m: float) -> bool:
    return float(haversine_m(s.lat, s.lon, lat, lon)) <= spot_m
