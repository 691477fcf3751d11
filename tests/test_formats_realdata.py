"""Every real course and track file reads through the content sniffer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from coursewatch.formats.detect import read_points

pytestmark = pytest.mark.realdata

MAX_BYTES = 200 * 1024 * 1024
# Raw message counts from SOURCES.md: the reader keeps duplicates and no-fix pings.
INREACH_RAW_COUNTS = {
    "ouray_100_2024_inreach_pings.json": 545,
    "dark_sky_220_2024_inreach_pings.json": 920,
    "swammie_shuffle_220_2024_inreach_pings.json": 854,
    "twot_200_2025_inreach_pings.json": 516,
}


def test_every_real_file_reads(data_dir: Path) -> None:
    files = sorted((data_dir / "courses").iterdir()) + sorted((data_dir / "tracks").iterdir())
    assert len(files) > 30
    for path in files:
        raw = read_points(path, MAX_BYTES)
        assert len(raw) > 100, path.name
        assert np.isfinite(raw.lat).sum() > 100, path.name
        assert raw.format == ("inreach" if path.suffix == ".json" else "gpx"), path.name


@pytest.mark.parametrize("name, count", sorted(INREACH_RAW_COUNTS.items()))
def test_inreach_logs_keep_their_raw_count(data_dir: Path, name: str, count: int) -> None:
    raw = read_points(data_dir / "tracks" / name, MAX_BYTES)
    assert len(raw) == count
    assert np.all(np.isfinite(raw.time_s))


def test_tor_des_geants_waypoints_and_size(data_dir: Path) -> None:
    raw = read_points(data_dir / "courses" / "tor_des_geants_330k.gpx", MAX_BYTES)
    assert len(raw) == 37_399
    assert len(raw.waypoints) == 79


def test_gpx_1_0_hike_keeps_points_without_time(data_dir: Path) -> None:
    raw = read_points(data_dir / "tracks" / "korita_zbevnica_hike_2010.gpx", MAX_BYTES)
    assert len(raw) == 871
    assert int(np.isfinite(raw.time_s).sum()) == 513
