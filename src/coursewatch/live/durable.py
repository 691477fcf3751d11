"""A runner's live state, durable: what a restart of race HQ resumes from.

The engine, the flags HQ sees, the clock-driven detectors (stopped, signal, overdue, cut-off
risk), the ETA model and the station passes of one runner, as one JSON text
(:class:`coursewatch.store.RunnerState`), stored in the same transaction as the fixes it
includes. The pipeline stores one when a runner raised an event (so a restart never raises it
again), when a late fix changed the past, and once in each :data:`SAVE_EVERY_S` of race time
at a phase of the runner's own (:mod:`coursewatch.live.cadence`; and :data:`SAVE_WALL_S` of
server time after the last: a backlog caught up at once is not frozen at every request); the
server, for every runner, when it stops. A restart takes it and plays again only the fixes
stored after it (:meth:`coursewatch.live.pipeline.Pipeline.put_back`):
what they raise was stored with them and comes back known, not new.

A state from another version of coursewatch, of another course or race file, or of another
start of the runner's, is not used: that runner is rebuilt from every stored fix, as before
states were kept.

>>> from coursewatch.detectors.cutoff import CutoffState
>>> st = CutoffState(frozenset({1.0}), ((2.0, 3.0),), clear_since=((4.0, 5.0),))
>>> _load(CutoffState, _plain(st)) == st or _load(CutoffState, _plain(st))
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import weakref
from collections.abc import Iterable
from typing import Any, TypeVar

import numpy as np

from coursewatch import __version__
from coursewatch.detectors.cutoff import CutoffState
from coursewatch.detectors.overdue import OverdueState
from coursewatch.detectors.signal import SignalState
from coursewatch.detectors.stopped import StoppedState
from coursewatch.eta import EtaState
from coursewatch.live import cadence
from coursewatch.live.clock import RunnerWatch
from coursewatch.live.registry import LiveRace
from coursewatch.live.runner import LiveRunner
from coursewatch.store import RunnerState

VERSION = 5  # 2: the confirmation keeps the interval before the last fix; 3: cut-off episodes;
# 4: a cut-off risk ends when projected in time again (clear_since); 5: the ETA fit's theta
SAVE_EVERY_S = 60.0  # a state at most once in each this much race time (live/cadence.py) ...
SAVE_WALL_S = 10.0  # ... and this much server time after the last
_DETECTORS = {"eta": EtaState, "stopped": StoppedState, "signal": SignalState,
              "overdue": OverdueState, "cutoff": CutoffState}  # fmt: skip
_WATCH = ("fed_s", "ahead_s", "overdue_episode", "etas_at_s", "etas_wall_s")
T = TypeVar("T")


def fingerprint(race: LiveRace, runner: LiveRunner) -> str:
    """What a state is only good for: this version of coursewatch (its engine), this course
    file and race file (hashed once a race), this runner's start."""
    key = _race_keys.get(race)
    if key is None:
        h = hashlib.sha256(race.record.course_bytes)
        h.update(race.record.race_text.encode())
        key = _race_keys[race] = f"{__version__}:{h.hexdigest()[:16]}"
    return f"{key}:{race.start_s(runner)!r}"


_race_keys: weakref.WeakKeyDictionary[LiveRace, str] = weakref.WeakKeyDictionary()


def freeze(race: LiveRace, runner: LiveRunner, watch: RunnerWatch) -> RunnerState | None:
    """The runner's state now (None before their first fix)."""
    if runner.last_time_s is None:
        return None
    data = {
        "version": VERSION,
        "for": fingerprint(race, runner),
        "runner": runner.state(),
        "watch": {k: _plain(getattr(watch, k)) for k in (*_DETECTORS, *_WATCH)},
        "etas": list(watch.etas.items()),  # the live model's last (course m, epoch s)
        "passes": race.passes.state(runner.bib),
        "out_since": race.out_since.get(runner.bib),  # out of the race (DNF) since
    }
    watch.saved_s = runner.last_time_s
    return RunnerState(race.id, runner.bib, runner.last_time_s, json.dumps(data))


def thaw(race: LiveRace, runner: LiveRunner, watch: RunnerWatch, stored: RunnerState) -> bool:
    """Put a runner back in a stored state; False (nothing changed) when it is not one this
    race can use: the caller rebuilds the runner from its fixes."""
    data = _fitting(race, runner, stored)
    try:
        if data is None:
            return False
        states: dict[str, object] = {k: _load(c, data["watch"][k]) for k, c in _DETECTORS.items()}
        others = {k: data["watch"][k] for k in _WATCH}
        others["etas"] = {float(m): float(ts) for m, ts in data["etas"]}
        passes = data["passes"]
        runner.restore(data["runner"])
    except (ValueError, KeyError, TypeError):
        return False
    for k, v in {**states, **others}.items():
        setattr(watch, k, v)
    watch.saved_s = stored.time_s
    race.passes.restore(runner.bib, passes)
    if runner.record.dnf and data.get("out_since") is not None:
        race.out_since[runner.bib] = float(data["out_since"])
    return True


def fits(race: LiveRace, runner: LiveRunner, stored: RunnerState | None) -> bool:
    """Whether a stored state is one this race can put the runner back in (else the
    runner is rebuilt from their fixes)."""
    return _fitting(race, runner, stored) is not None


def stored_passes(race: LiveRace, runner: LiveRunner, stored: RunnerState) -> Any:
    """The station passes a stored state holds (``Passes.state``), None when it is not one
    this race can use."""
    data = _fitting(race, runner, stored)
    return None if data is None else data.get("passes")


def _fitting(race: LiveRace, runner: LiveRunner, stored: RunnerState | None) -> Any:
    """A stored state read, when it is one of this version, course, race file and start."""
    try:
        data = json.loads(stored.state) if stored is not None else None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    fit = data.get("version") == VERSION and data.get("for") == fingerprint(race, runner)
    return data if fit else None


def states(
    runs: Iterable[tuple[LiveRace, LiveRunner, RunnerWatch, bool]],
    now_s: float,
    every_s: float = SAVE_EVERY_S,
) -> list[RunnerState]:
    """The states to store with a batch that arrived at ``now_s`` (server clock): of each
    runner who must have one (raised an event, had their past changed) or is due one
    (at most once in each ``every_s`` of race time, at the bib's phase, and 10 s of server
    time after the last: a backlog sent at once is not frozen at every request)."""
    out: dict[tuple[str, str], RunnerState] = {}
    for race, runner, watch, must in runs:
        key = (race.id, runner.bib)
        last = runner.last_time_s
        if key in out or last is None:
            continue
        due = cadence.due(runner.bib, watch.saved_s, last, every_s) and (
            now_s - watch.saved_wall_s >= SAVE_WALL_S
        )
        if must or due:
            state = freeze(race, runner, watch)
            if state is not None:
                out[key] = state
                watch.saved_wall_s = now_s
    return list(out.values())


def _plain(value: Any) -> Any:
    """A detector state (or a part of it) as JSON can hold it."""
    kind = type(value)
    if kind in _SCALARS:
        return value  # (a float's NaN and Infinity: JSON as Python writes and reads it)
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if isinstance(value, (frozenset, set, tuple, list)):
        return [_plain(v) for v in value]
    return value


_SCALARS = frozenset({float, int, str, bool, type(None)})
_FIELDS: dict[type, tuple[str, ...]] = {}  # a dataclass's field names, read once


def _load(cls: type[T], data: dict[str, Any]) -> T:
    """A detector state from :func:`_plain`: each field as its default's type."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = data[f.name]
        like = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[operator]
        if isinstance(like, np.ndarray):
            value = np.array(value, dtype=np.float64).reshape(like.shape)
        elif isinstance(like, frozenset):
            value = frozenset(value)
        elif isinstance(like, tuple):
            value = tuple(tuple(v) for v in value)
        values[f.name] = value
    return cls(**values)
