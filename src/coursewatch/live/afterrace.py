"""After a runner's race: their fixes raise nothing (a tracker carried home in a car, or left
on in a drop bag, is no runner off the course). Half an hour after their finish (sparse pings
find it up to a kilometre short of the line: their last kilometre still counts), or from
their last fix when race HQ put them out (DNF: ``LiveRace.out_since``, kept with their state,
live/durable.py). The pipeline's detect step and the clock's detectors ask here; what ends
an episode, and what their device says (an SOS), still come.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coursewatch.engine.events import Event
    from coursewatch.live.registry import LiveRace
    from coursewatch.live.runner import LiveRunner

FINISHED_AFTER_S = 1800.0  # a finisher's tracker raises nothing from this long after the finish


def raced_until_s(race: LiveRace, runner: LiveRunner) -> float:
    """The fix time after which a runner raises nothing: half an hour after their finish
    (found up to a kilometre short of the line with sparse pings: their last kilometre still
    counts), the finish race HQ recorded, or their last fix when race HQ put them out (DNF;
    -inf when not known). A
    tracker carried home in a car, or left on in a drop bag, is no runner off the course."""
    if runner.record.dnf:
        return race.out_since.get(runner.bib, -math.inf)
    if runner.record.finish_ts is not None:  # race HQ's record: to the second
        return runner.record.finish_ts
    return math.inf if runner.finished_s is None else runner.finished_s + FINISHED_AFTER_S


def in_race(
    race: LiveRace, runner: LiveRunner, events: list[tuple[Event, float, float]]
) -> list[tuple[Event, float, float]]:
    """The engine events (event, fix time, trend) of a runner still in the race."""
    until = raced_until_s(race, runner)
    return events if until == math.inf else [e for e in events if e[1] <= until]


def replay_since(race: LiveRace, runner: LiveRunner, from_s: float) -> float:
    """From when a replay takes back what a runner raised: never what they raised in the
    race when they are out (DNF) since a time not known (nothing is taken back then)."""
    until = raced_until_s(race, runner)
    return math.inf if until == -math.inf else from_s
