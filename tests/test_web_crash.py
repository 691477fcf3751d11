"""SIGKILL a real `coursewatch serve` during ingest: no acknowledged fix is lost."""

from __future__ import annotations

import base64
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import httpx

from coursewatch.sim.field import write_race
from coursewatch.sim.hq import free_port, start_serve
from coursewatch.sim.simulate import simulate_run, trail_course

START = 1_780_000_000.0
ADMIN = "crash-admin"


def _serve(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    return start_serve(tmp_path, port, ADMIN)


def _send(url: str, bib: str, fixes: list[tuple[float, float, float]], acked: list[float],
          batch: bool, token: str) -> None:  # fmt: skip
    with httpx.Client(base_url=url, timeout=5) as client:
        step = 50 if batch else 1
        for i in range(0, len(fixes), step):
            chunk = fixes[i : i + step]
            try:
                if batch:
                    body = {"fixes": [{"bib": bib, "time": t, "lat": a, "lon": b}
                                      for t, a, b in chunk]}  # fmt: skip
                    r = client.post(f"/api/races/demo/fixes?token={token}", json=body)
                else:
                    t, a, b = chunk[0]
                    r = client.get(f"/ingest/osmand?id=dev-{bib}&timestamp={t:.0f}"
                                   f"&lat={a:.7f}&lon={b:.7f}")  # fmt: skip
            except httpx.HTTPError:
                return  # the server is gone
            if r.status_code == 200:
                acked.extend(t for t, _, _ in chunk)


def test_sigkill_during_ingest_loses_no_acknowledged_fix(tmp_path: Path) -> None:
    course = trail_course(30_000.0, n_stations=2)
    race_file = write_race(tmp_path / "files", course, START)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(tmp_path, port)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    try:
        body = {"id": "demo", "race_file": {"text": race_file.read_text(), "suffix": ".yaml"},
                "course_file": {"suffix": ".gpx", "base64": base64.b64encode(
                    (race_file.parent / "course.gpx").read_bytes()).decode()}}  # fmt: skip
        race = httpx.post(f"{url}/api/races", json=body, headers=admin, timeout=60).json()
        bibs = ["1", "2", "3", "4"]
        runners = {"runners": [{"bib": b, "devices": [f"dev-{b}"]} for b in bibs]}
        httpx.post(f"{url}/api/races/demo/runners", json=runners, headers=admin)
        acked: dict[str, list[float]] = {b: [] for b in bibs}
        threads = []
        for k, bib in enumerate(bibs):
            run = simulate_run(course, start_ts=START + 1, interval_s=1.0, seed=k)
            fixes = list(zip(run.time_s.tolist(), run.lat.tolist(), run.lon.tolist(), strict=True))
            args = (url, bib, fixes, acked[bib], k == 0, race["ingest_token"])
            threads.append(threading.Thread(target=_send, args=args, daemon=True))
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            sum(len(a) for a in acked.values()) < 1500 or min(len(a) for a in acked.values()) < 50
        ):
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)  # mid-ingest: requests are in flight
        proc.wait(timeout=10)
        for t in threads:
            t.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert min(len(a) for a in acked.values()) >= 50
    with sqlite3.connect(tmp_path / "hq.db") as db:
        for bib, times in acked.items():
            stored = {r[0] for r in db.execute("SELECT time_s FROM fixes WHERE bib=?", (bib,))}
            missing = set(times) - stored
            assert not missing, f"bib {bib}: {len(missing)} acknowledged fixes lost"
    # And the restarted server follows the runners from the stored fixes.
    proc = _serve(tmp_path, port)
    try:
        runners = httpx.get(f"{url}/api/races/demo/runners", headers=admin).json()["runners"]
        fixes = {r["bib"]: r["fixes"] for r in runners}
        assert all(fixes[b] >= len(acked[b]) for b in bibs)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
