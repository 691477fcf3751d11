"""The race's split table (GET /api/races/{race}/splits, `coursewatch race splits`): every
runner's elapsed time at every station, finishers first; its CSV is what a race file's
history reads back."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from coursewatch.eta import AT_STATION_M
from coursewatch.race import RaceStation
from coursewatch.sim.field import write_race
from coursewatch.sim.hq import admin_headers, hq
from coursewatch.sim.simulate import simulate_run, trail_course
from coursewatch.splits import parse_splits

pytestmark = pytest.mark.anyio
START = 1_780_000_000.0
COURSE = trail_course(12_000.0, n_stations=2)  # Aid 1 at km 4, Aid 2 at km 8, Finish at 12
FAST = simulate_run(COURSE, start_ts=START + 10, interval_s=30.0, pace_mps=3.0, seed=1)
SLOW = simulate_run(COURSE, start_ts=START + 10, interval_s=30.0, pace_mps=2.0, seed=2)
NOW = float(SLOW.time_s[-1]) + 60.0


async def _race(client: httpx.AsyncClient, tmp_path: Path) -> None:
    """Bib 7 runs it all fast, 8 slow, 9 stops short of Aid 2 and is put out, 10 never sends
    a fix; 11 runs as 7 does, hidden from the public; 12 runs as 8 does, put out at Aid 2
    (walking on to the line with their tracker on)."""
    race_file = write_race(tmp_path / "files", COURSE, START)
    gpx = base64.b64encode((tmp_path / "files" / "course.gpx").read_bytes()).decode()
    body = {"id": "demo", "public": True, "race_file": {"text": race_file.read_text()},
            "course_file": {"base64": gpx, "suffix": ".gpx"}}  # fmt: skip
    assert (await client.post("/api/races", json=body, headers=admin_headers())).status_code == 201
    bibs = ("7", "8", "9", "10", "11", "12")
    runners = {"runners": [{"bib": b, "name": f"Runner {b}"} for b in bibs]}
    r = await client.post("/api/races/demo/runners", json=runners, headers=admin_headers())
    assert r.status_code == 201, r.text
    short = SLOW.time_s < START + 10 + 6000.0 / 2.0  # (about km 6)
    runs = (("7", FAST, FAST.time_s > 0), ("8", SLOW, SLOW.time_s > 0), ("9", SLOW, short),
            ("11", FAST, FAST.time_s > 0), ("12", SLOW, SLOW.time_s > 0))  # fmt: skip
    fixes = [
        {"bib": b, "time": float(t), "lat": float(a), "lon": float(o)}
        for b, run, keep in runs
        for t, a, o in zip(run.time_s[keep], run.lat[keep], run.lon[keep], strict=True)
    ]
    r = await client.post("/api/races/demo/fixes", json={"fixes": fixes}, headers=admin_headers())
    assert r.json()["accepted"] == len(fixes), r.text
    for bib, change in (("9", {"dnf": True}), ("11", {"hidden": True}), ("12", {"dnf": True})):
        r = await client.patch(f"/api/races/demo/runners/{bib}", json=change,
                               headers=admin_headers())  # fmt: skip
        assert r.status_code == 200, r.text


async def test_the_split_table_has_every_runner_finishers_first(tmp_path: Path) -> None:
    async with hq(tmp_path, clock=lambda: NOW) as (_server, client):
        await _race(client, tmp_path)
        r = await client.get("/api/races/demo/splits", headers=admin_headers())
        assert r.status_code == 200, r.text
        table = r.json()
        assert [s["column"] for s in table["stations"]] == ["Aid 1", "Aid 2", "Finish"]
        rows = {row["bib"]: row for row in table["runners"]}
        # finishers by their time (7 and 11 tie: by bib), then how far each got: 12 was put
        # out, whatever their tracker did after
        assert [row["bib"] for row in table["runners"]] == ["7", "11", "8", "12", "9", "10"]
        assert [rows[b]["status"] for b in ("7", "8", "9", "10", "12")] == [
            "finished", "finished", "dnf", "not_started", "dnf"]  # fmt: skip
        # elapsed from the start, as the runner passed each station (a fix every 30 s; an aid
        # station is reached AT_STATION_M before its point, as on the board)
        for bib, pace in (("7", 3.0), ("8", 2.0)):
            want = [10.0 + m / pace for m in (4000.0 - AT_STATION_M, 8000.0 - AT_STATION_M,
                                              12000.0)]  # fmt: skip
            assert rows[bib]["elapsed_s"] == pytest.approx(want, abs=45.0), rows[bib]
        assert rows["9"]["elapsed_s"][0] == pytest.approx(rows["8"]["elapsed_s"][0], abs=1.0)
        assert rows["9"]["elapsed_s"][1:] == [None, None]
        assert rows["10"]["elapsed_s"] == [None, None, None]
        # the CSV: what next year's race file takes as its history, the same times back
        r = await client.get("/api/races/demo/splits?format=csv", headers=admin_headers())
        assert r.headers["content-type"].startswith("text/csv")
        assert 'filename="demo-splits.csv"' in r.headers["content-disposition"]
        assert r.text.splitlines()[0] == "bib,name,status,Aid 1,Aid 2,Finish"
        stations = [RaceStation(s["name"], s["distance_m"]) for s in table["stations"]]
        back = parse_splits(r.text, "demo-splits.csv", stations, bibs=True)
        assert back.refused == [] and back.notes == []
        assert back.bibs == [row["bib"] for row in table["runners"]]
        for bib, got in zip(back.bibs, back.elapsed_s.tolist(), strict=True):
            want = [float("nan") if t is None else t for t in rows[bib]["elapsed_s"]]
            assert got == pytest.approx(want, abs=0.5, nan_ok=True), bib
        r = await client.get("/api/races/demo/splits?format=xlsx", headers=admin_headers())
        assert r.status_code == 422 and r.json()["error"]["where"] == "format"


async def test_the_public_sees_the_split_table_as_it_sees_the_board(tmp_path: Path) -> None:
    """No hidden runner; with positions delayed, no pass newer than the delay."""
    async with hq(tmp_path, clock=lambda: NOW) as (_server, client):
        await _race(client, tmp_path)
        public = (await client.get("/api/races/demo/splits")).json()
        assert "11" not in [row["bib"] for row in public["runners"]]
        assert len(public["runners"]) == 5
        r = await client.patch("/api/races/demo", json={"public_view": {"delay_min": 30}},
                               headers=admin_headers())  # fmt: skip
        assert r.status_code == 200, r.text
        then = (await client.get("/api/races/demo/splits")).json()
        hq_rows = (await client.get("/api/races/demo/splits", headers=admin_headers())).json()
        slow = {row["bib"]: row for row in then["runners"]}["8"]["elapsed_s"]
        full = {row["bib"]: row for row in hq_rows["runners"]}["8"]["elapsed_s"]
        assert full[-1] is not None and START + full[-1] > NOW - 1800  # (finished since)
        assert slow[:2] == full[:2] and slow[-1] is None
        await client.patch("/api/races/demo", json={"public": False}, headers=admin_headers())
        assert (await client.get("/api/races/demo/splits")).status_code == 401
