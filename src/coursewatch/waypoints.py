"""A course file's waypoints, read as its stations."""

from __future__ import annotations

import re
from collections.abc import Sequence

from coursewatch.geo import haversine_m
from coursewatch.points import Waypoint

SAME_PLACE_M = 30.0  # waypoints this close are one station
VISIT_NUMBER = re.compile(r"^\s*\d+[\s.:)-]*")  # "01 ", "3. ", "12) " before a station's name


def one_per_place(waypoints: Sequence[Waypoint]) -> list[Waypoint]:
    """Waypoints of one name at one place (within ``SAME_PLACE_M``) as one station: an
    organiser's file with a waypoint per visit ("01 TWOT Lot" ... "07 TWOT Lot") made each of
    them a station at every pass (63 rows of one car park). The name without its visit number;
    waypoints of other names at one place ("Start" and "Finish" under one arch) stay apart.

    >>> [w.name for w in one_per_place([Waypoint("01 Lot", 45.0, 6.0), Waypoint("Camp", 45.1,
    ...     6.0), Waypoint("02 Lot", 45.0, 6.0001), Waypoint("Finish", 45.0, 6.0)])]
    ['Lot', 'Camp', 'Finish']
    """
    by_name: dict[str, list[Waypoint]] = {}  # a name's places so far (the first waypoint of each)
    out: list[Waypoint] = []
    for w in waypoints:
        bare = VISIT_NUMBER.sub("", w.name).strip() or w.name
        places = by_name.setdefault(bare, [])
        at = next((i for i, p in enumerate(places)
                   if haversine_m(p.lat, p.lon, w.lat, w.lon) <= SAME_PLACE_M), None)  # fmt: skip
        if at is None:
            places.append(w)
            out.append(w)
        else:  # another visit of a place already named: the bare name from now on
            first = places[at]
            out[out.index(first)] = places[at] = Waypoint(bare, first.lat, first.lon)
    return out
