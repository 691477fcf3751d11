"""What race HQ checks, before the race and during it: each runner's devices and feeds heard
from, the devices heard that no runner has (a tracker id typed wrong), and the places several
runners went off the course (:mod:`coursewatch.spots`), with race HQ's checks of their
marking."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from coursewatch.detectors.overdue import OverdueEvent
from coursewatch.detectors.signal import SignalEvent
from coursewatch.errors import InputError
from coursewatch.spots import COURSE_KINDS, MAX_CHECKS, Spot, checked, spot_checks_key, spots

if TYPE_CHECKING:
    from coursewatch.live.feeds import FeedPoller
    from coursewatch.live.registry import LiveRace, Registry
    from coursewatch.store import Store


class Checks:
    """The checking methods :class:`coursewatch.live.server.Server` gets from here."""

    _store: Store
    _registry: Registry
    feeds: FeedPoller

    if TYPE_CHECKING:  # the server's

        def race(self, race_id: str) -> LiveRace: ...

        def race_now(self, race_id: str) -> float: ...

    def check(self, race_id: str) -> list[dict[str, Any]]:
        """Per runner: has each device and feed been heard from (since this server started),
        and their newest fix."""
        race = self.race(race_id)
        feeds = {f["bib"]: f for f in self.feeds.status(race.id)}
        out = []
        for bib, r in sorted(race.runners.items()):
            devices = [{"id": d, "heard_ts": r.heard.get(d)} for d in r.record.devices]
            feed = feeds.get(bib)
            heard = any(d["heard_ts"] for d in devices) or bool(feed and feed["newest_fix_s"])
            heard = heard or r.last_time_s is not None
            out.append({"bib": bib, "name": r.record.name, "devices": devices, "feed": feed,
                        "newest_fix_s": r.last_time_s, "heard": heard})  # fmt: skip
        return out

    def unknown_devices(self, race_id: str) -> list[dict[str, Any]]:
        """The devices this server heard from that no runner has, newest first (a tracker
        id typed wrong; registered since: not listed), each with the bib of this race's runner
        whose device it is but for letter case (``like_bib``), or whose satellite messenger's
        public id it is, not taken over that protocol (``published_bib``; None: none)."""
        race = self.race(race_id)
        exact = {d: r.bib for r in race.runners.values() for d in r.record.devices}
        mine = {d.casefold(): bib for d, bib in exact.items()}
        return [
            {
                "device": d,
                "protocol": p,
                "count": n,
                "last_ts": t,
                "like_bib": None if d in exact else mine.get(d.casefold()),
                "published_bib": exact.get(d),
            }
            for d, p, n, t in self._store.unknown_devices()
            if self._registry.owner(d, p) is None
        ]

    def spots(self, race_id: str) -> list[Spot]:
        """Where several runners went off the course (:mod:`coursewatch.spots`), from race
        HQ's off-course incidents, with race HQ's checks of the marking."""
        race_id = self.race(race_id).id
        checks = json.loads(self._store.meta(spot_checks_key(race_id)) or "[]")
        found = spots(self._store.kind_incidents(race_id, COURSE_KINDS))
        return checked(found, [(float(m), float(t), str(by)) for m, t, by in checks])

    async def check_spot(self, race_id: str, course_m: float, by: str) -> list[Spot]:
        """Race HQ says the marking at ``course_m`` was checked (now, on the race's clock):
        whoever goes off there after it says the marking is not the trouble."""
        race = self.race(race_id)
        if not 0.0 <= course_m <= race.course.length_m:
            raise InputError(f"course_m {course_m:g} is not on the course (0 to "
                             f"{race.course.length_m:.0f} m): give a spot's course_m")  # fmt: skip
        key = spot_checks_key(race.id)
        checks = json.loads(self._store.meta(key) or "[]")[-(MAX_CHECKS - 1) :]
        checks.append([course_m, self.race_now(race.id), by[:80]])
        await self._store.set_meta(key, json.dumps(checks))
        return self.spots(race.id)


def feed_trouble(
    poller: FeedPoller, race_id: str, bib: str, since_s: float
) -> tuple[str, float | None, str] | None:
    """A runner's feed that fails now and has not answered since about ``since_s`` (when
    their last fix came): its kind, when it last answered, why; a silence then is race HQ's
    side (a password, the host down), not the runner's. None: none, it answers, or it
    answered with nothing new well after (the silence is theirs, a blip since is not)."""
    feed = poller.feeds.get((race_id, bib))
    if feed is None or not feed.failures:
        return None
    if feed.last_ok_ts is not None and feed.last_ok_ts > since_s + FEED_ANSWERED_S:
        return None
    return feed.config.kind, feed.last_ok_ts, feed.last_error


E = TypeVar("E")
# (race, bib, when their last fix came) -> the runner's own feed failing since: its kind, when it
# last answered, why
FeedTrouble = Callable[[str, str, float], tuple[str, float | None, str] | None]
FEED_ANSWERED_S = 900.0  # a feed that answered this long after the last fix came: not to blame


def no_trouble(*_args: object) -> None:
    """No feed fails (a race with no feeds, or a test)."""


def with_feed(e: E, feed: tuple[str, float | None, str] | None) -> E:
    """A clock event of a runner unseen (silent, overdue) while their feed fails (``feed``,
    from :func:`feed_trouble`; None: it answers): it says so."""
    if isinstance(e, SignalEvent) and e.kind != "signal_back":
        return replace(e, feed=feed)
    if isinstance(e, OverdueEvent) and e.kind == "overdue":
        return replace(e, feed=feed)
    return e
