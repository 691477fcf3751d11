"""Shared fixtures: where the real test data lives."""

from __future__ import annotations

import os
from pathlib import Path

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
