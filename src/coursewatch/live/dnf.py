"""A runner's race ended by race HQ: put out (DNF), or their finish recorded (a timing mat,
a marshal: the tracker may have died short of the line). Their open incidents end with it.

Race HQ knows where such a runner is (at an aid station, in a car, at the finish): their
"stopped", "signal lost", "overdue", "cut-off risk" or off-course episode is over, and nothing
more is raised for them (live/afterrace.py). Each open incident gets a closing update saying
so, in race HQ's list and stream like any other update. What their device said stays open
until someone acknowledges it: an SOS above all (a runner may be out *because* of it), a low
battery, a typed message. Taken back (a mistake), the incidents open again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from coursewatch.incidents import DEVICE, FLAG
from coursewatch.live.narrate import Narrator
from coursewatch.store import AlertRecord, Incident, RunnerRecord

OUT = "out_of_race"  # the closing update's kind: put out
FINISH = "finish_recorded"  # likewise: their finish recorded by race HQ
ENDED = (OUT, FINISH)
KEPT = frozenset(DEVICE)  # what a runner's device said (an SOS): still stands


def change(before: RunnerRecord | None, after: RunnerRecord) -> tuple[str | None, str | None]:
    """What race HQ's change of a runner's record does to their incidents: the kind of the
    update that ends them (put out, finished), and the kind of the one to take back (a DNF or
    a finish undone); None: nothing."""
    if before is None:
        return None, None
    ends = OUT if after.dnf and not before.dnf else None
    if after.finish_ts is not None and before.finish_ts is None:
        ends = FINISH
    undone = OUT if before.dnf and not after.dnf else None
    if before.finish_ts is not None and after.finish_ts != before.finish_ts:
        undone = FINISH  # taken back, or another time: its closing updates say the old one
    if before.finish_ts is not None and after.finish_ts not in (None, before.finish_ts):
        ends = FINISH
    return ends, undone


def closing_updates(
    narrator: Narrator,
    incidents: Sequence[Incident],
    record: RunnerRecord,
    at_s: float,
    kind: str = OUT,
) -> list[AlertRecord]:
    """The update of ``kind`` that ends each of a runner's open incidents when race HQ puts
    them out or records their finish at ``at_s`` (the race's clock; never before the
    incident's last update)."""
    bib = record.bib
    out: list[AlertRecord] = []
    ending = [i for i in incidents if i.bib == bib and i.open and not i.retracted]
    for k, inc in enumerate(i for i in ending if i.kind not in KEPT):
        # a millisecond apart: the store keeps one event of a runner per kind and time
        when = max(at_s, inc.updated_s) + k / 1000.0
        if kind == FINISH and record.finish_ts is not None:
            finished = narrator.clock(datetime.fromtimestamp(record.finish_ts, UTC))
            why = f"finished at {finished} (recorded by race HQ)"
        else:
            why = f"out of the race (DNF at {narrator.clock(datetime.fromtimestamp(when, UTC))})"
        what = inc.kind.replace("_", " ")
        out.append(
            AlertRecord(
                race_id=inc.race_id,
                bib=bib,
                kind=kind,
                time_s=when,
                lat=inc.lat,
                lon=inc.lon,
                course_m=inc.course_m,
                offset_m=inc.offset_m,
                sentence=f"Bib {bib}: {why}; this {what} incident ends, and nothing more is "
                "raised for them",
                episode=inc.episode,
                level=FLAG,  # (an update keeps the level the incident has)
                closes=True,
                raised_s=when,
            )
        )
    return out
