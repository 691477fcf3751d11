"""One table of settings: name, default, help. Environment ``COURSEWATCH_<NAME>`` overrides.

The table feeds validation, ``coursewatch settings`` and docs/settings.md, so a setting exists
in exactly one place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from coursewatch.errors import SettingsError


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "../shared/data", "Folder of the real test data (courses/, tracks/)."),
    Setting("max_file_bytes", str(200 * 1024 * 1024), "Largest course or track file accepted."),
    Setting("station_snap_m", "100", "A station farther than this from the course is not snapped."),
    Setting("db_path", "coursewatch.db", "SQLite file of the live server (races, runners, fixes)."),
    Setting("host", "127.0.0.1", "Address the live server listens on (0.0.0.0 for all)."),
    Setting("port", "8080", "Port of the live server: API, dashboard and /ingest/* endpoints."),
    Setting(
        "osmand_port",
        "0",
        "Extra port serving the OsmAnd protocol at / (Traccar uses 5055); 0: off.",
    ),
    Setting("admin_token", "", "Admin API token; empty: generated once and kept in the database."),
    Setting("max_body_bytes", str(2 * 1024 * 1024), "Largest request body (JSON, OsmAnd)."),
    Setting("max_upload_bytes", str(32 * 1024 * 1024), "Largest GPX/FIT upload for one runner."),
    Setting("max_future_s", "600", "Fixes more than this ahead of the server clock are dropped."),
    Setting("tick_s", "15", "How often the time-based detectors (stopped, overdue...) run."),
    Setting("webhook_attempts", "6", "Delivery attempts per webhook call before giving up."),
    Setting("webhook_backoff_s", "2", "First retry delay of a webhook; doubles at every attempt."),
)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    max_file_bytes: int
    station_snap_m: float
    db_path: Path
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


def _raw(name: str) -> str:
    default = next(s.default for s in SETTINGS if s.name == name)
    return os.environ.get(f"COURSEWATCH_{name.upper()}", default)


def load_settings() -> Settings:
    """Read every setting from the environment, falling back to the defaults."""
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = _raw(f.name)
        try:
            if f.type in (int, "int"):
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
