"""News of a runner's race, for their crew: each station passed (with the ETA at the next),
the finish, out of the race.

A crew drives from one aid station to the next and waits there; they want to hear when their
runner passed one and when to expect them at the next, that they finished, or that race HQ
put them out (someone has to fetch them). These are no incidents of anyone's: events of level
**news** (:mod:`coursewatch.incidents`), in one episode a runner (``NEWS_EPISODE``), stored
with the fixes that made them like every event (a restart raises them again: known, not told
again), and told to the crew only (live/notify.py). The runner's page and race HQ's list do
not show them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from coursewatch.eta import REACHED_M
from coursewatch.incidents import NEWS, NEWS_EPISODE, rule
from coursewatch.live.narrate import h_min
from coursewatch.store import AlertRecord
from coursewatch.units import km_mi

if TYPE_CHECKING:
    from coursewatch.live.clock import RaceWatch
    from coursewatch.live.registry import LiveRace
    from coursewatch.live.runner import LiveRunner

PASSED = "passed_station"
FINISHED = "race_finished"  # the engine found their finish
FINISH_RECORDED = "race_finish_recorded"  # race HQ recorded it
OUT = "race_out"  # race HQ put them out (DNF)


def record(race: LiveRace, runner: LiveRunner, kind: str, at_s: float, at_m: float,
           sentence: str) -> AlertRecord:  # fmt: skip
    """A news event of the runner's, at course distance ``at_m``."""
    lat, lon = race.course.latlon_at(min(max(at_m, 0.0), race.course.length_m))
    does = rule(kind)
    return AlertRecord(
        race_id=race.id, bib=runner.bib, kind=kind, time_s=at_s, lat=float(lat), lon=float(lon),
        course_m=at_m, offset_m=None, sentence=sentence, raised_s=at_s, episode=NEWS_EPISODE,
        level=NEWS, closes=does.closes, names=does.names,
    )  # fmt: skip


def passed(
    watch: RaceWatch, runner: LiveRunner, found: list[tuple[int, int, float]]
) -> list[tuple[int, AlertRecord]]:
    """The news of the stations a runner passed (position of the fix in its run, station,
    when), each with the ETA at the next station; the finish is not one (:func:`finished`)."""
    race = watch.race
    out = []
    for j, i, at_s in found:
        station = race.stations[i]
        if station.distance_m >= race.course.length_m - REACHED_M or station.distance_m < 100.0:
            continue  # the finish (finished() says it), the start (they know)
        when = race.narrator.clock(datetime.fromtimestamp(at_s, UTC))
        since = h_min(at_s - race.start_s(runner))
        said = (f"Bib {runner.bib} passed {station.label}, {km_mi(station.distance_m)}, at "
                f"{when}, {since} after the start.")  # fmt: skip
        if i + 1 < len(race.stations):
            nxt = race.stations[i + 1]
            etas, ranges = watch.arrival_ranges(runner, [nxt.distance_m])
            said += f" Next: {nxt.label}, {km_mi(nxt.distance_m)}"
            eta, span = etas[0], ranges[0]
            if eta is not None and math.isfinite(eta) and eta > at_s:
                said += f", expected about {race.narrator.clock(datetime.fromtimestamp(eta, UTC))}"
                if span is not None:
                    low, high = (race.narrator.clock(datetime.fromtimestamp(t, UTC))
                                 for t in (span.low_ts, span.high_ts))  # fmt: skip
                    said += f" ({low}-{high})"
            said += "."
        out.append((j, record(race, runner, PASSED, at_s, station.distance_m, said)))
    return out


def finished(
    race: LiveRace, runner: LiveRunner, at_s: float, recorded: bool = False
) -> AlertRecord:
    """The news of a runner's finish at ``at_s``: found by the engine, or ``recorded`` by
    race HQ."""
    when = race.narrator.clock(datetime.fromtimestamp(at_s, UTC))
    said = f"Bib {runner.bib} finished at {when}, in {h_min(at_s - race.start_s(runner))}"
    said += " (recorded by race HQ)." if recorded else "."
    kind = FINISH_RECORDED if recorded else FINISHED
    return record(race, runner, kind, at_s, race.course.length_m, said)


def out(race: LiveRace, runner: LiveRunner, at_s: float) -> AlertRecord:
    """The news of a runner race HQ put out (DNF) at ``at_s``: where they were last placed."""
    when = race.narrator.clock(datetime.fromtimestamp(at_s, UTC))
    said = f"Bib {runner.bib} is out of the race (DNF, race HQ at {when})"
    at_m = runner.matcher.progress_m if runner.fixes else 0.0
    if runner.last_time_s is not None:
        seen = race.narrator.clock(datetime.fromtimestamp(runner.last_time_s, UTC))
        said += f"; last placed at {race.narrator.where(at_m)} at {seen}"
    return record(race, runner, OUT, at_s, at_m, said + ".")


UNDONE = {"out_of_race": OUT, "finish_recorded": FINISH_RECORDED}  # dnf.py's kind: the news's


def of_change(race: LiveRace, runner: LiveRunner, ends: str, now_s: float) -> AlertRecord:
    """The news of race HQ's change that ``ends`` a runner's race (dnf.py's kind): put out
    at ``now_s``, or their finish recorded."""
    finish_ts = runner.record.finish_ts
    if ends == "finish_recorded" and finish_ts is not None:
        return finished(race, runner, finish_ts, recorded=True)
    return out(race, runner, now_s)
