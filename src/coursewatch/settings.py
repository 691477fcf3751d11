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
    Setting(
        "station_snap_m", "100", "A station farther than this from the course is not snapped."
    ),
)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    max_file_bytes: int
    station_snap_m: float


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
            else:
                values[f.name] = Path(raw)
        except ValueError:
            raise SettingsError(
                f"setting COURSEWATCH_{f.name.upper()}={raw!r} is not a valid {f.type}: "
                "fix or unset the environment variable"
            ) from None
    return Settings(**values)  # type: ignore[arg-type]
