"""What runners' own devices said (SOS, battery, messages), as race HQ's incidents.

The decoders return :class:`DeviceEvent` beside the fixes; the pipeline routes them to their
runners like fixes, and here each runner's events run, in time order, through the pure state
machine of :mod:`coursewatch.detectors.device`; what it says changed is narrated where the
message was sent from (or where the runner was last placed, for a message without a
position). The state lives on the runner; a restart takes it back from the open incidents.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from coursewatch.detectors.device import device_step
from coursewatch.incidents import DEVICE
from coursewatch.live.registry import LiveRace
from coursewatch.live.runner import LiveRunner
from coursewatch.protocols import NO_FIX_DEG, DeviceEvent
from coursewatch.store import AlertRecord, Incident, Store

ANY_TIME = frozenset({"sos", "sos_cancel"})  # an SOS counts even before the runner's start
DEVICE_KINDS = frozenset({"sos", "battery_low", "message"})  # what the incidents are named


def device_alerts(
    said: list[tuple[LiveRace, LiveRunner, DeviceEvent]], raised_s: float
) -> list[AlertRecord]:
    """The incidents' events of one batch's device events."""
    out: list[AlertRecord] = []
    for race, runner, ev in sorted(said, key=lambda t: t[2].time_s):
        runner.device, change = device_step(runner.device, ev.kind, ev.time_s, ev.device_id)
        if change is None:
            continue
        where = _where(runner, ev) or (float(race.course.lat[0]), float(race.course.lon[0]), None)
        out.append(
            race.narrator.device_record(
                race.id, runner.bib, change, where, ev.text, raised_s, ev.device_id
            )
        )
    return out


def _where(runner: LiveRunner, ev: DeviceEvent) -> tuple[float, float, float | None] | None:
    """The message's position and where the runner was along the course then (their last
    fix at or before it); with no position, that fix's; None: no position known (the start
    is shown, the sentence says so)."""
    seen = runner.seen_at(ev.time_s)
    course_m = None if seen is None else seen[3]
    if math.isfinite(ev.lat) and (abs(ev.lat) > NO_FIX_DEG or abs(ev.lon) > NO_FIX_DEG):
        return ev.lat, ev.lon, course_m
    if seen is None:
        return None
    return seen[1], seen[2], course_m


def restore(runners: Iterable[LiveRunner], store: Store, race_id: str) -> None:
    """After a restart: an SOS or low battery still open goes on in its incident (begun by the
    device its first event names), one that ended stays ended (its old messages, polled again,
    open nothing), messages seen are known."""
    by_bib = {r.bib: r for r in runners}
    for i in sorted(store.kind_incidents(race_id, DEVICE), key=lambda i: i.opened_s):
        runner = by_bib.get(i.bib)
        if runner is None or i.retracted or i.kind not in DEVICE_KINDS:
            continue
        st = runner.device
        if i.kind == "message":
            runner.device = replace(st, messages=st.messages | {i.opened_s})
            continue
        typed = {float(u["time_s"]) for u in i.updates if u.get("kind") == "sos_message"}
        st = replace(st, messages=st.messages | typed)  # (typed during an SOS: part of it)
        what = "sos" if i.kind == "sos" else "battery_low"
        changes: dict[str, Any] = {f"{what}_since": i.opened_s,
                                   f"{what}_device": _began_on(store, i)}  # fmt: skip
        if not i.open:
            ended = max(getattr(st, f"{what}_ended"), i.closed_s or i.updated_s)
            changes = {f"{what}_since": None, f"{what}_ended": ended}
        runner.device = replace(st, **changes)


def _began_on(store: Store, i: Incident) -> str | None:
    """The device an open episode's first event came from (None: not known, an event stored
    before events kept it)."""
    first = min((int(u.get("id", 0)) for u in i.updates), default=0)
    found = store.alerts(i.race_id, after_id=first - 1, bib=i.bib, limit=1)
    device = found[0].detail.get("device") if found and found[0].id == first else None
    return device if isinstance(device, str) else None
