"""A runner put out of the race (DNF): their open incidents end with it.

Race HQ knows where a runner it has just put out is (at an aid station, in a car, at home):
their "stopped", "signal lost", "overdue", "cut-off risk" or off-course episode is over, and
nothing more is raised for them (live/afterrace.py). Each open incident gets a closing update
saying so, in race HQ's list and stream like any other update. What their device said stays
open until someone acknowledges it: an SOS above all (a runner may be out *because* of it), a
low battery, a typed message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from coursewatch.incidents import DEVICE, FLAG
from coursewatch.live.narrate import Narrator
from coursewatch.store import AlertRecord, Incident

OUT = "out_of_race"  # the closing update's kind
KEPT = frozenset(DEVICE)  # what a runner's device said (an SOS): still stands


def closing_updates(
    narrator: Narrator, incidents: Sequence[Incident], bib: str, at_s: float
) -> list[AlertRecord]:
    """The update that ends each of a runner's open incidents when race HQ puts them out at
    ``at_s`` (the race's clock; never before the incident's last update)."""
    out: list[AlertRecord] = []
    ending = [i for i in incidents if i.bib == bib and i.open and not i.retracted]
    for k, inc in enumerate(i for i in ending if i.kind not in KEPT):
        # a millisecond apart: the store keeps one event of a runner per kind and time
        when = max(at_s, inc.updated_s) + k / 1000.0
        clock = narrator.clock(datetime.fromtimestamp(when, UTC))
        what = inc.kind.replace("_", " ")
        out.append(
            AlertRecord(
                race_id=inc.race_id,
                bib=bib,
                kind=OUT,
                time_s=when,
                lat=inc.lat,
                lon=inc.lon,
                course_m=inc.course_m,
                offset_m=inc.offset_m,
                sentence=f"Bib {bib}: out of the race (DNF at {clock}); this {what} incident "
                "ends, and nothing more is raised for them",
                episode=inc.episode,
                level=FLAG,  # (an update keeps the level the incident has)
                closes=True,
                raised_s=when,
            )
        )
    return out
