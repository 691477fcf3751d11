"""Shared fixtures: where the real test data lives."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data folder (courses/, tracks/): $COURSEWATCH_DATA_DIR or ../shared/data."""
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    path = Path(os.environ.get("COURSEWATCH_DATA_DIR", str(default))).resolve()
    if not path.is_dir():
        message = f"real test data not found at {path}: set COURSEWATCH_DATA_DIR"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


# Debian's Chromium, kept off the network: no background services, no component updates
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@pytest.fixture(scope="session")
def chromium() -> dict[str, Any]:
    """Playwright launch options for Debian's chromium (scripts/test.sh installs it).

    Skips when it is missing, except under CI=true, where that is a failure.
    """
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        message = "Debian's chromium is not installed: run scripts/test.sh (it installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return {"executable_path": path, "args": list(CHROMIUM_ARGS), "headless": True}


@pytest.fixture
def anyio_backend() -> str:
    """The async tests run on asyncio (the server's loop)."""
    return "asyncio"
