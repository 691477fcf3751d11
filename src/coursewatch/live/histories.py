"""Earlier editions' results for a live race: ``GET``/``PUT /api/races/{race}/history``.

A part of :class:`coursewatch.live.server.Server` (it inherits these methods). The tables are
kept verbatim in the store's meta (``history/<race>``), read again at start, and turned into
the race's :class:`~coursewatch.live.fieldwatch.FieldWatch` (in a worker thread: reading a few
thousand rows and fitting takes a moment), which forecasts every runner from their splits
so far (:mod:`coursewatch.live.passes`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from coursewatch.errors import InputError
from coursewatch.live.fieldwatch import FieldWatch, build, meta_key

if TYPE_CHECKING:
    from coursewatch.live.registry import LiveRace
    from coursewatch.store import Store

log = logging.getLogger("coursewatch.live")
HINT = 'send {"editions": [{"edition": "2016", "text": "<the CSV>", "changed": ["<station>"]}]}'


class Histories:
    """The history methods :class:`Server` gets from here."""

    _store: Store

    def race(self, race_id: str) -> LiveRace:
        raise NotImplementedError  # the server's

    if TYPE_CHECKING:

        def _changed(self, race_id: str) -> None: ...  # live/node.py

    def history_of(self, race_id: str) -> dict[str, Any]:
        race = self.race(race_id)
        return {"editions": race.field.summary if race.field is not None else []}

    async def set_history(
        self, race_id: str, editions: object, replace: bool = True
    ) -> dict[str, Any]:
        """Replace the race's history (an empty list removes it), or with ``replace`` False
        add these editions to it (one of the same name replaced): a history larger than one
        request body is sent an edition at a time. InputError if unusable."""
        race = self.race(race_id)
        saved = _checked(editions)
        if not replace:
            names = {e["edition"] for e in saved}
            text = self._store.meta(meta_key(race_id))
            kept = [e for e in (json.loads(text) if text else []) if e["edition"] not in names]
            saved = kept + saved
        _within_limits(saved)
        field = await _field(race, saved) if saved else None
        await self._store.set_meta(
            meta_key(race_id), json.dumps(saved, ensure_ascii=False) if saved else ""
        )
        race.field = field
        self._changed(race_id)
        return self.history_of(race_id)

    async def load_history(self, race: LiveRace) -> None:
        """At start (or when the race's files change): the stored history, if any, built in
        a worker thread (a table that no longer reads is logged)."""
        try:
            text = self._store.meta(meta_key(race.id))
            saved = json.loads(text) if text else []
            if saved:
                race.field = await _field(race, saved)
        except InputError as exc:  # an edition that no longer reads: the others are kept
            readable = [item for item in saved if _reads(race, item)]
            log.error("race %s: %d of %d history editions not loaded: %s", race.id,
                      len(saved) - len(readable), len(saved), exc)  # fmt: skip
            race.field = await _field(race, readable) if readable else None
        except Exception as exc:  # one race's history must not keep race HQ down
            log.error("race %s: its history was not loaded: %s", race.id, exc)

    async def refresh_fields(self, races: list[LiveRace]) -> None:
        """The forecasts of runners who passed a station, race by race (in worker threads)."""
        for race in races:
            if race.field is not None:
                await race.field.refresh(time.monotonic())


def _reads(race: LiveRace, item: dict[str, Any]) -> bool:
    """Whether one stored edition still reads against the race's stations."""
    try:
        build(race.race, race.course, [item], race.passes)
    except InputError:
        return False
    return True


async def _field(race: LiveRace, saved: list[dict[str, Any]]) -> FieldWatch:
    """The race's FieldWatch, read and fitted in a worker thread, then every runner with
    splits so far forecast (their splits copied on the loop, which goes on writing them)."""
    field = await asyncio.to_thread(build, race.race, race.course, saved, race.passes)
    await field.refresh(time.monotonic(), every=True)
    return field


MAX_EDITIONS = 50  # a race's history, at most: its editions ...
MAX_HISTORY_BYTES = 20_000_000  # ... and its tables' text (UTMB 2015-2017: 1.4 MB)


def _within_limits(saved: list[dict[str, Any]]) -> None:
    """InputError when a race's history would be larger than race HQ keeps (12 editions of
    2 MB made each request refit 16 s and the server 1.1 GB)."""
    size = sum(len(e["text"]) for e in saved)
    if len(saved) > MAX_EDITIONS or size > MAX_HISTORY_BYTES:
        raise InputError(f"a race's history is kept up to {MAX_EDITIONS} editions and "
                         f"{MAX_HISTORY_BYTES // 1_000_000} MB of tables (this would be "
                         f"{len(saved)}, {size / 1e6:.1f} MB): send the editions most like this "
                         "year's (the latest, on the same course)")  # fmt: skip


def _checked(editions: object) -> list[dict[str, Any]]:
    if not isinstance(editions, list):
        raise InputError(f"editions must be a list: {HINT}")
    out = []
    for i, item in enumerate(editions):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise InputError(f"editions[{i}] needs the table as text: {HINT}")
        edition = item.get("edition", f"edition {i + 1}")
        changed = item.get("changed", [])
        if not isinstance(edition, str) or not edition.strip():
            raise InputError(f'editions[{i}].edition must be a name such as "2016": {HINT}')
        if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
            raise InputError(f"editions[{i}].changed must be a list of station names: {HINT}")
        out.append({"edition": edition.strip(), "changed": changed, "text": item["text"]})
    return out
