"""Places where several runners went off the course: a marking gone, or the course line wrong.

One runner off course is that runner's episode. Several at the same place are news of the
place: a ribbon taken down, a sign turned, an arrow nobody sees at night, or a course line
that is not the trail. Race HQ sends someone to the place, not to each runner. A **spot** is
where at least ``MIN_RUNNERS`` runners' confirmed off-course incidents (off course, shortcut:
race HQ's alerts, not the runners' own flags; not a wrong way, whose point is where the
runner turned back) began.

Where a runner left the course is the engine's estimate (kept in the incident's updates as
``left``): within metres on 1 s watch data, but on 5-10 min satellite pings up to a ping's
run before the true turn (the last ping still on the course). So each incident stands for a
stretch of the course: from ``SPOT_M`` / 2 before where it left to ``SPOT_M`` / 2 after it,
plus what the runner could run (``PACE_MPS``) between leaving and being flagged (at most
``SLACK_MAX_M``). The places are made of the incidents known within ``SPOT_M`` (watch data):
a place begins with the first along the course and takes those that left within ``SPOT_M``
of it, whatever order they came in. An incident known only roughly (pings) joins the first
place its stretch reaches; those that reach none make places of their own likewise, each as
long as its first's stretch. Where the course passes twice (an out-and-back, laps) the
distances differ, so the passes do not mix. An incident from before the ``left`` was kept
counts where it is now.

>>> from coursewatch.store import Incident
>>> def inc(n, bib, at_m, t, left_s=None):
...     left = {"lat": 45.0, "lon": 6.0, "course_m": at_m, "time_s": left_s or t - 20.0}
...     first = {"id": n, "kind": "off_course", "time_s": t, "level": "flag", "left": left}
...     return Incident(n, "r", bib, f"course:{t:.0f}", "off_course", "alert", True, t, t,
...                     None, 45.0, 6.0, at_m, 80.0, "", (first,))
>>> found = spots([inc(1, "7", 5000.0, 100.0), inc(2, "9", 5250.0, 200.0),
...                inc(3, "4", 25000.0, 300.0)])
>>> [(s.bibs, s.from_m, s.to_m, s.open) for s in found]
[(('7', '9'), 5000.0, 5250.0, 2)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from coursewatch.geo import haversine_m
from coursewatch.store import Incident

SPOT_M = 300.0  # a place: this much of the course around where a runner left it
PACE_MPS = 2.0  # ... plus what they could run before the engine flagged them
SLACK_MAX_M = 2000.0  # (at most: a runner flagged hours later is no measure of a place)
MIN_RUNNERS = 2  # runners who went off there before it is a spot
COURSE_KINDS = ("off_course", "shortcut")
MAX_CHECKS = 500  # race HQ's checks of spots' markings kept a race (the store's meta)


def spot_checks_key(race_id: str) -> str:
    """Where the store keeps a race's checks of spots' markings."""
    return f"spot-checks/{race_id}"


@dataclass(frozen=True)
class Left:
    """Where and when a runner of a course incident left the course."""

    lat: float
    lon: float
    course_m: float | None
    time_s: float
    slack_m: float  # how far past it the true turn may be


@dataclass
class Spot:
    """A place several runners went off the course: its stretch of the course, who, when."""

    lat: float
    lon: float
    course_m: float | None  # the middle one's along the course (of where each left it)
    from_m: float | None = None  # where the first along the course left it ...
    to_m: float | None = None  # ... and the last
    bibs: tuple[str, ...] = ()  # in the order they went off there, each once
    incidents: list[int] = field(default_factory=list)
    first_s: float = math.inf  # when the first left the course there ...
    last_s: float = -math.inf  # ... and the latest
    open: int = 0  # incidents there still open (runners still off the course)
    left_s: list[float] = field(default_factory=list)  # when each left the course there
    checked_s: float | None = None  # when race HQ said the marking there was checked ...
    checked_by: str = ""  # ... who did
    since_check: int = 0  # runners who left the course there after that

    def json(self) -> dict[str, Any]:
        def m(v: float | None) -> float | None:
            return None if v is None else round(v, 1)

        return {
            "lat": round(self.lat, 6), "lon": round(self.lon, 6), "course_m": m(self.course_m),
            "from_m": m(self.from_m), "to_m": m(self.to_m), "runners": len(self.bibs),
            "bibs": list(self.bibs), "incidents": self.incidents, "first_s": self.first_s,
            "last_s": self.last_s, "open": self.open, "checked_s": self.checked_s,
            "checked_by": self.checked_by, "since_check": self.since_check,
        }  # fmt: skip


def left_at(i: Incident) -> Left | None:
    """Where a course incident's runner left the course (the engine's estimate in its
    updates), else where the incident is; None: nowhere known (a tracker started mid-race
    off the line, never on it before: no place along the course where runners go wrong)."""
    for u in i.updates:
        left: Mapping[str, Any] | None = u.get("left")
        if left and left.get("lat") is not None and left.get("lon") is not None:
            if left.get("course_m") is None:
                return None
            at_s = float(left.get("time_s") or i.opened_s)
            slack = min(max(i.opened_s - at_s, 0.0) * PACE_MPS, SLACK_MAX_M)
            return Left(float(left["lat"]), float(left["lon"]), left.get("course_m"), at_s, slack)
    return Left(i.lat, i.lon, i.course_m, i.opened_s, 0.0)


def is_course_alert(i: Incident) -> bool:
    """A confirmed off-course incident (race HQ's), not withdrawn."""
    return (
        i.level == "alert"
        and not i.retracted
        and i.kind in COURSE_KINDS
        and i.episode.startswith("course:")
    )


def spots(incidents: Iterable[Incident], min_runners: int = MIN_RUNNERS) -> list[Spot]:
    """The race's spots, the newest news first (module docstring), of ``min_runners``
    runners or more."""
    exact: list[tuple[float, Incident, Left]] = []  # known within SPOT_M: watch data
    vague: list[tuple[float, Incident, Left]] = []  # a ping's run before the turn, or more
    alone: list[list[tuple[Incident, Left]]] = []  # no course distance: by place only
    for i in filter(is_course_alert, incidents):
        left = left_at(i)
        if left is None:
            continue
        if left.course_m is None or not math.isfinite(left.course_m):
            _by_place(alone, i, left)
        else:
            (exact if left.slack_m <= SPOT_M else vague).append((float(left.course_m), i, left))
    groups = _along(exact, lambda s, left: s + SPOT_M)  # (a place is at most SPOT_M long)
    spans = [(g[0][2] - SPOT_M / 2, g[-1][2] + SPOT_M / 2) for g in groups]
    rest = []
    for s, i, left in vague:  # to the first place of exact ones its stretch reaches
        top = s + SPOT_M / 2 + left.slack_m
        hit = next((k for k, (lo, hi) in enumerate(spans) if hi >= s - SPOT_M / 2 and lo <= top),
                   None)  # fmt: skip
        if hit is None:
            rest.append((s, i, left))
        else:
            groups[hit].append((i, left, s))
    groups += _along(rest, lambda s, left: s + SPOT_M + left.slack_m)
    found = [_spot([(i, left) for i, left, _ in g]) for g in groups] + [_spot(g) for g in alone]
    shown = [s for s in found if len(s.bibs) >= min_runners]
    return sorted(shown, key=lambda s: -s.last_s)


def _along(
    items: list[tuple[float, Incident, Left]], reach: Callable[[float, Left], float]
) -> list[list[tuple[Incident, Left, float]]]:
    """Incidents by where they left the course: a place begins with the first along it and
    takes those that left within ``reach`` of the first's."""
    groups: list[list[tuple[Incident, Left, float]]] = []
    end = -math.inf
    for s, i, left in sorted(items, key=lambda x: (x[0], x[1].id)):
        if s > end:
            groups.append([])
            end = reach(s, left)
        groups[-1].append((i, left, s))
    return groups


def _by_place(groups: list[list[tuple[Incident, Left]]], i: Incident, left: Left) -> None:
    for g in groups:
        if float(haversine_m(g[0][1].lat, g[0][1].lon, left.lat, left.lon)) <= SPOT_M:
            g.append((i, left))
            return
    groups.append([(i, left)])


def _spot(members: list[tuple[Incident, Left]]) -> Spot:
    members = sorted(members, key=lambda m: (m[1].time_s, m[0].id))
    along = sorted((m for m in members if m[1].course_m is not None),
                   key=lambda m: float(m[1].course_m or 0.0))  # fmt: skip
    middle = along[len(along) // 2][1] if along else members[0][1]
    bibs = tuple(dict.fromkeys(i.bib for i, _ in members))
    spot = Spot(middle.lat, middle.lon, middle.course_m, bibs=bibs)
    if along:
        spot.from_m, spot.to_m = along[0][1].course_m, along[-1][1].course_m
    spot.incidents = [i.id for i, _ in members]
    spot.first_s, spot.last_s = members[0][1].time_s, members[-1][1].time_s
    spot.open = sum(int(i.open) for i, _ in members)
    spot.left_s = [left.time_s for _, left in members]
    return spot


def checked(found: list[Spot], checks: Iterable[tuple[float, float, str]]) -> list[Spot]:
    """The spots with race HQ's latest check of the marking within each one's stretch
    (course m, when, by whom): whether runners still go off there after it (the marking
    fixed, or the course line wrong)."""
    for spot in found:
        if spot.from_m is None or spot.to_m is None:
            continue
        lo, hi = spot.from_m - SPOT_M / 2, spot.to_m + SPOT_M / 2
        mine = [(at_s, by) for m, at_s, by in checks if lo <= m <= hi]
        if mine:
            spot.checked_s, spot.checked_by = max(mine)
            spot.since_check = sum(t > spot.checked_s for t in spot.left_s)
    return found


def spot_of(found: list[Spot], incident_id: int) -> Spot | None:
    """The spot an incident is one of, None: none."""
    return next((s for s in found if incident_id in s.incidents), None)


def spot_words(bibs: tuple[str, ...], bib: str, where: str, first: str, latest: str,
               checked: str = "", since: int = 0) -> str:  # fmt: skip
    """What race HQ is told of a place several runners went off the course (``bibs``,
    coursewatch.spots), with one runner's incident; ``first``, ``latest``: when the first and
    the latest left it, as the race reads its clock; ``checked``: when race HQ had its marking
    checked and by whom, ``since`` runners going off there after it.

    >>> spot_words(("7", "9", "4"), "4", "km 5.00 (mi 3.11)", "10:42", "11:05")[:80]
    '3 runners went off the course at km 5.00 (mi 3.11), the first at 10:42, the late'
    >>> spot_words(("7", "9", "4"), "4", "km 5.00", "10:42", "11:05", "10:50 by Dee", 1)[-75:]
    'checked at 10:50 by Dee, and 1 went off there since: check the course line.'
    """
    others = [b for b in bibs if b != bib]
    also = f"bib {others[0]}" if len(others) == 1 else "bibs " + ", ".join(others[:8])
    also += "…" if len(others) > 8 else ""
    advice = "check the marking, or the course line."
    if checked:
        advice = f"the marking was checked at {checked}" + (
            f", and {since} went off there since: check the course line." if since else "."
        )
    return (
        f"{len(bibs)} runners went off the course at {where}, the first at {first}, the "
        f"latest at {latest} (also {also}): {advice}"
    )
