"""What a runner's own device says: an SOS, its cancellation, a low battery, a typed message.

Satellite messengers repeat their state in every message (MapShare's ``In Emergency`` on each
placemark, SPOT's ``batteryState``, inReach's ``lowBattery``), and feeds are polled with an
overlap, so the same state comes many times. This pure state machine turns that stream into
episodes: the first ``sos`` opens one (``sos``), a later ``sos_cancel`` ends it; the first
``battery_low`` opens one, ``battery_ok`` ends it; each ``message`` is its own. A state said
again while it holds, or an end older than its start (a late message), raises nothing.

>>> st, ev = device_step(DeviceState(), "sos", 100.0)
>>> ev
DeviceChange(kind='sos', ts=100.0, since_ts=100.0)
>>> st, ev = device_step(st, "sos", 400.0)  # still in emergency: nothing new
>>> ev is None
True
>>> device_step(st, "sos_cancel", 700.0)[1]
DeviceChange(kind='sos_cancel', ts=700.0, since_ts=100.0)
>>> device_step(DeviceState(), "sos_cancel", 700.0)[1] is None  # no SOS to end
True
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class DeviceState:
    """When the runner's SOS and low battery began (None: not now)."""

    sos_since: float | None = None
    battery_low_since: float | None = None


@dataclass(frozen=True)
class DeviceChange:
    """An episode begun (``sos``, ``battery_low``, ``message``) or ended (``sos_cancel``,
    ``battery_ok``), and when its episode began."""

    kind: str
    ts: float
    since_ts: float


_STARTS = {"sos": "sos_since", "battery_low": "battery_low_since"}
_ENDS = {"sos_cancel": "sos_since", "battery_ok": "battery_low_since"}


def device_step(
    state: DeviceState, kind: str, ts: float
) -> tuple[DeviceState, DeviceChange | None]:
    """One device event, in time order; returns the new state and what changed, if anything."""
    if kind == "message":
        return state, DeviceChange(kind, ts, ts)
    if kind in _STARTS:
        if getattr(state, _STARTS[kind]) is not None:
            return state, None
        return replace(state, **{_STARTS[kind]: ts}), DeviceChange(kind, ts, ts)
    if kind in _ENDS:
        since = getattr(state, _ENDS[kind])
        if since is None or ts <= since:
            return state, None
        return replace(state, **{_ENDS[kind]: None}), DeviceChange(kind, ts, since)
    return state, None
