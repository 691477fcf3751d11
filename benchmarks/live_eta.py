"""The ETAs a crew reads, live: UTMB 2021's recording replayed through a real race HQ.

Run: ``.venv/bin/python benchmarks/live_eta.py [--speed 300] [--every-s 3]``. Starts
``coursewatch serve`` on a free loopback port (database in a temporary folder), creates the
race from ``examples/utmb_2017.race.yaml`` started when the recording starts, with the 2015,
2016 and 2017 UTMB results as its history, and replays ``tracks/utmb_2021.gpx`` into it with
``coursewatch replay`` at ``--speed`` times real time. Meanwhile the runner's page
(``GET /api/races/utmb21/runners/1/progress``) is read every ``--every-s`` seconds, as a crew
would. Each ETA shown for a station the runner later passed is scored against the pass:
error as a share of the time still to run (median / p90), how often the 10-90 % interval held
the pass, its width; by what made it (``history``; ``live``: the runner's own model alone)
and by where the runner was (before the first station, or after).

The data folder comes from ``COURSEWATCH_DATA_DIR`` (default ``../shared/data``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from realdata import data_dir

from coursewatch.sim.hq import free_port, start_serve

TOKEN = "bench-admin"
RACE = "utmb21"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "utmb_2017.race.yaml"


def race_file(folder: Path, data: Path, start: str) -> Path:
    """The example race file, on the data folder's files, started at ``start``, with the
    2017 results as a third history edition."""
    text = EXAMPLE.read_text(encoding="utf-8").replace("../../shared/data", str(data))
    text = text.replace('"2017-09-01T18:00:00+02:00"', f'"{start}"')
    results = data / "results" / "utmb"
    text += f'  - {{results: {results / "utmb_2017.csv"}, edition: "2017"}}\n'
    path = folder / "utmb21.race.yaml"
    path.write_text(text.replace("name: UTMB 2017", "name: UTMB 2021"), encoding="utf-8")
    return path


def first_time(track: Path) -> str:
    from coursewatch.formats.load import load_track

    t = float(load_track(track).time_s[0])
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def replay_and_read(folder: Path, speed: float, every_s: float) -> list[dict[str, Any]]:
    """The runner's page, read every ``every_s`` while the replay runs, and once after."""
    track = data_dir() / "tracks" / "utmb_2021.gpx"
    race = race_file(folder, data_dir().resolve(), first_time(track))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_serve(folder, port, TOKEN)
    cmd = [sys.executable, "-c", "from coursewatch.cli import main; main()", "replay",
           str(race), str(track), "--speed", str(speed), "--id", RACE, "--url", url,
           "--token", TOKEN]  # fmt: skip
    pages: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    page = f"{url}/api/races/{RACE}/runners/1/progress"
    try:
        with (folder / "replay.log").open("wb") as log:
            replay = subprocess.Popen(cmd, stdout=log, stderr=log)
            while replay.poll() is None:
                got = httpx.get(page, headers=headers, timeout=30)
                if got.status_code == 200:
                    pages.append(got.json())
                time.sleep(every_s)
        if replay.returncode:
            raise SystemExit(f"replay failed: {(folder / 'replay.log').read_text()[-2000:]}")
        time.sleep(2.0)
        pages.append(httpx.get(page, headers=headers, timeout=30).json())
    finally:
        server.terminate()
        server.wait(60)
    return pages


def score(pages: list[dict[str, Any]]) -> dict[tuple[str, str], list[tuple[float, Any, Any]]]:
    """(where, method) -> (error share, interval held, width share) of each ETA scored."""
    passed = {p["label"]: p["time_s"] for p in pages[-1]["passes"]}
    out: dict[tuple[str, str], list[tuple[float, Any, Any]]] = {}
    for page in pages:
        now = page["now_ts"]
        where = "after the first station" if page["passes"] else "before the first station"
        for e in page["etas"]:
            at = passed.get(e["label"])
            if at is None or e["eta_ts"] is None or at <= now:
                continue
            togo = at - now
            held = None if e["low_ts"] is None else e["low_ts"] <= at <= e["high_ts"]
            width = None if e["low_ts"] is None else (e["high_ts"] - e["low_ts"]) / togo
            out.setdefault((where, e["method"]), []).append((abs(e["eta_ts"] - at) / togo,
                                                             held, width))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=300.0)
    parser.add_argument("--every-s", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        pages = replay_and_read(Path(tmp), args.speed, args.every_s)
        took = time.perf_counter() - t0
    print(f"{len(pages)} reads of the runner's page in {took:.0f} s; finish "
          f"{(pages[-1]['passes'][-1]['time_s'] - pages[-1]['start_ts']) / 3600:.2f} h after "
          "the start")  # fmt: skip
    print(f"{'where':<26} {'made by':<15} {'ETAs':>5} {'median':>7} {'p90':>6} {'held':>6} "
          f"{'width':>6}")  # fmt: skip
    for (where, method), rows in sorted(score(pages).items()):
        err = np.array([r[0] for r in rows]) * 100
        held = [r[1] for r in rows if r[1] is not None]
        width = [r[2] for r in rows if r[2] is not None]
        print(f"{where:<26} {method:<15} {len(rows):>5} {np.median(err):>6.1f}% "
              f"{np.quantile(err, 0.9):>5.1f}% "
              f"{(f'{100 * np.mean(held):.1f}%' if held else '-'):>6} "
              f"{(f'{100 * np.median(width):.0f}%' if width else '-'):>6}")  # fmt: skip


if __name__ == "__main__":
    main()
