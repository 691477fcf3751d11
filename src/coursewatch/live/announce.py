"""What the senders of the outbox (notifications, webhooks) share: where a restart looks from.

Each sender stores, in the store's meta under its own key, the newest event (alert row id)
whose deliveries it stored. At its start, the incidents updated after that one get theirs:
the server may have been killed between storing an incident and storing its deliveries.
"""

from __future__ import annotations

from coursewatch.store import Incident, Store


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
