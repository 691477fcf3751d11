"""A course file's waypoints, read as its stations."""

from __future__ import annotations

import re
from collections.abc import Sequence

from coursewatch.geo import haversine_m
from coursewatch.points import Waypoint

SAME_PLACE_M = 30.0  # waypoints this close are one station
VISIT_NUMBER = re.compile(r"^\s*\d+[\s.:)-]*")  # "01 ", "3. ", "12) " before a station's name


def one_per_place(waypoints: Sequence[Waypoint]) -> list[Waypoint]:
    """Waypoints at one place (within ``SAME_PLACE_M``) as one station: an organiser's file
    with a waypoint per visit ("01 TWOT Lot" ... "07 TWOT Lot") made each of them a station
    at every pass (63 rows of one car park). Named as they are without the visit number when
    that is all that tells them apart, else as the first.

    >>> [w.name for w in one_per_place([Waypoint("01 Lot", 45.0, 6.0),
    ...     Waypoint("Camp", 45.1, 6.0), Waypoint("02 Lot", 45.0, 6.0001)])]
    ['Lot', 'Camp']
    """
    groups: list[list[Waypoint]] = []
    for w in waypoints:
        near = (g for g in groups if haversine_m(g[0].lat, g[0].lon, w.lat, w.lon) <= SAME_PLACE_M)
        same = next(near, None)
        if same is None:
            groups.append([w])
        else:
            same.append(w)
    out = []
    for g in groups:
        bare = {VISIT_NUMBER.sub("", w.name).strip() for w in g}
        name = bare.pop() if len(g) > 1 and len(bare) == 1 else g[0].name
        out.append(Waypoint(name or g[0].name, g[0].lat, g[0].lon))
    return out
