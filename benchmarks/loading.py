"""How long loading the largest real files takes (parse, clean, project, index).

Usage: python benchmarks/loading.py   (prints one line per file; median of 3 runs)
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from realdata import data_dir

from coursewatch import load_course, load_track

FILES = (
    ("course", "courses/cocodona_250_2025.gpx"),
    ("course", "courses/tor_des_geants_330k.gpx"),
    ("track", "tracks/eiger_ultra_trail_e250_2022.gpx"),
    ("track", "tracks/utmb_2021.gpx"),
)


def main() -> None:
    root = data_dir()
    _ = load_course(root / "courses/utmb_170k.gpx").grid  # warm up numba's cache
    for kind, name in FILES:
        times = []
        n = 0
        for _ in range(3):
            t0 = time.perf_counter()
            if kind == "course":
                c = load_course(root / name)
                _ = c.grid  # the spatial index is part of loading a course
                n = len(c.x)
            else:
                n = len(load_track(root / name))
            times.append(time.perf_counter() - t0)
        print(f"{kind:6} {name:45} {n:7d} points  {statistics.median(times):.2f} s")


if __name__ == "__main__":
    main()
