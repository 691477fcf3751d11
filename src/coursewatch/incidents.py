"""One incident per runner episode: which events open, update and close it, and who is told.

Every event a detector raises belongs to an episode of one runner: the engine's (a flag, its
confirmation, the way back; keyed by when the runner was flagged), far from the course (keyed
by when they went), and the clock-driven ones (stopped until moving again, silent until the
signal is back, overdue at a station until they reach it). The store keeps the events and
folds each episode's into one incident, updated in place; acknowledging it once covers its
updates.

A third level, **news**, is no incident of anyone's: the runner's race as it goes (a station
passed, with the ETA at the next; the finish; out of the race), one "incident" a runner
(``NEWS_EPISODE``) that their crew is told each update of.

Two levels: a **flag** tells the runner (their own channel, a yellow marker on the map) as
soon as they may be off course; an incident becomes an **alert** for race HQ only once
confirmed (``engine/confirm.py``). The clock-driven ones likewise: stopped and signal lost are
flags until they last (``stopped_long``, ``silent_long``); overdue and cut-off risk, which
carry their own tolerance, are alerts at once.

>>> rule("off_course")
Rule(level='flag', closes=False, names='off_course')
>>> rule("alert").level, rule("back_on_course").closes
('alert', True)
>>> episode_key("stopped", 1_700_000_000.0, since_ts=1_699_999_000.0)
'stopped:1699999000'
>>> episode_key("back_near_course", 1_700_000_000.0, 1_699_999_000.0, joined=True)
'course:1699999000'
"""

from __future__ import annotations

from dataclasses import dataclass

from coursewatch.engine.events import EVENT_KINDS

FLAG = "flag"  # the runner's own channel
ALERT = "alert"  # race HQ
NEWS = "news"  # their crew: the runner's race as it goes (stations passed, finish, DNF)
NEWS_EPISODE = "news:race"  # one a runner: their whole race


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
    "wrong_way_confirmed": Rule(ALERT, False, None),  # still going back, a kilometre on
    "far_from_course": Rule(ALERT, False, "far_from_course"),
    "back_near_course": Rule(FLAG, True, None),
    # the clock
    "stopped": Rule(FLAG, False, "stopped"),
    "stopped_long": Rule(ALERT, False, None),
    "moving_again": Rule(FLAG, True, None),
    "signal_lost": Rule(FLAG, False, "signal_lost"),
    "silent_long": Rule(ALERT, False, None),
    "signal_back": Rule(FLAG, True, None),
    "overdue": Rule(ALERT, False, "overdue"),
    "arrived": Rule(FLAG, True, None),
    "cutoff_risk": Rule(ALERT, False, "cutoff_risk"),
    "cutoff_passed": Rule(FLAG, True, None),
    "cutoff_clear": Rule(FLAG, True, None),  # projected in time again (sped up, cut-off moved)
    "cutoff_missed": Rule(ALERT, False, "cutoff_missed"),  # reached after it: HQ decides
    # the runner's own device (detectors/device.py): race HQ's at once
    "sos": Rule(ALERT, False, "sos"),
    "sos_cancel": Rule(FLAG, True, None),
    "sos_message": Rule(ALERT, False, None),  # typed during the SOS: an update of it
    "battery_low": Rule(ALERT, False, "battery_low"),
    "battery_ok": Rule(FLAG, True, None),
    "message": Rule(ALERT, False, "message"),
    # race HQ put the runner out (DNF), or recorded their finish: every open episode but
    # their device's ends (live/dnf.py)
    "out_of_race": Rule(FLAG, True, None),
    "finish_recorded": Rule(FLAG, True, None),
    "finished": Rule(FLAG, True, None),  # the engine found the finish: likewise
    # news of the runner's race, for their crew (one incident a runner, never race HQ's)
    "passed_station": Rule(NEWS, False, "passed_station"),
    "race_finished": Rule(NEWS, True, "race_finished"),
    "race_finish_recorded": Rule(NEWS, True, "race_finished"),
    "race_out": Rule(NEWS, True, "race_out"),
    "race_back": Rule(NEWS, False, "race_back"),  # race HQ took its DNF or finish back
}
FAMILY = {
    "far_from_course": "far",
    "back_near_course": "far",
    "stopped": "stopped",
    "stopped_long": "stopped",
    "moving_again": "stopped",
    "signal_lost": "signal",
    "silent_long": "signal",
    "signal_back": "signal",
    "overdue": "overdue",
    "arrived": "overdue",
    "cutoff_risk": "cutoff",
    "cutoff_passed": "cutoff",
    "cutoff_clear": "cutoff",
    "cutoff_missed": "cutoff",
    "sos": "sos",
    "sos_cancel": "sos",
    "sos_message": "sos",
    "battery_low": "battery",
    "battery_ok": "battery",
    "message": "message",
}  # fmt: skip  (every other kind is the engine's course episode)
DEVICE = ("sos", "battery_low", "message")  # the incidents of what runners' devices said
# what a replay of a runner's past (late fixes) takes back and raises again where it finds
# them: the engine's events and the finish it found; the clock-driven ones stand
REPLAYED = frozenset(EVENT_KINDS.values()) | {"race_finished"}
# what race HQ sees first: an emergency, then what the runner's device said, then the rest
PRIORITY = {"sos": 0, "battery_low": 1, "message": 1}
LOWEST_PRIORITY = 2


def priority(kind: str) -> int:
    """0 first: an SOS; 1: the runner's device said something; 2: everything else.

    >>> priority("sos"), priority("message"), priority("off_course")
    (0, 1, 2)
    """
    return PRIORITY.get(kind, LOWEST_PRIORITY)


NAMES_WHEN_JOINED = frozenset(
    {"overdue", "cutoff_missed"}
)  # an update that still renames what it joins


def rule(kind: str, joined: bool = False) -> Rule:
    """What an event of ``kind`` does to its incident. ``joined``: an update of another
    episode's incident (far from the course during an off-course episode; overdue during a
    silence): it never ends it, and renames it only when it says more (overdue)."""
    does = RULES.get(kind, Rule(FLAG, False, kind))
    if not joined:
        return does
    return Rule(does.level, False, does.names if kind in NAMES_WHEN_JOINED else None)


def episode_key(
    kind: str, time_s: float, since_ts: float | None = None, joined: bool = False
) -> str:
    """The key of the episode an event belongs to, within its runner: its family and when
    the episode began (``since_ts``; the event's own time when it begins one)."""
    begun = time_s if since_ts is None else since_ts
    family = "course" if joined else FAMILY.get(kind, "course")
    return f"{family}:{begun:.0f}"
