"""Where the live server keeps races, runners, fixes and alerts: the :class:`Store` protocol.

The pipeline and the web app talk only to this protocol. :mod:`coursewatch.store.sqlite` is the
default (one file, WAL, one writer thread); a PostgreSQL store can come later behind the same
methods. Reads are plain calls; every write is awaited and returns once it is durable, so an
HTTP response sent after it acknowledges data that survives a crash of the process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from coursewatch.errors import CoursewatchError
from coursewatch.geo import FloatArray


@dataclass(frozen=True)
class RaceRecord:
    """A race as stored: its race file and course file, verbatim, plus server settings."""

    id: str
    name: str
    race_text: str
    race_suffix: str
    course_bytes: bytes
    course_suffix: str
    start_ts: float
    ingest_token: str
    public: bool = False
    created_ts: float = 0.0


@dataclass(frozen=True)
class RunnerRecord:
    """A registered runner; ``start_ts`` overrides the race start (wave starts)."""

    race_id: str
    bib: str
    name: str = ""
    devices: tuple[str, ...] = ()
    start_ts: float | None = None
    dnf: bool = False


class FixRow(NamedTuple):
    """One accepted fix, as stored: a named tuple, so the store binds it as it is (the ingest
    path makes one per fix)."""

    race_id: str
    bib: str
    time_s: float
    lat: float
    lon: float
    accuracy_m: float | None
    speed_mps: float | None
    bearing_deg: float | None
    altitude_m: float | None
    battery_pct: float | None
    received_ts: float
    source: str


@dataclass(frozen=True)
class AlertRecord:
    """An alert: who, what, when, where, the sentence to act on, and who acknowledged it."""

    race_id: str
    bib: str
    kind: str
    time_s: float
    lat: float
    lon: float
    course_m: float | None
    offset_m: float | None
    sentence: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    raised_s: float = 0.0  # time of the fix (or clock tick) that raised it
    id: int = 0
    ack_by: str | None = None
    ack_ts: float | None = None
    retracted: bool = False


@dataclass(frozen=True)
class Saved:
    """What a save did to alerts: those new (or raised again after a retraction), those it
    found already raised, and the ids of those retracted because a replay no longer raises them.
    """

    new: list[AlertRecord] = field(default_factory=list)
    known: list[AlertRecord] = field(default_factory=list)
    retracted: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Webhook:
    id: int
    race_id: str
    url: str
    secret: str


@dataclass(frozen=True, eq=False)
class FixArrays:
    """A runner's stored fixes, sorted by time."""

    time_s: FloatArray
    lat: FloatArray
    lon: FloatArray
    accuracy_m: FloatArray


class StoreError(CoursewatchError):
    """A write the store refused (a conflict); the message says what to do."""


class Store(Protocol):
    """What the server needs from storage."""

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    def meta(self, key: str) -> str | None: ...
    async def set_meta(self, key: str, value: str) -> None: ...

    async def put_race(self, race: RaceRecord) -> None: ...
    async def set_public(self, race_id: str, public: bool) -> None: ...
    def race(self, race_id: str) -> RaceRecord | None: ...
    def races(self) -> list[RaceRecord]: ...

    async def put_runner(self, runner: RunnerRecord) -> None: ...
    def runners(self, race_id: str) -> list[RunnerRecord]: ...

    async def save(
        self,
        fixes: Sequence[FixRow],
        alerts: Sequence[AlertRecord],
        retract: Sequence[tuple[str, str, float]] = (),
        counts: Mapping[str, Mapping[str, int]] | None = None,
    ) -> Saved: ...
    def fixes(self, race_id: str, bib: str, since_s: float | None = None) -> FixArrays: ...
    def fix_count(self, race_id: str) -> int: ...
    def alerts(
        self, race_id: str, after_id: int = 0, bib: str | None = None, limit: int = 1000
    ) -> list[AlertRecord]: ...
    async def ack_alert(
        self, race_id: str, alert_id: int, by: str, at_ts: float
    ) -> AlertRecord | None: ...

    async def count(self, race_id: str, counts: Mapping[str, int]) -> None: ...
    def counts(self, race_id: str) -> dict[str, int]: ...
    async def note_unknown_device(self, device_id: str, protocol: str, at_ts: float) -> None: ...
    def unknown_devices(self) -> list[tuple[str, str, int, float]]: ...

    async def add_webhook(self, race_id: str, url: str, secret: str) -> Webhook: ...
    async def delete_webhook(self, race_id: str, hook_id: int) -> bool: ...
    def webhooks(self, race_id: str) -> list[Webhook]: ...


__all__ = [
    "AlertRecord",
    "FixArrays",
    "FixRow",
    "RaceRecord",
    "RunnerRecord",
    "Saved",
    "Store",
    "StoreError",
    "Webhook",
]
