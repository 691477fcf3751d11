"""News of a runner's race, for their crew: each station passed (with the ETA at the next),
the finish, out of the race, and back in it when race HQ takes a DNF back.

A crew drives from one aid station to the next and waits there; they want to hear when their
runner passed one and when to expect them at the next, that they finished, or that race HQ
put them out (someone has to fetch them). These are no incidents of anyone's: events of level
**news** (:mod:`coursewatch.incidents`), in one episode a runner (``NEWS_EPISODE``), stored
with the fixes that made them like every event (a restart raises them again: known, not told
again), and told to the crew only (live/notify.py), each update in its own words (not the
episode's latest: a pass relayed late is told as itself). The runner's page and race HQ's
list do not show them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from coursewatch.eta import AT_STATION_M
from coursewatch.incidents import NEWS, NEWS_EPISODE, rule
from coursewatch.live.announce import newest_event
from coursewatch.live.views import incident_json
from coursewatch.store import AlertRecord, Incident
from coursewatch.units import h_min

if TYPE_CHECKING:
    from coursewatch.live.clock import RaceWatch
    from coursewatch.live.registry import LiveRace
    from coursewatch.live.runner import LiveRunner

PASSED = "passed_station"
FINISHED = "race_finished"  # the engine found their finish
FINISH_RECORDED = "race_finish_recorded"  # race HQ recorded it
OUT = "race_out"  # race HQ put them out (DNF)
BACK = "race_back"  # race HQ took its DNF or finish back
TITLES = {PASSED: "passed a station", FINISHED: "finished", FINISH_RECORDED: "finished",
          OUT: "out of the race (DNF)", BACK: "back in the race"}  # fmt: skip


def record(race: LiveRace, runner: LiveRunner, kind: str, at_s: float, at_m: float,
           sentence: str, station: str = "", next_eta: tuple[float, float] | None = None,
           ) -> AlertRecord:  # fmt: skip
    """A news event of the runner's, at course distance ``at_m`` (``station``: the one passed,
    by its label; ``next_eta``: the next station's course distance and the ETA said there)."""
    lat, lon = race.course.latlon_at(min(max(at_m, 0.0), race.course.length_m))
    does = rule(kind)
    detail: dict[str, object] = {"station": station} if station else {}
    if next_eta is not None:
        detail.update(next_m=next_eta[0], eta_s=next_eta[1])
    return AlertRecord(
        race_id=race.id, bib=runner.bib, kind=kind, time_s=at_s, lat=float(lat), lon=float(lon),
        course_m=at_m, offset_m=None, sentence=sentence, raised_s=at_s, episode=NEWS_EPISODE,
        level=NEWS, closes=does.closes, names=does.names,
        detail=detail,
    )  # fmt: skip


def newest(inc: Incident) -> Mapping[str, Any]:
    """The update of a news incident a message tells: the one stored last (a pass relayed
    after the finish is news of its own), not the latest in time."""
    key = newest_event(inc)
    found = next((u for u in inc.updates if int(u.get("id", 0)) == key), None)
    return found or {"id": 0, "kind": inc.kind, "time_s": inc.updated_s, "sentence": inc.sentence}


def title(inc: Incident) -> str:
    """What a notification's title says of a news incident's update: "passed Aid 3" (which
    station, on a lock screen), "finished", "out of the race (DNF)"."""
    said = newest(inc)
    kind = str(said["kind"])
    return f"passed {said['station']}" if said.get("station") else TITLES.get(kind, kind)


def told(inc: Incident) -> dict[str, Any]:
    """A news incident as the bus carries it: what the update it tells says (the whole
    race's are the store's)."""
    u = newest(inc)
    return {**incident_json(inc), "kind": u["kind"], "sentence": u["sentence"],
            "updated_s": u["time_s"], "updates": [dict(u)]}  # fmt: skip


def who(runner: LiveRunner) -> str:
    name = runner.record.name
    return f"{name} (bib {runner.bib})" if name else f"Bib {runner.bib}"


def passed(
    watch: RaceWatch, runner: LiveRunner, found: list[tuple[int, int, float]]
) -> list[tuple[int, AlertRecord]]:
    """The news of the stations a runner passed (position of the fix in its run, station,
    when), each with the ETA at the next station; not the start, not the finish
    (:func:`finished` says it), nothing past their finish or once race HQ put them out."""
    race, rec = watch.race, runner.record
    end_s = min(runner.finished_s or math.inf, rec.finish_ts or math.inf)
    out = []
    for j, i, at_s in found:
        station = race.stations[i]
        last = i == len(race.stations) - 1  # (the finish is the last, named or not)
        if last or station.distance_m < AT_STATION_M or at_s > end_s or rec.dnf:
            continue
        when, there = race.narrator.clock(at_s), race.narrator.at(station.distance_m)
        said = (f"{who(runner)} passed {station.label}, {there}, at {when}, "
                f"{elapsed(at_s, race.start_s(runner))} after the start.")  # fmt: skip
        nxt = race.stations[i + 1]
        eta = watch.arrival_ranges(runner, [nxt.distance_m])[0][0]
        said += f" Next: {nxt.label}, {race.narrator.at(nxt.distance_m)}"
        told = None
        if eta is not None and math.isfinite(eta) and eta > at_s:
            said += f", expected about {race.narrator.clock(eta, at_s)}"
            told = (nxt.distance_m, eta)
        out.append((j, record(race, runner, PASSED, at_s, station.distance_m, said + ".",
                              station.label, told)))  # fmt: skip
    return out


def elapsed(at_s: float, start_s: float) -> str:
    """The time from the start to ``at_s`` as its clock reads beside it: both to the minute
    (a pass at 03:55:40 of a race started at 23:00 is "4 h 55 min", not the 4 h 56 min that
    disagreed with its "03:55").

    >>> start = 1_712_890_800.0  # 23:00:00
    >>> elapsed(start + 4 * 3600 + 55 * 60 + 40, start), elapsed(start + 90, start - 50)
    ('4 h 55 min', '2 min')
    """
    return h_min(at_s // 60 * 60 - start_s // 60 * 60)


def finished(
    race: LiveRace, runner: LiveRunner, at_s: float, recorded: bool = False
) -> AlertRecord:
    """The news of a runner's finish at ``at_s``: found by the engine, or ``recorded`` by
    race HQ."""
    when = race.narrator.clock(at_s)
    said = f"{who(runner)} finished at {when}, in {elapsed(at_s, race.start_s(runner))}"
    said += " (recorded by race HQ)." if recorded else "."
    kind = FINISH_RECORDED if recorded else FINISHED
    return record(race, runner, kind, at_s, race.course.length_m, said)


def out(race: LiveRace, runner: LiveRunner, at_s: float) -> AlertRecord:
    """The news of a runner race HQ put out (DNF) at ``at_s``: where they were last placed."""
    when = race.narrator.clock(at_s)
    said = f"{who(runner)} is out of the race: race HQ recorded a DNF at {when}"
    at_m = _placed_m(runner)
    if runner.last_time_s is not None:
        seen = race.narrator.clock(runner.last_time_s, at_s)
        said += f"; last placed at {seen}, {race.narrator.where(at_m)}"
    return record(race, runner, OUT, at_s, at_m, said + ".")


def of_change(
    race: LiveRace,
    runner: LiveRunner,
    ends: str | None,
    undone: str | None,
    now_s: float,
    said: list[Incident],
) -> AlertRecord | None:
    """The news of race HQ's change to a runner (dnf.change's kinds; ``said``: the news
    their crew has had): put out at ``now_s``; their finish recorded (not when the crew heard
    the engine's); back in the race, a DNF or a finish taken back (or, a DNF taken back from
    one who finished meanwhile, their finish)."""
    heard = {str(u["kind"]) for i in said for u in i.updates}
    finish_ts, reached_s = runner.record.finish_ts, runner.reached_s
    if ends == "finish_recorded" and finish_ts is not None:
        return None if FINISHED in heard else finished(race, runner, finish_ts, True)
    if ends is not None:
        return out(race, runner, now_s)
    if undone is None or FINISHED in heard:  # (the engine's finish stands)
        return None
    if undone == "out_of_race" and reached_s is not None:
        return finished(race, runner, reached_s)
    what = "DNF" if undone == "out_of_race" else "finish"
    when = race.narrator.clock(now_s)
    said_now = f"{who(runner)} is back in the race: race HQ took back the {what} at {when}."
    return record(race, runner, BACK, now_s, _placed_m(runner), said_now)


def _placed_m(runner: LiveRunner) -> float:
    """Where the runner was last placed along the course (0: never)."""
    return runner.matcher.progress_m if runner.fixes else 0.0
