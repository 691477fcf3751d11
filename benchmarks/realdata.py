"""The real course/track pairs of ../shared/data, shared by the benchmark scripts.

The folder comes from the ``COURSEWATCH_DATA_DIR`` setting (default ``../shared/data``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from coursewatch import Course, Track, load_course, load_track
from coursewatch.settings import load_settings


@dataclass(frozen=True)
class Pair:
    name: str
    course: str
    track: str
    kind: str  # "watch" (1-6 s recordings) or "pings" (5-10 min satellite messages)


# fmt: off
PAIRS = (
    Pair("templiers_2022", "grand_trail_des_templiers_2022.gpx",
         "grand_trail_des_templiers_2022.gpx", "watch"),
    Pair("utmb_2021", "utmb_170k.gpx", "utmb_2021.gpx", "watch"),
    Pair("eiger_2022", "eiger_ultra_trail_e250_2025.gpx", "eiger_ultra_trail_e250_2022.gpx",
         "watch"),
    Pair("ecotrail_2022", "ecotrail_paris_80k_2024.gpx", "ecotrail_paris_80k_2022.gpx", "watch"),
    Pair("maxi_race_2017", "maxi_race_annecy.gpx", "maxi_race_2017.gpx", "watch"),
    Pair("maxi_night_2021", "maxi_race_annecy.gpx", "maxi_race_night_edition_2021.gpx", "watch"),
    Pair("duo_etoile_2022", "duo_etoile_mont_blanc_2024.gpx", "duo_etoile_2022.gpx", "watch"),
    Pair("ouray_pings", "ouray_100_2024.gpx", "ouray_100_2024_inreach_pings.json", "pings"),
    Pair("dark_sky_pings", "dark_sky_220_2024.gpx", "dark_sky_220_2024_inreach_pings.json",
         "pings"),
    Pair("swammie_pings", "swammie_shuffle_220_2024.gpx",
         "swammie_shuffle_220_2024_inreach_pings.json", "pings"),
    Pair("twot_pings", "twot_200_2025.gpx", "twot_200_2025_inreach_pings.json", "pings"),
)
# fmt: on


def data_dir() -> Path:
    d = load_settings().data_dir
    if not d.is_dir():
        raise SystemExit(
            f"error: data folder {d} not found: set COURSEWATCH_DATA_DIR to the shared data"
        )
    return d


@cache
def course(name: str) -> Course:
    return load_course(data_dir() / "courses" / name)


@cache
def track(name: str) -> Track:
    return load_track(data_dir() / "tracks" / name)
