"""Notifications through Apprise (ntfy, Telegram, e-mail, Pushover, Signal, SMS gateways...),
routed by role, stored before they leave, sent at least once.

Who is told what (the race's :mod:`coursewatch.live.contacts`):
- the **runner**: every update of their own course episodes (off course, wrong way, and back),
  in the second person ("You may have missed ...");
- their **crew**: every update of their runner's race HQ incidents, and the news of their race
  (each station passed with the ETA at the next, the finish, out of the race: live/news.py);
- **race HQ**: every update of every race HQ incident whose priority is at or above the one
  each recipient asked for (0: SOS only).

Each (incident update, recipient) is one row of the store's outbox, written before anything is
sent: storing it twice is a no-op, so the bus listener and the recovery scan at start
(incidents updated since the last one seen) can both enqueue it. The sender takes due rows, the
most urgent first; one recipient has at most one message in flight, and ``notify_per_min`` a
minute (a token bucket: up to ``BURST`` at once after a quiet while, then one every
60 / ``notify_per_min`` s): what waits meanwhile goes as one digest message (nothing is
dropped). A failure is retried with backoff (``notify_backoff_s``, doubling) up to
``notify_attempts`` times, then marked failed, its reason kept; the recipient gets nothing
else before the retry (the updates arrive in order). An SOS has a lane of its own to each
recipient, outside the rate, and is never given up. Apprise runs in worker
threads: a slow or failing channel never holds ingest. A crash between a hand-off and its mark
sends that message again at the restart (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import apprise

from coursewatch.bus import Bus, Message
from coursewatch.incidents import ALERT, NEWS, priority
from coursewatch.live.announce import (
    MISSED_RETRY_S,
    Missed,
    incident_of,
    newest_event,
    replaced_by,
    since_seen,
    sweep_forever,
    told,
    update_title,
    without_repeats,
)
from coursewatch.live.channels import apprise_send, digest_title, message_key, urgent_url
from coursewatch.live.contacts import Contacts
from coursewatch.live.dnf import ENDED
from coursewatch.live.news import title as news_title
from coursewatch.live.waits import nap
from coursewatch.settings import Settings
from coursewatch.store import Delivery, Incident, Store

log = logging.getLogger("coursewatch.live.notify")
WORKERS = 4  # messages handed to Apprise at once
SEEN_EVERY_S = 1.0
DUE_SCAN = 2000  # due deliveries looked at each round
DIGEST_MAX = 50  # updates in one digest message
BURST = 3.0  # messages a recipient may get at once after a quiet while
BACKOFF_MAX_S = 3600.0
SOS_RETRY_S = 60.0  # an SOS that failed is tried again at least this often, never given up
URGENT_LANE = "!sos"  # a recipient's lane for SOS messages
ROLES = ("runner", "crew", "hq")  # the outbox's other role, webhook, is live/webhooks.py's
SEEN_KEY = "notify/seen_event"  # the newest event whose deliveries were stored
RUNNER_KINDS = frozenset({"off_course", "wrong_way", "shortcut"})  # the runner's own flags

Send = Callable[[str, str, str, str], str]  # url, title, body, key -> "" when sent, else why
Mark = tuple[str, int, float, str, float | None]  # state, attempts, next_ts, error, sent_ts


def _pools() -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
    """Threads for Apprise: the usual, and the SOS's own."""
    return (ThreadPoolExecutor(WORKERS, thread_name_prefix="notify"),
            ThreadPoolExecutor(WORKERS, thread_name_prefix="notify-sos"))  # fmt: skip


def recipient_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


class Notifier:
    """Listens to the bus, stores a delivery per recipient, and sends them."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        contacts: Contacts,
        settings: Settings,
        words: Callable[[Incident, str, bool], str | None],
        send: Send = apprise_send,
        who: Callable[[str, str], str] = lambda race_id, bib: f"bib {bib}",
    ) -> None:
        self.store, self.bus, self.contacts, self.settings = store, bus, contacts, settings
        # (incident, role, told before) -> what it says to them; None: not for them
        self.words = words
        self.who = who  # (race, bib) -> the runner as a title names them: "bib 7 (Ann Berg)"
        self.send = send
        self._seen_event = 0  # the newest event (alert row id) whose deliveries are stored
        self._missed = Missed()  # messages whose deliveries the store refused
        self._noted = 0.0  # when the newest event seen was last stored
        self._wake = asyncio.Event()
        self._busy: set[str] = set()  # lanes (recipients, SOS lanes) with a message in flight
        self._paused: dict[str, float] = {}  # recipient -> retry time of its failed message
        self._sending: set[int] = set()  # deliveries handed over, not yet marked
        # sent, but the store refused their marks: not sent again, marked again first
        self._unmarked: dict[int, Mark] = {}
        # recipient -> (messages it may be sent now, when that was worked out)
        self._tokens: dict[str, tuple[float, float]] = {}
        self._slots = asyncio.Semaphore(WORKERS)
        # Apprise's own threads: a slow channel never takes the threads of feeds or uploads,
        # and an SOS has threads of its own
        self._pool, self._urgent = _pools()
        self._stopped = False
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self.sweeps = False  # several machines: sweep the store too (live/announce.py)

    async def start(self) -> None:
        # Apprise loads its 100+ plugins at its first use: here, off the loop, not at the first
        # URL race HQ gives
        await asyncio.to_thread(apprise.Apprise.instantiate, "json://localhost")
        if self._stopped:  # started again (a worker that holds the outbox lease again)
            self._pool, self._urgent = _pools()
            self._busy.clear()
            self._slots = asyncio.Semaphore(WORKERS)
            self._stopped = False
        await self.recover()
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._run())]
        if self.sweeps:  # several machines: what a killed worker did not put on the bus
            self._tasks.append(asyncio.create_task(sweep_forever(self.store, self._sweep)))

    async def send_now(self, url: str, title: str, body: str) -> str:
        """One message now, not through the outbox (a test), on the notifier's own threads:
        a slow address never holds uploads, feeds or ETAs ("" when sent, else why not)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.send, url,
                                                                 title, body, "")  # fmt: skip

    async def _sweep(self, incidents: list[Incident]) -> None:
        await self.enqueue(incidents, self._title)

    async def stop(self) -> None:
        for task in [*self._tasks, *self._inflight]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for pool in (self._pool, self._urgent):
            pool.shutdown(wait=False, cancel_futures=True)
        self._tasks, self._inflight, self._stopped = [], set(), True

    # -- enqueue ---------------------------------------------------------------------------------
    def route(self, inc: Incident, title_of: str) -> list[Delivery]:
        """The deliveries of an incident's latest update: one per recipient it concerns."""
        book = self.contacts.of(inc.race_id)
        now, prio = time.time(), priority(inc.kind)
        # keyed by its newest event: a late fix may take updates back, so a count comes again
        key = newest_event(inc)
        who = f"{title_of}: {self.who(inc.race_id, inc.bib)}"
        title = f"{who} {inc.kind.replace('_', ' ')}{update_title(inc)}"
        if inc.level == NEWS:  # (a runner's race ends with its news: never "closed")
            title = f"{who} {news_title(inc)}"
        elif prio == 0 and inc.open:  # first on a lock screen
            title = f"SOS · {title}"
        wanted: list[tuple[str, str, str]] = []  # role, url, body
        put_out = bool(inc.updates) and inc.updates[-1].get("kind") in ENDED  # (by HQ: not told)
        urls = book.runner.get(inc.bib, [])
        if urls and inc.episode.startswith("course:") and inc.kind in RUNNER_KINDS and not put_out:
            # what is old is not news on their phone, but the end of what they were told is
            now_words = self.words(inc, "runner", False) or ""
            had = set() if now_words else told(self.store.outbox, inc, "runner")
            late = (self.words(inc, "runner", True) or "") if had else ""
            wanted += [("runner", u, now_words or (late if recipient_id(u) in had else ""))
                       for u in urls]  # fmt: skip
        # the runner's race as it goes, and their incidents, but not as ended by the DNF or
        # finish that their news says: their crew's
        if inc.level == NEWS or (inc.level == ALERT and not put_out):
            wanted += [("crew", u, self.words(inc, "crew", False) or "")
                       for u in book.crew.get(inc.bib, [])]  # fmt: skip
        if inc.level == ALERT:
            hq = [u for u, p in book.hq if prio <= p]
            said = (self.words(inc, "hq", False) or "") if hq else ""  # (once: reads the spots)
            wanted += [("hq", u, said) for u in hq]
        wanted = [(role, url, body) for role, url, body in wanted if body]  # "": not theirs
        ref = f"\n(incident {inc.id}, event {key})"  # what a receiver can de-duplicate by
        return [
            Delivery(inc.race_id, inc.id, key, recipient_id(url), role, inc.bib, url, title,
                     body + ref, prio, now, now)
            for role, url, body in wanted
        ]  # fmt: skip

    async def enqueue(self, incidents: list[Incident], title_of: Callable[[str], str]) -> int:
        said = [self.route(i, title_of(i.race_id)) for i in incidents if not i.retracted]
        rows = [d for each in said for d in without_repeats(each, self.store.outbox)]
        for inc in (i for i in incidents if i.retracted):
            rows += await self._withdraw(inc, title_of(inc.race_id))
        added = await self.store.outbox.add(rows)
        if added:
            self._wake.set()
        return added

    async def _withdraw(self, inc: Incident, title_of: str) -> list[Delivery]:
        """An incident a late fix took back entirely: its messages still waiting are
        cancelled, and whoever was sent one is told it is withdrawn (once); or, when its
        episode is another incident now (late fixes moved when it began), that it is that one
        (stored with it, published on its own)."""
        new = replaced_by(inc, self.store.incidents(inc.race_id, inc.id, inc.bib, inc.level))
        told: dict[str, Delivery] = {}
        for d in self.store.outbox.of_incident(inc.race_id, inc.id):
            if d.role not in ROLES:
                continue
            if d.state == "pending":
                why = "the incident was withdrawn: later positions do not show it"
                await self.store.outbox.mark([d.id], "cancelled", d.attempts, d.next_ts, why, None)
                if d.id in self._sending:  # on its way (not sent again if it fails): told
                    told[d.recipient] = d
            elif d.state == "sent" and d.update_n > 0:
                told[d.recipient] = d
        now = time.time()
        what = inc.kind.replace("_", " ")
        title = f"{title_of}: {self.who(inc.race_id, inc.bib)} {what} withdrawn"
        body = (f"Bib {inc.bib}: forget the {what} message: later positions do not show it."
                f"\n(incident {inc.id}, withdrawn)")  # fmt: skip
        if new is not None:  # (Dark Sky's pings in arrival order: "forget" a runner 0.7 mi off)
            title = f"{title.removesuffix(' withdrawn')}: incident {new.id}"
            body = (f"Bib {inc.bib}: the {what} message is now incident {new.id}: late "
                    f"positions changed when it began.\n(incident {inc.id}, replaced)")  # fmt: skip
        # keyed by the negative of its newest event: one a recipient, and never an update's
        key = -newest_event(inc)
        return [Delivery(inc.race_id, inc.id, key, d.recipient, d.role, inc.bib, d.url, title,
                         body, d.priority, now, now) for d in told.values()]  # fmt: skip

    async def _listen(self) -> None:
        kinds = frozenset({"incident", "flag", "news"})
        behind = False
        while True:  # a subscription the bus dropped (too slow) is taken again (what it
            # missed: recovered from the store); a quiet bus pings every MISSED_RETRY_S
            try:
                if behind:  # what was missed while the store refused: from the store
                    await self.recover()
                    behind = False
                async for msg in self.bus.subscribe("*", idle_s=MISSED_RETRY_S, kinds=kinds):
                    await self._missed.handle(msg, self._store_rows, self.recover,
                                              "notifications")  # fmt: skip
                await self.store.set_meta(SEEN_KEY, str(self._seen_event))
                await self.recover()
            except Exception:  # the store away for a moment: listen again, and recover
                log.exception("notifications: listening")
                behind = True
                await asyncio.sleep(MISSED_RETRY_S)

    async def _store_rows(self, msg: Message) -> None:
        inc = incident_of(msg.race_id, msg.data)
        await self.enqueue([inc], self._title)
        self._seen_event = max(self._seen_event, newest_event(inc))
        if time.monotonic() - self._noted > SEEN_EVERY_S:  # where a restart looks from
            self._noted = time.monotonic()
            await self.store.set_meta(SEEN_KEY, str(self._seen_event))

    async def recover(self) -> None:
        """At start: incidents updated since the newest event whose deliveries were stored get
        theirs (those already stored stay as they are; live/announce.py)."""
        incidents, newest = since_seen(self.store, SEEN_KEY)
        await self.enqueue(incidents, self._title)
        self._seen_event = newest
        await self.store.set_meta(SEEN_KEY, str(newest))

    def _title(self, race_id: str) -> str:
        record = self.store.race(race_id)
        return (record.name if record and record.name else race_id) or "coursewatch"

    # -- send ------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self._mark_again()
                wait_s = self._launch()
            except Exception:  # the store away for a moment must not end the sending
                log.exception("notifications: sending")
                wait_s = 5.0
            await nap(self._wake, max(0.02, min(wait_s, 5.0)))

    def _launch(self) -> float:
        """Hand what is due to Apprise: per recipient, one message at a time, at most
        ``notify_per_min`` a minute; what waited meanwhile goes as one digest message, in the
        order of the updates. An SOS has a lane of its own to each recipient, outside the
        rate; a recipient whose channel failed gets nothing but an SOS until its retry."""
        now = time.time()
        wait_s = 5.0
        waiting: dict[str, list[Delivery]] = {}
        self._paused = {r: ts for r, ts in self._paused.items() if ts > now}
        # a paused recipient's rows would fill the scan: the others' are looked at first
        rows = self.store.outbox.due(now, limit=DUE_SCAN, roles=ROLES, skip=list(self._paused))
        if self._paused:  # ... and an SOS of theirs all the same
            sos = self.store.outbox.due(now, limit=DUE_SCAN, roles=ROLES, priority_max=0)
            rows += [d for d in sos if d.recipient in self._paused]
        for d in rows:
            lane = d.recipient + URGENT_LANE if d.priority == 0 else d.recipient
            if d.id in self._unmarked or lane in self._busy:
                continue
            if d.priority and self._paused.get(d.recipient, 0.0) > now:
                wait_s = min(wait_s, self._paused[d.recipient] - now)
                continue
            waiting.setdefault(lane, []).append(d)
        rate = max(self.settings.notify_per_min, 0.01) / 60.0  # messages a second
        for lane, rows in waiting.items():
            if not lane.endswith(URGENT_LANE):
                tokens, at = self._tokens.get(lane, (BURST, now))
                tokens = min(BURST, tokens + (now - at) * rate)
                if tokens < 1.0:  # its turn comes later: what waits goes in one digest then
                    self._tokens[lane] = (tokens, now)
                    wait_s = min(wait_s, (1.0 - tokens) / rate)
                    continue
                self._tokens[lane] = (tokens - 1.0, now)
            self._busy.add(lane)
            rows = sorted(rows, key=lambda d: d.id)[:DIGEST_MAX]  # the updates in order
            task = asyncio.create_task(self._deliver(lane, rows))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        upcoming = self.store.outbox.next_ts(ROLES)  # held back now: a hand-off ending wakes us
        return wait_s if upcoming is None or upcoming <= now else min(wait_s, upcoming - now)

    async def _deliver(self, lane: str, rows: list[Delivery]) -> None:
        """One message to one recipient: one update, or a digest of those that waited."""
        first = rows[0]
        title, body = first.title, first.body
        if len(rows) > 1:
            title = digest_title(rows)
            body = "\n\n".join(f"{d.title}\n{d.body}" for d in rows)
        self._sending.update(d.id for d in rows)
        try:
            # an SOS does not wait behind slow channels: its own places and threads; a place
            # is kept until what was sent is marked (a kill sends again at most WORKERS)
            urgent = first.priority == 0
            async with contextlib.nullcontext() if urgent else self._slots:
                loop = asyncio.get_running_loop()
                pool = self._urgent if urgent else self._pool
                url = urgent_url(first.url) if urgent else first.url
                key = message_key(rows)  # (sent again: it replaces the first, on ntfy)
                error = await loop.run_in_executor(pool, self.send, url, title, body, key)
                await self._mark(rows, error)
        except Exception:
            log.exception("deliveries %s", [d.id for d in rows])
        finally:
            self._sending.difference_update(d.id for d in rows)
            self._busy.discard(lane)
            self._wake.set()

    async def _mark(self, rows: list[Delivery], error: str) -> None:
        """What became of one message, row by row (each with its own attempts: an update that
        joined a digest of older ones is not given up with them). A failed one is tried again
        after its back-off, and the recipient gets nothing else before it (so "back on course"
        never arrives before "off course"); an SOS is never given up. A sent message whose
        mark the store refuses is not sent again: its mark is stored again first."""
        now, cfg = time.time(), self.settings
        marks: dict[int, Mark]
        if not error:
            marks = {d.id: ("sent", d.attempts + 1, now, "", now) for d in rows}
        else:
            tries = max(d.attempts for d in rows) + 1
            retry_ts = now + min(BACKOFF_MAX_S, cfg.notify_backoff_s * 2 ** min(tries - 1, 30))
            marks = {d.id: ("failed" if d.attempts + 1 >= cfg.notify_attempts and d.priority
                            else "pending", d.attempts + 1, retry_ts, error, None)
                     for d in rows}  # fmt: skip
            if rows[0].priority == 0:  # an SOS: at least every SOS_RETRY_S, for as long as it takes
                marks = {i: (st, n, min(ts, now + SOS_RETRY_S), e, x)
                         for i, (st, n, ts, e, x) in marks.items()}  # fmt: skip
            elif any(m[0] == "pending" for m in marks.values()):
                self._paused[rows[0].recipient] = retry_ts
        try:
            await self._store_marks(marks)
        except Exception:
            if not error:
                self._unmarked.update(marks)
            raise

    async def _store_marks(self, marks: dict[int, Mark]) -> None:
        groups: dict[Mark, list[int]] = {}
        for i, how in marks.items():
            groups.setdefault(how, []).append(i)
        for (state, attempts, next_ts, error, sent_ts), ids in groups.items():
            await self.store.outbox.mark(ids, state, attempts, next_ts, error, sent_ts)

    async def _mark_again(self) -> None:
        """The marks of sent messages the store refused, stored now (until then, those rows
        are not sent again; the others, an SOS too, go meanwhile)."""
        if self._unmarked:
            marks, self._unmarked = self._unmarked, {}
            try:
                await self._store_marks(marks)
            except Exception:
                self._unmarked.update(marks)
                log.exception("notifications: marking %d sent messages", len(marks))
