"""What a runner's own device says: an SOS, its cancellation, a low battery, a typed message.

Satellite messengers repeat their state in every message (MapShare's ``In Emergency`` on each
placemark, SPOT's ``batteryState``, inReach's ``lowBattery``), and feeds are polled with an
overlap, so the same state comes many times. This pure state machine turns that stream into
episodes: the first ``sos`` opens one (``sos``), a later ``sos_cancel`` ends it; the first
``battery_low`` opens one, ``battery_ok`` ends it; each ``message`` is its own, but one typed
during an SOS is part of it (``sos_message``: what the runner tells their rescuers belongs on
the emergency race HQ is dealing with, not in an incident below it). A state said
again while it holds, an end older than its start, a start older than the last end (a message
of the episode polled again after it ended) or a message seen before raise nothing. A feed can
show several devices (a family's MapShare account, the crew's messenger in the car): an end
from another device than the one that began the episode ends nothing (the crew's "not in
emergency" must not cancel the runner's SOS). A low battery said again within
``BATTERY_QUIET_S`` (an hour) of being fine raises nothing: a tracker at its threshold in the
cold says LOW and GOOD in turn all night, and race HQ and the crew would be told each time.

>>> st, ev = device_step(DeviceState(), "sos", 100.0)
>>> ev
DeviceChange(kind='sos', ts=100.0, since_ts=100.0)
>>> st, ev = device_step(st, "sos", 400.0)  # still in emergency: nothing new
>>> ev is None
True
>>> device_step(st, "sos_cancel", 700.0)[1]
DeviceChange(kind='sos_cancel', ts=700.0, since_ts=100.0)
>>> st, ev = device_step(st, "sos_cancel", 700.0)
>>> device_step(st, "sos", 400.0)[1] is None  # the SOS's old messages, polled again
True
>>> device_step(DeviceState(), "sos_cancel", 700.0)[1] is None  # no SOS to end
True
>>> st, _ = device_step(DeviceState(), "battery_low", 0.0)
>>> st, ev = device_step(st, "battery_ok", 600.0)
>>> ev
DeviceChange(kind='battery_ok', ts=600.0, since_ts=0.0)
>>> device_step(st, "battery_low", 1200.0)[1] is None  # low again soon after: flapping
True
>>> device_step(st, "battery_low", 600.0 + 3600.0)[1]
DeviceChange(kind='battery_low', ts=4200.0, since_ts=4200.0)
>>> st, _ = device_step(DeviceState(), "sos", 100.0)
>>> device_step(st, "message", 250.0)[1]
DeviceChange(kind='sos_message', ts=250.0, since_ts=100.0)
>>> st, _ = device_step(DeviceState(), "sos", 100.0, device="A")
>>> device_step(st, "message", 250.0, device="B")[1].kind  # the crew's messenger: its own
'message'
>>> st, _ = device_step(DeviceState(), "sos", 100.0, device="A")
>>> device_step(st, "sos_cancel", 200.0, device="B")[1] is None  # another device's state
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class DeviceState:
    """When the runner's SOS and low battery began (None: not now), when each last ended
    (a start at or before that is an old message polled again), and the typed messages seen."""

    sos_since: float | None = None
    battery_low_since: float | None = None
    sos_ended: float = -math.inf
    battery_low_ended: float = -math.inf
    messages: frozenset[float] = frozenset()
    sos_device: str | None = None  # the device that began each episode (None: not known)
    battery_low_device: str | None = None


@dataclass(frozen=True)
class DeviceChange:
    """An episode begun (``sos``, ``battery_low``, ``message``), said more of (``sos_message``)
    or ended (``sos_cancel``, ``battery_ok``), and when its episode began."""

    kind: str
    ts: float
    since_ts: float


_STARTS = {"sos": "sos", "battery_low": "battery_low"}
_ENDS = {"sos_cancel": "sos", "battery_ok": "battery_low"}
MESSAGES_KEPT = 500
BATTERY_QUIET_S = 3600.0  # a low battery said again this soon after it was fine: nothing new


def device_step(
    state: DeviceState, kind: str, ts: float, device: str | None = None
) -> tuple[DeviceState, DeviceChange | None]:
    """One device event (from ``device``, when known), in time order; returns the new state and
    what changed, if anything."""
    if kind == "message":
        if ts in state.messages:  # the same message, polled again
            return state, None
        kept = sorted(state.messages | {ts})[-MESSAGES_KEPT:]
        since, began_on = state.sos_since, state.sos_device
        said = DeviceChange(kind, ts, ts)
        ours = None in (device, began_on) or device == began_on  # (not the crew's messenger)
        if since is not None and ts >= since and ours:  # typed during their SOS: part of it
            said = DeviceChange("sos_message", ts, since)
        return replace(state, messages=frozenset(kept)), said
    if kind == "battery_low" and ts < state.battery_low_ended + BATTERY_QUIET_S:
        return state, None  # low again soon after it was fine: flapping at its threshold
    if kind in _STARTS:
        what = _STARTS[kind]
        if getattr(state, f"{what}_since") is not None or ts <= getattr(state, f"{what}_ended"):
            return state, None
        started: dict[str, Any] = {f"{what}_since": ts, f"{what}_device": device}
        return replace(state, **started), DeviceChange(kind, ts, ts)
    if kind in _ENDS:
        what = _ENDS[kind]
        since, began_on = getattr(state, f"{what}_since"), getattr(state, f"{what}_device")
        if since is None or ts <= since or (None not in (device, began_on) and device != began_on):
            return state, None
        changes: dict[str, Any] = {f"{what}_since": None, f"{what}_ended": ts,
                                   f"{what}_device": None}  # fmt: skip
        return replace(state, **changes), DeviceChange(kind, ts, since)
    return state, None
