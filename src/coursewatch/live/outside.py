"""What the server reaches outside for and sends outside: webhooks, runners' feeds (polled),
notifications (through Apprise) and the address book that says whose is what.

A part of :class:`coursewatch.live.server.Server` (it inherits these methods), kept apart so
the server module stays the race and runner core.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from coursewatch.errors import CoursewatchError, InputError
from coursewatch.eta import AT_STATION_M
from coursewatch.incidents import ALERT, NEWS, priority
from coursewatch.live import news
from coursewatch.live.contacts import Contacts, check_hq, check_urls, refused_url, shown_url
from coursewatch.live.feedcalls import feed_host_ok
from coursewatch.live.feeds import OVERLAP_S, FeedConfig, FeedPoller
from coursewatch.live.notify import Notifier
from coursewatch.live.roster import RosterProblem, read_roster
from coursewatch.live.targets import refused_target
from coursewatch.live.webhooks import WebhookSender
from coursewatch.protocols import Decoded
from coursewatch.spots import (
    COURSE_KINDS,
    Spot,
    is_course_alert,
    spot_of,
    spot_words,
)
from coursewatch.store import Delivery, Incident, RunnerRecord, Webhook

if TYPE_CHECKING:
    from coursewatch.live.pipeline import Pipeline
    from coursewatch.live.registry import LiveRace
    from coursewatch.live.report import IngestReport
    from coursewatch.live.runner import LiveRunner
    from coursewatch.settings import Settings
    from coursewatch.store import Store


ALLOW_PRIVATE = (
    "start race HQ (`coursewatch serve`, not this command) with "
    "COURSEWATCH_WEBHOOK_ALLOW_PRIVATE=true in its environment"
)
LOST_KINDS = frozenset({*COURSE_KINDS, "wrong_way", "far_from_course"})  # where: told to HQ


class NotFound(CoursewatchError):
    """No such race, runner, alert or feed."""


TEST_WORDS = {  # what a test message says, by whom it is for
    "hq": "A test from coursewatch: race HQ's notifications of {race} (incidents, SOS) come "
    "to this address.",
    "runner": "A test from coursewatch: your own alerts in {race}, as {who} (a turn you may "
    "have missed), come to this address.",
    "crew": "A test from coursewatch: the news and incidents of {who} in {race} come to this "
    "address.",
}
LISTED = 100  # refused rows and ignored columns an answer lists (and counts them all)
STALE_FOR_RUNNER_S = 1800.0  # the runner's phone is told only what is newer than this
STALE_PASS_S = 3 * 3600.0  # a station passed longer ago is no news to the crew (a feed added
# mid-race: its history); since half an hour, it came in late (a feed blocked, pings relayed)


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {"id": d.id, "incident": d.incident_id, "version": d.update_n, "role": d.role,
            "bib": d.bib, "to": shown_url(d.url), "title": d.title, "body": d.body,
            "priority": d.priority, "state": d.state, "attempts": d.attempts,
            "created_ts": d.created_ts, "sent_ts": d.sent_ts, "next_ts": d.next_ts,
            "error": d.error}  # fmt: skip


class Outside:
    """Webhooks, feeds, notifications: the methods :class:`Server` gets from here."""

    settings: Settings
    _store: Store
    _pipeline: Pipeline
    _webhooks: WebhookSender
    contacts: Contacts
    feeds: FeedPoller
    notifier: Notifier

    def race(self, race_id: str) -> LiveRace:
        raise NotImplementedError  # the server's

    def runner(self, race_id: str, bib: str) -> LiveRunner:
        raise NotImplementedError  # the server's

    async def put_runner(self, record: RunnerRecord) -> LiveRunner:
        raise NotImplementedError  # the server's

    if TYPE_CHECKING:  # the server's (live/server.py, live/node.py)

        async def ingest(
            self, decode: Callable[[], Decoded], protocol: str, race_id: str | None = None
        ) -> IngestReport: ...

        def _changed(self, race_id: str) -> None: ...

        def race_now(self, race_id: str) -> float: ...  # live/server.py

        def spots(self, race_id: str) -> list[Spot]: ...  # live/checks.py

    def repoll(self, race_id: str) -> None:
        """Every runner's feed of a race handed to the poller again (race HQ changed them
        through another node), if this node polls."""
        if self.feeds.running:
            for bib in self.race(race_id).runners:
                self._poll(race_id, bib)

    # -- webhooks ---------------------------------------------------------------------------------
    def webhooks(self, race_id: str) -> list[tuple[Webhook, dict[str, Any]]]:
        """A race's webhooks, each with its delivery state (ok or paused, and why; counts)."""
        hooks = self._store.webhooks(self.race(race_id).id)
        return [(h, self._webhooks.status(h.id)) for h in hooks]

    async def add_webhook(self, race_id: str, url: str, secret: str) -> Webhook:
        """Register a receiver; refused when its URL points into this machine or its network
        (unless ``webhook_allow_private``)."""
        race = self.race(race_id)
        if len(url) > 2048:
            raise InputError("the webhook URL is over 2,048 characters: give a shorter one")
        problem = await refused_target(url, self.settings.webhook_allow_private)
        if problem:
            raise InputError(
                f"webhook URL refused: {problem}; give a public http(s) URL, or, for a receiver "
                f"on your own network, {ALLOW_PRIVATE}"
            )
        return await self._store.add_webhook(race.id, url, secret)

    async def delete_webhook(self, race_id: str, hook_id: int) -> bool:
        gone = await self._store.delete_webhook(self.race(race_id).id, hook_id)
        await self._webhooks.forget(hook_id)
        return gone

    # -- feeds ------------------------------------------------------------------------------------
    async def set_feed(self, race_id: str, bib: str, feed: object) -> dict[str, Any] | None:
        """Poll this runner's MapShare or SPOT feed from now on (``{"kind", "id",
        "password"}``; None: stop); returns the feed as race HQ may see it."""
        bib = self.runner(race_id, bib).bib
        config = None if feed is None else FeedConfig.from_json(feed)
        if config is not None:
            await self._feed_usable(config)
        book = self.contacts.of(race_id)
        if config is None:
            book.feeds.pop(bib, None)
        else:
            book.feeds[bib] = config
        await self.contacts.save(race_id)
        self._changed(race_id)
        self._poll(race_id, bib)
        return None if config is None else config.to_json(secrets=False)

    async def _feed_usable(self, config: FeedConfig) -> None:
        """InputError if the feed is given by an address that points into this machine or its
        network (unless ``webhook_allow_private``)."""
        if "://" in config.ident:  # an address: on its own host
            allow = self.settings.webhook_allow_private
            problem = await refused_target(config.ident, allow, unresolved_ok=True)
            host = urlsplit(config.ident).hostname or ""
            if not problem and not feed_host_ok(host, self.settings):
                problem = f"{host} is not Garmin's (MapShare is read from share.garmin.com)"
            if problem:
                raise InputError(f"feed address refused: {problem}; give the MapShare name, "
                                 "or the share.garmin.com address")  # fmt: skip

    def poll_feed_now(self, race_id: str, bib: str) -> None:
        """Poll a runner's feed now (within its host's budget)."""
        bib = self.runner(race_id, bib).bib
        if bib not in self.contacts.of(race_id).feeds:
            raise NotFound(f"bib {bib} has no feed: give them one (PUT .../runners/{bib}/feed)")
        self.feeds.poll_now(race_id, bib)

    def _poll(self, race_id: str, bib: str) -> None:
        """Hand a runner's feed to the poller, asking from their newest fix (or their start)."""
        race, runner = self.race(race_id), self.runner(race_id, bib)
        last = runner.last_time_s
        since = race.start_s(runner) if last is None else last
        self.feeds.put(race_id, bib, self.contacts.of(race_id).feeds.get(bib), since - OVERLAP_S)

    def feed_status(self, race_id: str) -> dict[str, Any]:
        """Every runner's feed (state, last success, last error in words, counts) and the
        requests sent to each feed host."""
        self.race(race_id)
        feeds = sorted(self.feeds.status(race_id), key=lambda f: str(f["bib"]))
        return {"feeds": feeds, "hosts": self.feeds.host_status()}

    async def _ingest_feed(self, race_id: str, bib: str, decoded: Decoded, kind: str) -> None:
        """What a runner's feed brought, through the pipeline as that runner's."""
        await self.ingest(lambda: decoded, kind, self.race(race_id).id)

    # -- who is told ------------------------------------------------------------------------------
    async def set_runner_contacts(
        self, race_id: str, bib: str, runner: object = None, crew: object = None
    ) -> dict[str, Any]:
        """The Apprise URLs of a runner (their own flags) and their crew (their incidents)."""
        bib = self.runner(race_id, bib).bib
        book = self.contacts.of(race_id)
        if runner is not None:
            book.runner[bib] = await self._usable(check_urls(runner, "runner"), "runner")
        if crew is not None:
            book.crew[bib] = await self._usable(check_urls(crew, "crew"), "crew")
        await self._save_contacts(race_id)
        return self.contacts.shown(race_id, bib)

    async def set_hq_contacts(self, race_id: str, hq: object) -> dict[str, Any]:
        """Race HQ's Apprise URLs, each with the lowest priority it wants."""
        self.race(race_id)
        found = check_hq(hq)
        await self._usable([u for u, _ in found], "hq")
        self.contacts.of(race_id).hq = found
        await self._save_contacts(race_id)
        return self.contacts.shown(race_id)

    async def _save_contacts(self, race_id: str) -> None:
        """Keep the address book; a notification still waiting for an address no longer in it
        is cancelled (a crew's old phone number is not theirs to be told any more)."""
        await self.contacts.save(race_id)
        self._changed(race_id)
        book = self.contacts.of(race_id)
        hq = {u for u, _ in book.hq}
        outbox = self._store.outbox
        why = "its address was taken out of the race's contacts"
        for d in outbox.deliveries(race_id, state="pending", limit=100_000):
            if d.role not in ("runner", "crew", "hq"):  # a webhook's calls: not a contact's
                continue
            still = (hq if d.role == "hq" else
                     book.runner.get(d.bib, []) if d.role == "runner" else
                     book.crew.get(d.bib, []))  # fmt: skip
            if d.url not in still:
                await outbox.mark([d.id], "cancelled", d.attempts, d.next_ts, why, None)

    async def _usable(
        self, urls: list[str], who: str, seen: dict[tuple[bool, str], str] | None = None
    ) -> list[str]:
        """The URLs, once none points into this machine or its network (InputError if one
        does, unless ``webhook_allow_private``); ``seen``: what each host was found before
        (a roster of 20,000 rows names a few: each looked up once)."""
        for url in urls:
            problem = await refused_url(url, self.settings.webhook_allow_private, seen)
            if problem:
                raise InputError(
                    f"{who}: {shown_url(url)} refused: {problem}; give a public service, or, for "
                    f"one on your own network, {ALLOW_PRIVATE}"
                )
        return urls

    async def test_contacts(self, race_id: str, bib: str | None = None) -> list[dict[str, Any]]:
        """A test message to each of race HQ's addresses (``bib``: the runner's and their
        crew's), sent now, not through the outbox: to whom, whether it went, and why not."""
        race = self.race(race_id)
        book = self.contacts.of(race.id)
        if bib is None:
            to = [("hq", u) for u, _ in book.hq]
            where = "give them with `coursewatch race notify RACE --hq URL`"
        else:
            bib = self.runner(race.id, bib).bib
            to = [(role, u) for role, urls in (("runner", book.runner), ("crew", book.crew))
                  for u in urls.get(bib, [])]  # fmt: skip
            where = "give them with `coursewatch runner notify RACE BIB --runner URL --crew URL`"
        if not to:
            who = "race HQ" if bib is None else f"bib {bib}"
            raise InputError(f"{who} has no notification address to test: {where}")
        title = f"{race.record.name}: test"

        async def one(role: str, url: str) -> dict[str, Any]:
            who = None if bib is None else self._who(race.id, bib)  # (a crew swapped: told)
            said = TEST_WORDS[role].format(race=race.record.name, who=who)
            error = await self.notifier.send_now(url, title, said)
            return {"role": role, "to": shown_url(url), "sent": not error, "error": error}

        return list(await asyncio.gather(*(one(role, u) for role, u in to)))

    def contacts_of(self, race_id: str, bib: str | None = None) -> dict[str, Any]:
        self.race(race_id)
        return self.contacts.shown(race_id, bib)

    def deliveries(
        self, race_id: str, after_id: int = 0, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """The race's notifications: to whom (role, URL shortened), about which incident
        update, sent, waiting or failed and why."""
        found = self._store.outbox.deliveries(self.race(race_id).id, after_id, limit)
        return [delivery_json(d) for d in found]

    # -- set-up without code ----------------------------------------------------------------------
    async def import_roster(self, race_id: str, text: str) -> dict[str, Any]:
        """Runners, their devices, feeds and contacts from a CSV roster (live/roster.py); a
        row with a problem is refused by its line number, the others are taken."""
        race = self.race(race_id)
        rows, problems, ignored = await asyncio.to_thread(read_roster, text, race.race.start)
        added = updated = 0
        seen: dict[tuple[bool, str], str] = {}
        for row in rows:
            old = race.runners.get(row.bib)
            try:
                urls = [*(row.runner_urls or ()), *(row.crew_urls or ())]
                await self._usable(urls, "notify", seen)
                if row.feed is not None:
                    await self._feed_usable(row.feed)
                await self.put_runner(row.record(race.id, None if old is None else old.record))
            except CoursewatchError as exc:
                problems.append(RosterProblem(row.line, row.bib, str(exc)))
                continue
            added, updated = added + (old is None), updated + (old is not None)
            book = self.contacts.of(race.id)
            if row.feed is not None:
                book.feeds[row.bib] = row.feed
                self._poll(race.id, row.bib)
            if row.runner_urls is not None:  # a column left out keeps what is registered
                book.runner[row.bib] = row.runner_urls
            if row.crew_urls is not None:
                book.crew[row.bib] = row.crew_urls
        await self._save_contacts(race.id)
        refused = [{"line": p.line, "bib": p.bib, "message": p.message, "hint": p.hint}
                   for p in sorted(problems, key=lambda p: p.line)[:LISTED]]  # fmt: skip
        return {"added": added, "updated": updated, "refused": refused,
                "refused_count": len(problems), "ignored_columns": ignored[:LISTED],
                "ignored_count": len(ignored)}  # fmt: skip

    def _who(self, race_id: str, bib: str) -> str:
        """A runner as a notification's title names them: "bib 7 (Ann Berg)"."""
        try:
            name = self.race(race_id).runners[bib].record.name
        except (NotFound, KeyError):  # (taken out of the race meanwhile)
            name = ""
        return f"bib {bib} ({name})" if name else f"bib {bib}"

    def _still_ahead(self, race: LiveRace, bib: str, told: Mapping[str, Any]) -> bool:
        """Whether the ETA a pass's news said at the next station is still to come: that
        station not reached, its time not gone by."""
        runner = race.runners.get(bib)
        if runner is None or runner.record.dnf or told.get("eta_s") is None:
            return False
        at_m = float(told.get("next_m", 0.0)) - AT_STATION_M  # (reached as on the board)
        reached = runner.fixes > 0 and runner.matcher.progress_m >= at_m
        return not reached and float(told["eta_s"]) > self.race_now(race.id)

    def _words(self, inc: Incident, role: str, before: bool = False) -> str | None:
        """What a notification to ``role`` says of an incident's latest update, led by when
        it happened on the race's clock (a feed catching up, pings relayed late: old news must
        not read as new) and, for an SOS, where; None: not for them (the runner is not told
        what is over half an hour old: a feed added mid-race brings back its history; but
        what they were told of ``before``, they are told the end of)."""
        race = self.race(inc.race_id)
        if inc.level == NEWS:  # the crew's news of the race: each update as itself, dated
            told = news.newest(inc)
            age_s = self.race_now(race.id) - float(told["time_s"])
            if told["kind"] != news.PASSED or age_s < STALE_FOR_RUNNER_S:
                return str(told["sentence"])
            # (a station passed long ago is no news: the next one will come)
            if age_s > STALE_PASS_S:
                return None
            late = str(told["sentence"])
            if not self._still_ahead(race, inc.bib, told):  # its ETA gone by, or reached
                late = re.sub(r", expected about [^.]*", "", late)
            return f"{late} (It came in late.)"
        at_s = float(inc.updates[-1].get("time_s", inc.updated_s)) if inc.updates else inc.updated_s
        if role == "runner" and not before and at_s < self.race_now(race.id) - STALE_FOR_RUNNER_S:
            return None
        text = inc.sentence
        if role == "runner":
            off = inc.open and inc.kind == "off_course"
            text = race.narrator.runner_words(inc.bib, text, inc.lat, inc.lon, inc.course_m, off)
        when = race.narrator.clock(at_s, self.race_now(race.id))  # (yesterday's: its day)
        here = role == "hq" and inc.open and is_course_alert(inc)
        spot = spot_of(self.spots(race.id), inc.id) if here else None
        if spot is not None:
            first, latest = (race.narrator.clock(t, at_s) for t in (spot.first_s, spot.last_s))
            where = race.narrator.where(spot.course_m) if spot.course_m is not None else "a place"
            checked = "" if spot.checked_s is None else (
                f"{race.narrator.clock(spot.checked_s, at_s)} by {spot.checked_by}")  # fmt: skip
            said = spot_words(spot.bibs, inc.bib, where, first, latest, checked, spot.since_check)
            text = f"{text.rstrip('.')}. {said}"
        # where to send someone: an SOS, and a runner race HQ is told is off the course now
        lost = role == "hq" and inc.open and inc.level == ALERT and inc.kind in LOST_KINDS
        placed = (priority(inc.kind) == 0 or lost) and math.isfinite(inc.lat + inc.lon)
        if placed:  # (a sentence of its own: "...after Pipe Dream Position 41.35861, ...")
            return f"{when}: {text.rstrip('.')}. Position {inc.lat:.5f}, {inc.lon:.5f}."
        return f"{when}: {text}"
