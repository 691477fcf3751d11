"""Race HQ killed mid-race and started again, on real data. Prints numbers.

Five races followed at once, as race HQ would: the four real Garmin inReach logs of
../shared/data (Ouray, Dark Sky, Swammie, TWOT: out of order, duplicated, (0,0) fixes, their
real messages) to ``/ingest/inreach``, and UTMB with the real UTMB 2021 recording at a
phone's rate (a fix every 5 s, sent every 30 s) plus a simulated field of ``--field``
runners (a fix every 30 s, sent every 2 min, one in five taking a wrong turn). Every request
in the order its fixes would arrive, the clock following them, the clock-driven detectors
ticking every minute of race time.

1. **In process, on a clock that follows the fixes** (the same app, pipeline and store as
   ``coursewatch serve``): the whole race once without a stop, then again with race HQ
   stopped ``--kills`` times as kill -9 stops it (nothing stored on the way out: the
   database as the last committed transaction left it) and started a minute later. Prints
   whether the incidents (race HQ's and the runners' flags: kind, level, every update and
   its time) are the same, how many were raised again, and how long each start took.
2. **A real ``coursewatch serve``, killed with SIGKILL** ``--kills`` times while requests are
   in flight, restarted; the client sends again what was not acknowledged, as trackers do.
   Prints whether every acknowledged fix is stored, and the incidents against a run of the
   same server never killed (the server's own clock runs here: the ETA refresh follows it,
   so two runs never killed are compared too, as the floor).

3. **At scale** (``--scale 2000``): that many simulated runners at 1 Hz for ``--scale-min``
   minutes into a real ``coursewatch serve``, SIGKILL, restart: how long race HQ is away, and
   what its start did.

Usage: COURSEWATCH_DATA_DIR=../shared/data .venv/bin/python benchmarks/restart.py
       [--field 100] [--kills 4] [--only-inprocess | --only-real]
       .venv/bin/python benchmarks/restart.py --scale 2000 [--scale-min 10]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from realdata import course, data_dir, track

from coursewatch.live import restart
from coursewatch.sim.hq import admin_headers, free_port, hq, start_serve, stops_as_if_killed
from coursewatch.sim.simulate import simulate_run

PINGS = {
    "ouray": ("ouray_100_2024.gpx", "ouray_100_2024_inreach_pings.json"),
    "darksky": ("dark_sky_220_2024.gpx", "dark_sky_220_2024_inreach_pings.json"),
    "swammie": ("swammie_shuffle_220_2024.gpx", "swammie_shuffle_220_2024_inreach_pings.json"),
    "twot": ("twot_200_2025.gpx", "twot_200_2025_inreach_pings.json"),
}
UTMB = ("utmb_170k.gpx", "utmb_2021.gpx")
TICK_S = 60.0
PING_LAG_S = 60.0  # a satellite message reaches race HQ this long after it was sent
PHONE_LAG_S = 5.0


@dataclass(frozen=True)
class Request:
    arrive_s: float  # race time it arrives at
    path: str
    body: dict[str, Any]
    fixes: int


@dataclass
class Race:
    id: str
    course_file: str
    start_s: float
    runners: list[dict[str, Any]]


def plan(field_n: int) -> tuple[list[Race], list[Request]]:
    """The races and every request, in arrival order."""
    races: list[Race] = []
    requests: list[Request] = []
    for k, (name, (course_file, log)) in enumerate(PINGS.items()):
        payloads = json.loads((data_dir() / "tracks" / log).read_text(encoding="utf-8"))
        imei = f"30000000000000{k}"
        for p in payloads:
            for e in p["Events"]:
                e["imei"] = imei
        first = min(e["timeStamp"] for p in payloads for e in p["Events"]) / 1000.0
        races.append(Race(name, course_file, first, [{"bib": "1", "devices": [imei]}]))
        for p in payloads:
            sent = max(e["timeStamp"] for e in p["Events"]) / 1000.0
            requests.append(Request(sent + PING_LAG_S, "/ingest/inreach", p, len(p["Events"])))
    tr = track(UTMB[1])
    start = float(tr.time_s[0])
    runners = [{"bib": "2021"}] + [{"bib": str(i)} for i in range(1, field_n + 1)]
    races.append(Race("utmb", UTMB[0], start, runners))
    keep = np.concatenate([[True], np.diff(tr.time_s) >= 5.0])  # a phone's 5 s
    t, lat, lon = tr.time_s, tr.lat, tr.lon
    batch: list[dict[str, float]] = []
    for ts, a, b in zip(t[keep].tolist(), lat[keep].tolist(), lon[keep].tolist(), strict=True):
        batch.append({"bib": "2021", "time": ts, "lat": a, "lon": b})
        if ts - batch[0]["time"] >= 30.0:
            requests.append(_native("utmb", batch))
            batch = []
    if batch:
        requests.append(_native("utmb", batch))
    c = course(UTMB[0])
    rng = np.random.default_rng(18)
    by_minute: dict[int, list[dict[str, float]]] = {}
    for i in range(1, field_n + 1):
        wrong = float(rng.uniform(5e3, 150e3)) if i % 5 == 0 else None
        pace = float(rng.uniform(1.3, 2.4))
        run = simulate_run(c, pace_mps=pace, interval_s=30.0, seed=i, start_ts=start,
                           wrong_turn_at_m=wrong, wrong_turn_angle_deg=75.0)  # fmt: skip
        for ts, a, b in zip(run.time_s.tolist(), run.lat.tolist(), run.lon.tolist(), strict=True):
            fix = {"bib": str(i), "time": ts, "lat": a, "lon": b}
            by_minute.setdefault(int((ts - start) // 120.0), []).append(fix)
    requests.extend(_native("utmb", fixes) for _, fixes in sorted(by_minute.items()))
    requests.sort(key=lambda r: r.arrive_s)
    return races, requests


def _native(race_id: str, fixes: list[dict[str, float]]) -> Request:
    newest = max(f["time"] for f in fixes)
    path = f"/api/races/{race_id}/fixes"
    return Request(newest + PHONE_LAG_S, path, {"fixes": fixes}, len(fixes))


def _race_body(race: Race) -> dict[str, Any]:
    start = datetime.fromtimestamp(race.start_s, UTC).isoformat()
    course_path = data_dir() / "courses" / race.course_file
    return {
        "id": race.id,
        "race_file": {"text": f"name: {race.id}\ncourse: c.gpx\nstart: '{start}'\n",
                      "suffix": ".yaml"},
        "course_file": {"base64": base64.b64encode(course_path.read_bytes()).decode(),
                        "suffix": course_path.suffix},
    }  # fmt: skip


def _seen(incidents: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Each incident as race HQ and the runner saw it."""
    return sorted(
        (i["bib"], i["episode"], i["kind"], i["level"], i["open"],
         tuple((u["kind"], u["time_s"]) for u in i["updates"]))
        for i in incidents
    )  # fmt: skip


# -- 1. in process --------------------------------------------------------------------------------
async def _in_process(
    races: list[Race], requests: list[Request], kills: set[int]
) -> tuple[dict[str, list[tuple[Any, ...]]], list[tuple[float, restart.Resumed]]]:
    now = [min(r.start_s for r in races)]
    starts: list[tuple[float, restart.Resumed]] = []

    with tempfile.TemporaryDirectory() as folder:
        cm = hq(Path(folder), clock=lambda: now[0])
        server, client = await cm.__aenter__()
        try:
            for race in races:
                (await client.post("/api/races", json=_race_body(race),
                                   headers=admin_headers())).raise_for_status()  # fmt: skip
                for runner in race.runners:
                    (await client.post(f"/api/races/{race.id}/runners", json=runner,
                                       headers=admin_headers())).raise_for_status()  # fmt: skip
            ticked = now[0]
            for k, req in enumerate(requests):
                while ticked + TICK_S <= req.arrive_s:
                    ticked += TICK_S
                    now[0] = ticked
                    await server.tick()
                now[0] = max(now[0], req.arrive_s)
                r = await client.post(req.path, json=req.body, headers=admin_headers())
                r.raise_for_status()
                if k in kills:
                    with stops_as_if_killed():
                        await cm.__aexit__(None, None, None)
                    now[0] += 60.0
                    began = time.perf_counter()
                    cm = hq(Path(folder), clock=lambda: now[0])
                    server, client = await cm.__aenter__()
                    took = time.perf_counter() - began
                    for resumed in server.resumed.values():
                        starts.append((took, resumed))
            out = {}
            for race in races:
                got = await client.get(f"/api/races/{race.id}/incidents?level=all&limit=100000",
                                       headers=admin_headers())  # fmt: skip
                out[race.id] = _seen(got.json()["incidents"])
            return out, starts
        finally:
            await cm.__aexit__(None, None, None)


def in_process(races: list[Race], requests: list[Request], n_kills: int) -> None:
    print("\n# 1. in process, the clock following the fixes: never stopped, then killed "
          f"{n_kills} times")  # fmt: skip
    t0 = time.perf_counter()
    whole, _ = asyncio.run(_in_process(races, requests, set()))
    took = time.perf_counter() - t0
    rng = np.random.default_rng(7)
    kills = set(rng.choice(np.arange(len(requests) // 10, len(requests) - 10), n_kills,
                           replace=False).tolist())  # fmt: skip
    killed, starts = asyncio.run(_in_process(races, requests, kills))
    print(f"{'race':>8} {'incidents':>9} {'killed run':>10} {'same':>5} {'missing':>7} "
          f"{'extra':>5}")  # fmt: skip
    for race in races:
        a, b = whole[race.id], killed[race.id]
        missing = len(set(a) - set(b))
        extra = len(set(b) - set(a))
        print(f"{race.id:>8} {len(a):9d} {len(b):10d} {a == b!s:>5} {missing:7d} {extra:5d}")
    resumed = sum(r.resumed for _, r in starts)
    rebuilt = sum(r.rebuilt for _, r in starts)
    again = sum(r.raised_again for _, r in starts)
    replayed = sum(r.replayed_fixes for _, r in starts)
    slowest = max((t for t, _ in starts), default=0.0)
    print(f"whole run {took:.0f} s; {len(kills)} kills at requests {sorted(kills)}; at the "
          f"restarts: {resumed} runners resumed from their state, {rebuilt} rebuilt, "
          f"{replayed} fixes played again, {again} events raised again; slowest start "
          f"{slowest:.2f} s")  # fmt: skip


# -- 2. a real server, SIGKILL ---------------------------------------------------------------------
def _serve_run(
    races: list[Race], requests: list[Request], n_kills: int, folder: Path
) -> dict[str, Any]:
    port = free_port()
    token = "bench-admin"
    settings = {"tick_s": "60", "ingest_rate_per_ip": "1000000"}  # one client sends it all
    proc = start_serve(folder, port, token, **settings)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    kill_at = set(np.linspace(len(requests) * 0.2, len(requests) * 0.9, n_kills).astype(int))
    acked: set[tuple[str, str, float]] = set()
    resent = kills = 0
    restarts_s: list[float] = []
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            for race in races:
                client.post("/api/races", json=_race_body(race)).raise_for_status()
                for runner in race.runners:
                    client.post(f"/api/races/{race.id}/runners", json=runner).raise_for_status()
            for k, req in enumerate(requests):
                if k in kill_at:  # killed while this request is in flight
                    threading.Timer(0.002, os.kill, (proc.pid, signal.SIGKILL)).start()
                failed = False  # no answer, or a 5xx: the tracker sends it again
                while True:
                    try:
                        r = client.post(req.path, json=req.body)
                        if r.status_code < 300:
                            break
                        failed = failed or r.status_code >= 500
                    except httpx.HTTPError:
                        failed = True
                    if proc.poll() is not None:  # it died: start it again, send again
                        kills += 1
                        began = time.perf_counter()
                        proc = start_serve(folder, port, token, **settings)
                        restarts_s.append(time.perf_counter() - began)
                    time.sleep(0.01)
                resent += failed
                acked.update(_keys(req))
            incidents = {}
            stored = 0
            for race in races:
                got = client.get(f"/api/races/{race.id}/incidents?level=all&limit=100000")
                incidents[race.id] = _seen(got.json()["incidents"])
                stored += client.get(f"/api/races/{race.id}/stats").json().get("fixes_stored", 0)
    finally:
        proc.terminate()
        proc.wait(30)
    return {"incidents": incidents, "acked": len(acked), "stored": stored, "kills": kills,
            "resent": resent, "restarts_s": restarts_s}  # fmt: skip


def _keys(req: Request) -> Iterator[tuple[str, str, float]]:
    if req.path == "/ingest/inreach":
        for e in req.body["Events"]:
            p = e.get("point") or {}
            if abs(p.get("latitude", 0.0)) > 1e-6 or abs(p.get("longitude", 0.0)) > 1e-6:
                yield (e["imei"], "", e["timeStamp"] / 1000.0)
    else:
        for f in req.body["fixes"]:
            yield (req.path, f["bib"], f["time"])


def real_server(races: list[Race], requests: list[Request], n_kills: int) -> None:
    print(f"\n# 2. a real coursewatch serve: never killed (twice), then SIGKILLed {n_kills} "
          "times with a request in flight")  # fmt: skip
    runs = []
    for kills in (0, 0, n_kills):
        with tempfile.TemporaryDirectory() as folder:
            t0 = time.perf_counter()
            run = _serve_run(races, requests, kills, Path(folder))
            run["took_s"] = time.perf_counter() - t0
            runs.append(run)
    a, b, killed = runs
    floor = sum(len(set(a["incidents"][r.id]) ^ set(b["incidents"][r.id])) for r in races)
    diff = sum(len(set(a["incidents"][r.id]) ^ set(killed["incidents"][r.id])) for r in races)
    total = sum(len(a["incidents"][r.id]) for r in races)
    print(f"never killed: {total} incidents, runs of {a['took_s']:.0f} and {b['took_s']:.0f} s; "
          f"they differ in {floor}")  # fmt: skip
    print(f"killed {killed['kills']} times: {killed['resent']} requests sent again; fixes "
          f"acknowledged {killed['acked']}, stored {killed['stored']}; incidents "
          f"{sum(len(v) for v in killed['incidents'].values())}, differing from the first "
          f"run in {diff}; restarts took "
          + ", ".join(f"{s:.1f}" for s in killed["restarts_s"]) + " s")  # fmt: skip


# -- 3. how long race HQ is away at a restart, at scale ----------------------------------------
def at_scale(n_runners: int, minutes: float) -> None:
    """``n_runners`` at 1 Hz for ``minutes`` of race time (sent as a phone gateway would, 100
    runners a request each second), then SIGKILL and a restart: the time until health answers
    again and the start's own account (runners resumed, fixes played again)."""
    from load import create_race, field

    print(f"\n# 3. at scale: {n_runners} runners at 1 Hz for {minutes:g} min, SIGKILL, restart")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port, token = free_port(), "bench-admin"
        settings = {"tick_s": "15", "ingest_rate_per_ip": "1000000"}
        proc = start_serve(folder, port, token, **settings)
        url = f"http://127.0.0.1:{port}"
        start = time.time() - minutes * 60.0 - 5.0
        try:
            import load

            load.ADMIN = token
            ingest = create_race(url, folder, "scale", start, n_runners)
            runs = field(n_runners, int(minutes * 60), start, 1.0, wrong_every=10)
            sent = 0
            t0 = time.perf_counter()
            with httpx.Client(base_url=url, params={"token": ingest}, timeout=60) as client:
                for k in range(int(minutes * 60)):
                    for g in range(0, n_runners, 100):
                        fixes = [{"bib": str(i), "time": float(runs[i][0][k]),
                                  "lat": float(runs[i][1][k]), "lon": float(runs[i][2][k])}
                                 for i in range(g, min(g + 100, n_runners))
                                 if k < len(runs[i][0])]  # fmt: skip
                        if fixes:
                            client.post("/api/races/scale/fixes", json={"fixes": fixes})
                            sent += len(fixes)
            fed_s = time.perf_counter() - t0
            db_mb = sum(p.stat().st_size for p in folder.glob("hq.db*")) / 1e6
            proc.kill()
            proc.wait(30)
            began = time.perf_counter()
            proc = start_serve(folder, port, token, **settings)
            back_s = time.perf_counter() - began
            said = [line for line in (folder / "serve.log").read_text().splitlines()
                    if "resumed from their state" in line]  # fmt: skip
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"{sent} fixes sent in {fed_s:.0f} s; database {db_mb:.0f} MB; killed, then health "
          f"answered again after {back_s:.1f} s")  # fmt: skip
    for line in said[-1:]:
        print("  serve said: " + line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--field", type=int, default=100, help="simulated UTMB runners")
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--only-inprocess", action="store_true")
    parser.add_argument("--only-real", action="store_true", help="only the real server's part")
    parser.add_argument(
        "--scale",
        type=int,
        default=0,
        metavar="N",
        help="only part 3: N runners at 1 Hz, killed and started again",
    )
    parser.add_argument("--scale-min", type=float, default=10.0, help="minutes of part 3")
    args = parser.parse_args()
    if args.scale:
        at_scale(args.scale, args.scale_min)
        return
    races, requests = plan(args.field)
    fixes = sum(r.fixes for r in requests)
    runners = sum(len(r.runners) for r in races)
    print(f"{len(races)} races, {runners} runners, {len(requests)} requests, {fixes} fixes; "
          f"machine: {os.cpu_count()} cores")  # fmt: skip
    if not args.only_real:
        in_process(races, requests, args.kills)
    if not args.only_inprocess:
        real_server(races, requests, args.kills)


if __name__ == "__main__":
    main()
