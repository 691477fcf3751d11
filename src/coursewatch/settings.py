"""One table of settings: name, default, help. Environment ``COURSEWATCH_<NAME>`` overrides.

The table feeds validation, ``coursewatch settings`` and docs/settings.md (written by
``coursewatch settings --format docs``; a test checks it is up to date), so a setting exists in
exactly one place.

>>> next(v for v in describe({"COURSEWATCH_PORT": "9000"}) if v.setting.name == "port").source
'environment (COURSEWATCH_PORT)'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from coursewatch.errors import SettingsError


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    secret: bool = False  # never printed

    @property
    def env(self) -> str:
        return f"COURSEWATCH_{self.name.upper()}"


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "../shared/data", "Folder of the real test data (courses/, tracks/)."),
    Setting("max_file_bytes", str(200 * 1024 * 1024), "Largest course or track file accepted."),
    Setting("station_snap_m", "100", "A station farther than this from the course is not snapped."),
    Setting("db_path", "coursewatch.db", "SQLite file of the live server (races, runners, fixes)."),
    Setting(
        "store",
        "",
        "PostgreSQL URL of the live server's store (postgresql://user:pass@host/db); empty: "
        "the SQLite file db_path.",
        secret=True,
    ),
    Setting(
        "bus",
        "",
        "Redis URL (redis://host:port/0) of the message bus that makes this server one of "
        "several web nodes, with `coursewatch worker`s matching; empty: one server does all.",
        secret=True,
    ),
    Setting("host", "127.0.0.1", "Address the live server listens on (0.0.0.0 for all)."),
    Setting("port", "8080", "Port of the live server: API, dashboard and /ingest/* endpoints."),
    Setting(
        "osmand_port",
        "0",
        "Extra port serving the OsmAnd protocol at / (Traccar uses 5055); 0: off.",
    ),
    Setting(
        "admin_token",
        "",
        "Admin API token; empty: generated once and kept in the database.",
        secret=True,
    ),
    Setting("max_body_bytes", str(2 * 1024 * 1024), "Largest request body (JSON, OsmAnd)."),
    Setting("max_upload_bytes", str(32 * 1024 * 1024), "Largest GPX/FIT upload for one runner."),
    Setting("max_future_s", "600", "Fixes more than this ahead of the server clock are dropped."),
    Setting("tick_s", "15", "How often the time-based detectors (stopped, overdue...) run."),
    Setting("webhook_attempts", "6", "Delivery attempts per webhook call before giving up."),
    Setting("webhook_backoff_s", "2", "First retry delay of a webhook; doubles at every attempt."),
    Setting("ingest_rate_per_ip", "100", "Ingest requests a second per address and per token."),
    Setting("ingest_concurrency", "4", "Ingest requests worked on at once."),
    Setting("ingest_queue", "64", "Ingest requests waiting their turn; past it: 503."),
    Setting("ingest_wait_s", "0.5", "Longest wait for a turn; past it: 503 and Retry-After."),
    Setting("ingest_body_s", "10", "An ingest body must arrive within this (uploads: 6x): 408."),
    Setting("sse_max", "1000", "Open event streams in all (kept under the fd limit)."),
    Setting("sse_max_per_ip", "20", "Open event streams per client address."),
    Setting(
        "webhook_allow_private",
        "false",
        "Allow webhooks, notification URLs and feed addresses to loopback, link-local and "
        "private addresses (a race HQ on a LAN).",
    ),
    Setting("feed_poll_s", "300", "How often each runner's MapShare or SPOT feed is polled."),
    Setting(
        "feed_hourly_budget",
        "1800",
        "Feed requests an hour per feed host (Garmin blocks an address for an hour past 2,000).",
    ),
    Setting("feed_timeout_s", "20", "A feed that has not answered within this: an error."),
    Setting("mapshare_url", "https://share.garmin.com", "MapShare host for bare feed names."),
    Setting("spot_url", "https://api.findmespot.com", "SPOT feed API host."),
    Setting("notify_per_min", "6", "Notifications a minute per recipient; more wait their turn."),
    Setting("notify_attempts", "8", "Attempts per notification before it is given up (failed)."),
    Setting("notify_backoff_s", "5", "First retry delay of a notification; doubles each time."),
)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    max_file_bytes: int
    station_snap_m: float
    db_path: Path
    store: str
    bus: str
    host: str
    port: int
    osmand_port: int
    admin_token: str
    max_body_bytes: int
    max_upload_bytes: int
    max_future_s: float
    tick_s: float
    webhook_attempts: int
    webhook_backoff_s: float
    ingest_rate_per_ip: float
    ingest_concurrency: int
    ingest_queue: int
    ingest_wait_s: float
    ingest_body_s: float
    sse_max: int
    sse_max_per_ip: int
    webhook_allow_private: bool
    feed_poll_s: float
    feed_hourly_budget: int
    feed_timeout_s: float
    mapshare_url: str
    spot_url: str
    notify_per_min: float
    notify_attempts: int
    notify_backoff_s: float


@dataclass(frozen=True)
class SettingValue:
    """A setting as it is now: its value (as text) and where it came from."""

    setting: Setting
    value: str
    source: str

    @property
    def shown(self) -> str:
        """The value as it may be printed (a secret only says whether it is set)."""
        if self.setting.secret:
            return "(set)" if self.value else "(not set)"
        return self.value


def describe(environ: Mapping[str, str] | None = None) -> list[SettingValue]:
    """Every setting, its value and where it came from (the environment or the default)."""
    env = os.environ if environ is None else environ
    out = []
    for s in SETTINGS:
        if s.env in env:
            out.append(SettingValue(s, env[s.env], f"environment ({s.env})"))
        else:
            out.append(SettingValue(s, s.default, "default"))
    return out


def docs_page() -> str:
    """docs/settings.md: every setting, its environment variable, default and help."""
    lines = [
        "# Settings",
        "",
        "Every setting of coursewatch, from one table (`src/coursewatch/settings.py`). Set one",
        "with its environment variable; `coursewatch settings` shows each value now and where it",
        "came from. This page is written by",
        "`coursewatch settings --format docs > docs/settings.md`.",
        "",
        "| setting | environment variable | default | what it does |",
        "|---|---|---|---|",
    ]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default else "(empty)"
        lines.append(f"| `{s.name}` | `{s.env}` | {default} | {s.help} |")
    return "\n".join(lines) + "\n"


def _raw(name: str, environ: Mapping[str, str]) -> str:
    setting = next(s for s in SETTINGS if s.name == name)
    return environ.get(setting.env, setting.default)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from the environment, falling back to the defaults."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = _raw(f.name, env)
        try:
            if f.type in (bool, "bool"):
                values[f.name] = _bool(raw)
            elif f.type in (int, "int"):
                values[f.name] = int(raw)
            elif f.type in (float, "float"):
                values[f.name] = float(raw)
            elif f.type in (str, "str"):
                values[f.name] = raw
            else:
                values[f.name] = Path(raw)
        except ValueError:
            raise SettingsError(
                f"setting COURSEWATCH_{f.name.upper()}={raw!r} is not a valid {f.type}: "
                "fix or unset the environment variable"
            ) from None
    return Settings(**values)  # type: ignore[arg-type]


def _bool(raw: str) -> bool:
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(raw)
