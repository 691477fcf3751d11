"""What the senders of the outbox (notifications, webhooks) share: where a restart looks from.

Each sender stores, in the store's meta under its own key, the newest event (alert row id)
whose deliveries it stored. At its start, the incidents updated after that one get theirs:
the server may have been killed between storing an incident and storing its deliveries.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from coursewatch.bus import Message
from coursewatch.store import Delivery, Incident, Outbox, Store, StoreUnavailable

log = logging.getLogger("coursewatch.live.announce")
SWEEP_S = 10.0
MISSED_KEPT = 10_000  # messages kept while the store refuses their rows (then: recovered)
MISSED_RETRY_S = 5.0  # with no message meanwhile, those kept are tried again this often


def newest_event(i: Incident) -> int:
    """The id of the newest event folded into an incident."""
    return max((int(u.get("id", 0)) for u in i.updates), default=0)


def since_seen(store: Store, key: str) -> tuple[list[Incident], int]:
    """The incidents updated after the newest event stored under ``key``, and the newest
    event now. A database whose sender never stored any starts from now: what happened
    before is not sent."""
    every = [store.incidents(r.id, level=None, limit=1_000_000) for r in store.races()]
    incidents = [i for race in every for i in race]
    newest = max((newest_event(i) for i in incidents), default=0)
    saved = store.meta(key)
    seen = newest if saved is None else int(saved)
    return [i for i in incidents if newest_event(i) > seen], newest


def _every(store: Store) -> list[Incident]:
    return [i for r in store.races() for i in store.incidents(r.id, level=None, limit=1_000_000)]


async def sweep_forever(
    store: Store, take: Callable[[list[Incident]], Awaitable[object]], every_s: float = SWEEP_S
) -> None:
    """For a sender on several machines: every ``every_s``, the incidents updated since two
    sweeps ago go to ``take`` (which stores their rows; those already stored stay as they
    are). A worker killed between storing an incident and putting it on the bus lost that
    message: its rows are made here. (Two sweeps back: an event stored in a transaction that
    began before the last sweep may have a lower id than what it saw.)"""
    marks: deque[int] | None = None
    while True:
        try:  # a store away for a moment: the next sweep (the marks stay where they were)
            if marks is None:
                marks = deque([max((newest_event(i) for i in _every(store)), default=0)] * 2,
                              maxlen=2)  # fmt: skip
            await asyncio.sleep(every_s)
            incidents = _every(store)
            floor = marks[0]
            await take([i for i in incidents if newest_event(i) > floor])
            marks.append(max((newest_event(i) for i in incidents), default=floor))
        except Exception:
            log.exception("the sweep of updated incidents")
            await asyncio.sleep(every_s)


class Missed:
    """Messages whose rows the store refused (away for a moment): tried again first, in
    order, with the next message (or the ping of a quiet bus), and no later one before them,
    so the mark where a restart looks from is never stored past them. Past ``MISSED_KEPT`` of
    them, the sender recovers from the store instead (their incidents as they are then)."""

    def __init__(self) -> None:
        self.waiting: list[Message] = []
        self.overflowed = False

    async def handle(
        self,
        msg: Message,
        store_rows: Callable[[Message], Awaitable[None]],
        recover: Callable[[], Awaitable[None]],
        what: str,
    ) -> None:
        """``store_rows`` of those kept, then of ``msg`` (a ping: none); one the store refuses
        is kept, with every later one; any other error is logged (a bad message must not stop
        the sender). ``what``: the rows, in words, for the log."""
        for one in self.take(msg):
            if self.waiting:  # one before it refused again: it waits too
                self.keep(one)
                continue
            try:
                await store_rows(one)
            except StoreUnavailable:
                log.warning("%s of %s wait for the store", what, one.kind)
                self.keep(one)
            except Exception:
                log.exception("could not store the %s of %s", what, one.kind)
        await self.recover_if_overflowed(recover)

    def take(self, msg: Message) -> list[Message]:
        """The messages to try now: those kept, then ``msg`` (but a ping: a quiet bus, whose
        subscription says so every ``MISSED_RETRY_S``)."""
        out, self.waiting = [*self.waiting, *([] if msg.kind == "ping" else [msg])], []
        return out

    def keep(self, msg: Message) -> None:
        if len(self.waiting) < MISSED_KEPT:
            self.waiting.append(msg)
        else:
            self.overflowed = True

    async def recover_if_overflowed(self, recover: Callable[[], Awaitable[None]]) -> None:
        """More refused than kept: ``recover`` (their incidents from the store) once the
        messages kept have gone; tried again with the next message while it fails."""
        if self.overflowed and not self.waiting:
            try:
                await recover()
                self.overflowed = False
            except StoreUnavailable:
                pass
            except Exception:
                log.exception("the incidents of refused messages were not recovered")


REPLACED_SLACK_S = 600.0  # an episode's new incident begins at most this far from the old one


def replaced_by(gone: Incident, others: Iterable[Incident]) -> Incident | None:
    """The incident that holds ``gone``'s episode now (late fixes moved when it began): of
    the same runner, kind and level, over the same time, the one that began nearest it; None
    when there is none (then it is withdrawn)."""
    end = (gone.closed_s or gone.updated_s) + REPLACED_SLACK_S
    who = (gone.race_id, gone.bib, gone.kind, gone.level)
    same = [i for i in others if i.id != gone.id and not i.retracted
            and (i.race_id, i.bib, i.kind, i.level) == who and i.opened_s <= end
            and gone.opened_s - REPLACED_SLACK_S <= (i.closed_s or i.updated_s)]  # fmt: skip
    return min(same, key=lambda i: abs(i.opened_s - gone.opened_s), default=None)


def without_repeats(rows: list[Delivery], outbox: Outbox) -> list[Delivery]:
    """The deliveries of an incident's update whose words differ from the last ones each
    recipient was sent, or will be, of that incident: an event a late fix took back and
    raised again unchanged came twice ("back near the course at mile 153.68", Dark Sky)."""
    if not rows:
        return rows
    last = {d.recipient: d for d in outbox.of_incident(rows[0].race_id, rows[0].incident_id)}
    return [r for r in rows if not ((d := last.get(r.recipient)) is not None
            and d.state in ("pending", "sent") and d.title == r.title
            and _words(d.body) == _words(r.body))]  # fmt: skip


def _words(body: str) -> str:
    """A message without its reference line ("(incident 285, event 423)")."""
    return body.rsplit("\n(incident ", 1)[0]


# an update that says something else than its incident's kind, in a title's words
UPDATE_WORDS = {"alert": "confirmed", "wrong_way_confirmed": "confirmed",
                "sos_message": "message from the runner", "sos_cancel": "cancelled"}  # fmt: skip


def update_title(inc: Incident) -> str:
    """What an incident's latest update adds to a notification's title (after "bib 7 off
    course"): what it says when it is not the incident's kind (": back on course", ": back
    near the course": the title said "off course" over it), else " (closed)" for the end of
    one that is over (not a shortcut, which race HQ still has to judge)."""
    latest = str(inc.updates[-1].get("kind", inc.kind)) if inc.updates else inc.kind
    if latest != inc.kind:
        return ": " + UPDATE_WORDS.get(latest, latest.replace("_", " "))
    return "" if inc.open or inc.kind == "shortcut" else " (closed)"


def told(outbox: Outbox, inc: Incident, role: str) -> set[str]:
    """The recipients in ``role`` who were sent (or are to be sent) an update of ``inc``."""
    return {d.recipient for d in outbox.of_incident(inc.race_id, inc.id)
            if d.role == role and d.state in ("pending", "sent")}  # fmt: skip


INCIDENT_KEYS = (
    "id", "bib", "episode", "kind", "level", "open", "opened_s", "updated_s", "closed_s", "lat",
    "lon", "course_m", "offset_m", "sentence", "ack_by", "ack_ts", "retracted",
)  # fmt: skip


def incident_of(race_id: str, data: Mapping[str, Any]) -> Incident:
    """An incident as its bus message carries it (as it was when published)."""
    values: dict[str, Any] = {k: data.get(k) for k in INCIDENT_KEYS}
    return Incident(race_id=race_id, updates=tuple(data.get("updates", ())), **values)
