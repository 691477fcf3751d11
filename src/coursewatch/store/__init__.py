"""Where the live server keeps races, runners, fixes and alerts: the :class:`Store` protocol.

The pipeline and the web app talk only to this protocol. :mod:`coursewatch.store.sqlite` is the
default (one file, WAL, one writer thread); :mod:`coursewatch.store.postgres` the same SQL on
PostgreSQL (:func:`open_store` picks by the ``store`` setting). Reads are plain calls; every
write is awaited and returns once it is durable, so an HTTP response sent after it
acknowledges data that survives a crash of the process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
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
    """A registered runner; ``start_ts`` overrides the race start (wave starts);
    ``finish_ts``: their finish as race HQ recorded it (a timing mat, a marshal: the tracker
    may have died short of the line), over the one the engine finds."""

    race_id: str
    bib: str
    name: str = ""
    devices: tuple[str, ...] = ()
    start_ts: float | None = None
    dnf: bool = False
    finish_ts: float | None = None


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
    """An event a detector raised: who, what, when, where, its sentence, and the incident it
    belongs to (``episode``, within the runner) and what it does to it (``level``: flag or
    alert; ``closes`` it; ``names`` it from then on: see :mod:`coursewatch.incidents`)."""

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
    episode: str = ""
    level: str = "flag"
    closes: bool = False
    names: str | None = None


@dataclass(frozen=True)
class Incident:
    """One runner episode, folded from its events: what it is now (``kind``), who it is for
    (``level``: flag, the runner's channel; alert, race HQ), whether it is still open, the
    latest sentence, and every update. Acknowledged once, for all its updates."""

    id: int
    race_id: str
    bib: str
    episode: str
    kind: str
    level: str
    open: bool
    opened_s: float
    updated_s: float
    closed_s: float | None
    lat: float
    lon: float
    course_m: float | None
    offset_m: float | None
    sentence: str
    updates: tuple[Mapping[str, Any], ...] = ()
    ack_by: str | None = None
    ack_ts: float | None = None
    retracted: bool = False


@dataclass(frozen=True)
class Saved:
    """What a save did: events new (or raised again after a retraction), events it found
    already raised, ids of events retracted because a replay no longer raises them; and the
    incidents that changed (opened, updated, closed, or gone: ``Incident.retracted``)."""

    new: list[AlertRecord] = field(default_factory=list)
    known: list[AlertRecord] = field(default_factory=list)
    retracted: list[int] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)


@dataclass(frozen=True)
class RunnerState:
    """A runner's live state as of their fix at ``time_s`` (engine, clock-driven detectors,
    ETA: :mod:`coursewatch.live.durable`), stored with the fixes it includes, so that a
    restart resumes from it and plays again only the fixes stored after."""

    race_id: str
    bib: str
    time_s: float
    state: str


@dataclass(frozen=True)
class Webhook:
    id: int
    race_id: str
    url: str
    secret: str


@dataclass(frozen=True)
class Delivery:
    """One notification to one recipient about one update of one incident (the outbox row):
    ``recipient`` is a stable id of the URL, ``role`` runner, crew or hq; ``state`` pending,
    sent or failed (given up), after ``attempts``; ``error`` the last failure, in words."""

    race_id: str
    incident_id: int
    update_n: int
    recipient: str
    role: str
    bib: str
    url: str
    title: str
    body: str
    priority: int
    next_ts: float
    created_ts: float
    id: int = 0
    state: str = "pending"
    attempts: int = 0
    sent_ts: float | None = None
    error: str = ""


class Outbox(Protocol):
    """Notifications waiting to leave, and what became of them (durable: a restart resumes)."""

    async def add(self, rows: Sequence[Delivery]) -> int:
        """Store new deliveries; one already stored (same incident update and recipient) is
        left as it is. Returns how many were new."""
        ...

    def due(
        self, now_ts: float, limit: int = 100, roles: Sequence[str] | None = None,
        skip: Sequence[str] = (), priority_max: int | None = None,
    ) -> list[Delivery]:  # fmt: skip
        """Pending deliveries (of these ``roles``, to none of the recipients ``skip``, of
        priority at most ``priority_max``) whose time has come, the most urgent first."""
        ...

    def next_ts(self, roles: Sequence[str] | None = None) -> float | None: ...
    def pending(self, recipient: str, limit: int = 100) -> list[Delivery]:
        """A recipient's pending deliveries, in the order they were stored."""
        ...

    def pending_count(self, recipient: str) -> int: ...
    async def mark(
        self, delivery_ids: Sequence[int], state: str, attempts: int, next_ts: float,
        error: str, sent_ts: float | None,
    ) -> None: ...  # fmt: skip
    def deliveries(
        self, race_id: str, after_id: int = 0, limit: int = 1000, state: str | None = None
    ) -> list[Delivery]: ...
    def of_incident(self, race_id: str, incident_id: int) -> list[Delivery]:
        """An incident's deliveries, in the order they were stored."""
        ...


@dataclass(frozen=True, eq=False)
class FixArrays:
    """A runner's stored fixes, sorted by time."""

    time_s: FloatArray
    lat: FloatArray
    lon: FloatArray
    accuracy_m: FloatArray


class StoreError(CoursewatchError):
    """A write the store refused (a conflict); the message says what to do."""


class StoreUnavailable(CoursewatchError):
    """The database cannot be reached (restarting, down): nothing was written; send again in
    a moment (the web layer answers 503 with Retry-After)."""


class Store(Protocol):
    """What the server needs from storage."""

    outbox: Outbox

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
    async def delete_runner(self, race_id: str, bib: str) -> dict[str, int]:
        """Every row of a runner (store/erase.py); how many went from each table."""
        ...

    async def delete_race(self, race_id: str, meta_keys: Sequence[str]) -> dict[str, int]:
        """Every row of a race, its runners' and these meta keys; counted by table."""
        ...

    async def save(
        self,
        fixes: Sequence[FixRow],
        alerts: Sequence[AlertRecord],
        retract: Sequence[tuple[str, str, float]] = (),
        counts: Mapping[str, Mapping[str, int]] | None = None,
        states: Sequence[RunnerState] = (),
        keys: tuple[tuple[str, str, int], ...] = (),
    ) -> Saved: ...
    def fixes(self, race_id: str, bib: str, since_s: float | None = None) -> FixArrays: ...
    def fix_rows(self, race_id: str, bib: str, after_s: float) -> list[FixRow]:
        """A runner's stored fixes after ``after_s``, whole, by time."""
        ...

    def runner_states(self, race_id: str) -> dict[str, RunnerState]: ...
    def runner_state(self, race_id: str, bib: str) -> RunnerState | None: ...
    def fix_count(self, race_id: str) -> int: ...
    def alerts(
        self, race_id: str, after_id: int = 0, bib: str | None = None, limit: int = 1000
    ) -> list[AlertRecord]: ...
    def incidents(
        self,
        race_id: str,
        after_id: int = 0,
        bib: str | None = None,
        level: str | None = None,
        limit: int = 1000,
    ) -> list[Incident]: ...
    def kind_incidents(self, race_id: str, kinds: Sequence[str]) -> list[Incident]: ...
    async def ack_incident(
        self, race_id: str, incident_id: int, by: str, at_ts: float
    ) -> Incident | None: ...
    async def withdraw(self, race_id: str, bib: str, kind: str) -> list[Incident]: ...

    async def count(self, race_id: str, counts: Mapping[str, int]) -> None: ...
    def counts(self, race_id: str) -> dict[str, int]: ...
    async def note_unknown_device(self, device_id: str, protocol: str, at_ts: float) -> None: ...
    def unknown_devices(self) -> list[tuple[str, str, int, float]]: ...

    async def add_webhook(self, race_id: str, url: str, secret: str) -> Webhook: ...
    async def delete_webhook(self, race_id: str, hook_id: int) -> bool: ...
    def webhooks(self, race_id: str) -> list[Webhook]: ...


def open_store(url: str, db_path: Path) -> Store:
    """The store a server is told to use: PostgreSQL at ``url`` (``postgresql://...``), else
    the SQLite file ``db_path``."""
    if url.startswith(("postgresql://", "postgres://")):
        from coursewatch.store.postgres import PostgresStore

        return PostgresStore(url)
    if url:
        raise StoreError(
            f"store {url.split('://')[0]}://...: not a PostgreSQL URL: give "
            "postgresql://user:password@host:port/database, or nothing for the SQLite file"
        )
    from coursewatch.store.sqlite import SqliteStore

    return SqliteStore(db_path)


__all__ = [
    "AlertRecord",
    "Delivery",
    "FixArrays",
    "FixRow",
    "Incident",
    "Outbox",
    "RaceRecord",
    "RunnerRecord",
    "RunnerState",
    "Saved",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Webhook",
    "open_store",
]
