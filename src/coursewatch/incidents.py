"""One incident per runner episode: which events open, update and close it, and who is told.

Every event a detector raises belongs to an episode of one runner: the engine's (a flag, its
confirmation, the way back; keyed by when the runner was flagged), far from the course (keyed
by when they went), and the clock-driven ones (stopped until moving again, silent until the
signal is back, overdue at a station until they reach it). The store keeps the events and
folds each episode's into one incident, updated in place; acknowledging it once covers its
updates.

Two levels: a **flag** tells the runner (their own channel, a yellow marker on the map) as
soon as they may be off course; an incident becomes an **alert** for race HQ only once
confirmed (``engine/confirm.py``), or when it is one of the clock-driven situations HQ acts on.

>>> rule("off_course")
Rule(level='flag', closes=False, names='off_course')
>>> rule("alert").level, rule("back_on_course").closes
('alert', True)
>>> episode_key("stopped", 1_700_000_000.0, since_ts=1_699_999_000.0)
'stopped:1699999000'
"""

from __future__ import annotations

from dataclasses import dataclass

FLAG = "flag"  # the runner's own channel
ALERT = "alert"  # race HQ


@dataclass(frozen=True)
class Rule:
    """What an event does to its incident: the level it brings it to at least, whether it
    ends it, and what it calls it from then on (None: unchanged)."""

    level: str
    closes: bool
    names: str | None


RULES: dict[str, Rule] = {
    # the engine: a flag, confirmed (or not), then the way back
    "off_course": Rule(FLAG, False, "off_course"),
    "wrong_way": Rule(FLAG, False, "wrong_way"),
    "alert": Rule(ALERT, False, None),
    "back_on_course": Rule(FLAG, True, None),
    "shortcut": Rule(FLAG, True, "shortcut"),
    "wrong_way_end": Rule(FLAG, True, None),
    "far_from_course": Rule(ALERT, False, "far_from_course"),
    "back_near_course": Rule(FLAG, True, None),
    # the clock
    "stopped": Rule(ALERT, False, "stopped"),
    "moving_again": Rule(FLAG, True, None),
    "signal_lost": Rule(ALERT, False, "signal_lost"),
    "signal_back": Rule(FLAG, True, None),
    "overdue": Rule(ALERT, False, "overdue"),
    "arrived": Rule(FLAG, True, None),
    "cutoff_risk": Rule(ALERT, False, "cutoff_risk"),
}
FAMILY = {
    "far_from_course": "far",
    "back_near_course": "far",
    "stopped": "stopped",
    "moving_again": "stopped",
    "signal_lost": "signal",
    "signal_back": "signal",
    "overdue": "overdue",
    "arrived": "overdue",
    "cutoff_risk": "cutoff",
}  # fmt: skip  (every other kind is the engine's course episode)


def rule(kind: str) -> Rule:
    return RULES.get(kind, Rule(FLAG, False, kind))


def episode_key(kind: str, time_s: float, since_ts: float | None = None) -> str:
    """The key of the episode an event belongs to, within its runner: its family and when
    the episode began (``since_ts``; the event's own time when it begins one)."""
    begun = time_s if since_ts is None else since_ts
    return f"{FAMILY.get(kind, 'course')}:{begun:.0f}"
