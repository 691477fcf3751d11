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
from typing import TYPE_CHECKING

from coursewatch.incidents import DEVICE, FLAG, NEWS, REPLAYED
from coursewatch.live import news
from coursewatch.live.narrate import Narrator
from coursewatch.store import AlertRecord, Incident, RunnerRecord, Store

if TYPE_CHECKING:
    from coursewatch.live.registry import LiveRace
    from coursewatch.live.runner import LiveRunner
    from coursewatch.live.step import Step

OUT = "out_of_race"  # the closing update's kind: put out
FINISH = "finish_recorded"  # likewise: their finish recorded by race HQ
FINISHED = "finished"  # likewise: the engine found their finish
ENDED = (OUT, FINISH, FINISHED)
KEPT = frozenset(DEVICE)  # what a runner's device said (an SOS): still stands
# ... and, at a finish the engine found, a cut-off passed late: race HQ's to decide on
KEPT_AT_FINISH = KEPT | {"cutoff_missed"}


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
    kept: frozenset[str] = KEPT,
) -> list[AlertRecord]:
    """The update of ``kind`` that ends each of a runner's open incidents when race HQ puts
    them out or records their finish at ``at_s`` (the race's clock; never before the
    incident's last update)."""
    bib = record.bib
    out: list[AlertRecord] = []
    ending = [i for i in incidents
              if i.bib == bib and i.open and not i.retracted and i.level != NEWS]  # fmt: skip
    for k, inc in enumerate(i for i in ending if i.kind not in kept):
        # a millisecond apart: the store keeps one event of a runner per kind and time
        when = max(at_s, inc.updated_s) + k / 1000.0
        if kind == FINISH and record.finish_ts is not None:
            finished = narrator.clock(record.finish_ts)
            why = f"finished at {finished} (recorded by race HQ)"
        elif kind == FINISHED:
            why = f"finished at {narrator.clock(at_s)}"
        else:
            why = f"out of the race (DNF at {narrator.clock(when)})"
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


def at_finish(
    race: LiveRace,
    runner: LiveRunner,
    step: Step,
    raised: Sequence[tuple[int, AlertRecord]],
    store: Store,
) -> list[AlertRecord]:
    """When the engine finds a runner's finish in ``step`` (among its new fixes, or in the
    past it replayed), the updates that end what is open of theirs: the store's incidents and
    the episodes ``raised`` in this batch (a flag raised by the finish pings themselves, off
    the line: Ouray's finisher kept it open for good), as this batch leaves them. Nothing when
    race HQ already put them out or recorded their finish (its own updates ended them)."""
    at, rec = runner.reached_s, runner.record
    if at is None or rec.dnf or rec.finish_ts is not None:
        return []
    found = bool(step.new_s) and step.new_s[0] <= at <= step.new_s[-1]
    if not found and (step.replay_from_s is None or step.replay_from_s > at):
        return []
    open_now = {i.episode: i for i in store.incidents(rec.race_id, bib=rec.bib, level=None,
                                                      limit=100_000) if i.open}  # fmt: skip
    if step.replay_from_s is not None:  # what the replay takes back is not ended: gone
        open_now = {e: i for e, i in open_now.items()
                    if i.opened_s < step.replay_from_s or i.kind not in REPLAYED}  # fmt: skip
    said: dict[str, list[AlertRecord]] = {}
    for _, a in raised:
        if (a.race_id, a.bib) == (rec.race_id, rec.bib):
            said.setdefault(a.episode, []).append(a)
    for episode, alerts in said.items():
        last = alerts[-1]
        if last.closes or any(a.kind in KEPT_AT_FINISH for a in alerts):
            open_now.pop(episode, None)  # over already, or race HQ's to decide (a cut-off)
        elif episode not in open_now:  # opened in this batch
            open_now[episode] = Incident(0, rec.race_id, rec.bib, episode, last.kind, last.level,
                                         True, alerts[0].time_s, last.time_s, None, last.lat,
                                         last.lon, last.course_m, last.offset_m, "")  # fmt: skip
    ending = list(open_now.values())
    told = news.finished(race, runner, at)  # their crew's news
    return [told, *closing_updates(race.narrator, ending, rec, at, FINISHED, KEPT_AT_FINISH)]
