"""Load figures of race HQ, on loopback only, bounded in count and time. Prints numbers.

Starts a real ``coursewatch serve`` (its own process, so its CPU is measured apart from this
client) on a temporary database and a free 127.0.0.1 port, then:

1. batched ingest: pre-encoded native batches (2,000 fixes of many runners each) on 4
   connections; sustained fixes/s until all are acknowledged;
2. one request per fix: the OsmAnd protocol as Traccar Client sends it, on 32 connections;
3. live: 2,000 runners at one fix per second (sent each second in batches of 100, as from
   20 gateways) for ``--live-s`` seconds, one in ten taking a wrong turn early; latency from the
   HTTP response (and from the request) of the fix that raised an alert to that alert on the
   SSE stream, and the server's CPU.

With ``--notify``, the live phase also notifies every runner (their own flags) and race HQ
(alerts) through Apprise to a local ntfy server, and prints from the fix to the message there.

Usage: .venv/bin/python benchmarks/load.py [--quick] [--only-live] [--notify]
       .venv/bin/python benchmarks/load.py --overload [its options]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from coursewatch.sim.field import write_race
from coursewatch.sim.hq import free_port, start_serve
from coursewatch.sim.simulate import simulate_run, trail_course
from coursewatch.sim.sinks import NtfySink

ADMIN = "load-admin"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def start_server(folder: Path, port: int, **settings: str) -> subprocess.Popen[bytes]:
    try:  # capacity is measured here, not the per-address limits: those out of the way
        return start_serve(folder, port, ADMIN, ingest_rate_per_ip="1000000", **settings)
    except RuntimeError as exc:
        raise SystemExit(f"error: {exc}") from None


def create_race(url: str, folder: Path, race_id: str, start_ts: float, n: int) -> str:
    course = trail_course(20_000.0, n_stations=3)
    race_file = write_race(folder / race_id, course, start_ts)
    gpx = (race_file.parent / "course.gpx").read_bytes()
    body = {
        "id": race_id,
        "race_file": {"text": race_file.read_text(), "suffix": ".yaml"},
        "course_file": {"base64": base64.b64encode(gpx).decode(), "suffix": ".gpx"},
    }
    admin = {"Authorization": f"Bearer {ADMIN}"}
    r = httpx.post(f"{url}/api/races", json=body, headers=admin, timeout=120)
    r.raise_for_status()
    runners = [{"bib": str(i), "devices": [f"{race_id}-{i}"]} for i in range(n)]
    httpx.post(f"{url}/api/races/{race_id}/runners", json={"runners": runners}, headers=admin,
               timeout=120).raise_for_status()  # fmt: skip
    return str(r.json()["ingest_token"])


def field(n: int, fixes_each: int, start_ts: float, interval_s: float, wrong_every: int = 0,
          ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:  # fmt: skip
    course = trail_course(20_000.0, n_stations=3)
    rng = np.random.default_rng(5)
    out = []
    for i in range(n):
        wrong = wrong_every and i % wrong_every == 0
        run = simulate_run(course, pace_mps=float(rng.uniform(2.0, 3.2)), interval_s=interval_s,
                           seed=i, start_ts=start_ts,
                           wrong_turn_at_m=float(rng.uniform(40, 90)) if wrong else None,
                           wrong_turn_angle_deg=80.0)  # fmt: skip
        k = min(fixes_each, len(run.time_s))
        out.append((run.time_s[:k], run.lat[:k], run.lon[:k]))
    return out


async def batched(url: str, token: str, n_runners: int, per_runner: int) -> float:
    runs = field(n_runners, per_runner, time.time() - 86400, 5.0)
    rows = [(float(t[k]), str(i), float(la[k]), float(lo[k]))
            for i, (t, la, lo) in enumerate(runs) for k in range(len(t))]  # fmt: skip
    rows.sort()
    bodies = [json.dumps({"fixes": [{"bib": b, "time": t, "lat": a, "lon": o}
                                    for t, b, a, o in rows[i : i + 2000]]}).encode()
              for i in range(0, len(rows), 2000)]  # fmt: skip
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    acked = 0
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal acked
        while not queue.empty():
            body = queue.get_nowait()
            r = await client.post("/api/races/batch/fixes", content=body, headers=headers)
            acked += r.json()["accepted"]

    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(4)))
    elapsed = time.perf_counter() - t0
    print(f"batched: {acked} fixes of {n_runners} runners in {elapsed:.2f} s: "
          f"{acked / elapsed:,.0f} fixes/s (2,000 per request, 4 connections)")  # fmt: skip
    return acked / elapsed


async def http_get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
                   ) -> int:  # fmt: skip
    """One keep-alive GET on a raw connection (httpx costs more CPU than the server here)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status


async def one_per_fix(port: int, n_runners: int, per_runner: int, limit_s: float) -> float:
    runs = field(n_runners, per_runner, time.time() - 86400, 5.0)
    queries = [
        f"/ingest/osmand?id=osmand-{i}&timestamp={t[k]:.0f}&lat={la[k]:.7f}&lon={lo[k]:.7f}"
        "&speed=5.2&bearing=90&altitude=1000&accuracy=5&batt=80"
        for k in range(per_runner)
        for i, (t, la, lo) in enumerate(runs)
        if k < len(t)
    ]
    n = 0
    ok = 0
    deadline = time.perf_counter() + limit_s

    async def worker(j: int) -> None:
        nonlocal n, ok
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for q in queries[j::32]:  # one runner's fixes stay in order on one connection
            if time.perf_counter() > deadline:
                break
            status = await http_get(reader, writer, q)
            n += 1
            ok += status == 200
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(j) for j in range(32)))
    elapsed = time.perf_counter() - t0
    print(f"one request per fix (OsmAnd): {ok}/{n} acknowledged in {elapsed:.2f} s: "
          f"{ok / elapsed:,.0f} fixes/s (32 keep-alive connections)")  # fmt: skip
    return ok / elapsed


def listen_sse(url: str, token: str, out: list[tuple[str, str, float, float]],
               ready: threading.Event, stop: threading.Event) -> None:  # fmt: skip
    """In its own thread: record (what, bib, fix time, arrival) of every runner's flag and every
    alert for race HQ (an incident update at the alert level) on the stream."""
    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(base_url=url, timeout=None) as sse,
        sse.stream("GET", "/api/races/live/events?kinds=flag,incident", headers=headers) as r,
    ):
        ready.set()
        kind = ""
        try:
            for line in r.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind in ("flag", "incident"):
                    got = time.perf_counter()
                    last = json.loads(line[6:])["updates"][-1]
                    if kind == "flag" or last["level"] == "alert":
                        what = "flag" if kind == "flag" else "alert"
                        out.append((what, str(json.loads(line[6:])["bib"]), last["time_s"], got))
        except httpx.RemoteProtocolError:
            return  # the server shut down while the stream was open: the run is over


def notify_setup(url: str, n: int) -> NtfySink:
    """Every live runner's own channel and race HQ's on a local ntfy server (a CSV roster)."""
    sink = NtfySink()
    sink.start(free_port())
    admin = {"Authorization": f"Bearer {ADMIN}"}
    roster = "bib,notify_runner\n" + "".join(
        f"{i},ntfy://{sink.url}/runner-{i}\n" for i in range(n)
    )
    r = httpx.post(f"{url}/api/races/live/roster", content=roster.encode(), timeout=120,
                   headers={**admin, "Content-Type": "text/csv"})  # fmt: skip
    r.raise_for_status()
    hq = {"hq": [{"url": f"ntfy://{sink.url}/hq"}]}
    httpx.put(f"{url}/api/races/live/contacts", json=hq, headers=admin).raise_for_status()
    return sink


def notify_figures(sink: NtfySink, alerts: list[tuple[str, str, float, float]],
                   sent_at: dict[tuple[str, float], tuple[float, float]]) -> None:  # fmt: skip
    """From the fix that raised a runner's first flag (first alert) to the message on the ntfy
    server: the runner's own channel and race HQ's (digests when HQ is over its rate)."""
    first: dict[tuple[str, str], float] = {}  # (what, bib) -> arrival at the ntfy server
    for m in sink.messages:
        if m["topic"].startswith("runner-"):
            first.setdefault(("flag", m["topic"][7:]), m["perf"])
        else:
            for bib in re.findall(r"Bib (\d+)", m["message"]):
                first.setdefault(("alert", bib), m["perf"])
    raised: dict[tuple[str, str], float] = {}  # (what, bib) -> the fix time of the first one
    for w, b, t, _ in alerts:
        raised.setdefault((w, b), t)
    for what in ("flag", "alert"):
        lat = [first[(w, b)] - sent_at[(b, t)][0] for (w, b), t in raised.items()
               if w == what and (b, t) in sent_at and (w, b) in first]  # fmt: skip
        got = np.array(lat or [0.0]) * 1000.0
        print(f"  fix to {what} notification on the ntfy server, {len(lat)}: from the request "
              f"p50 {np.percentile(got, 50):.0f} ms, p99 {np.percentile(got, 99):.0f} ms, "
              f"max {got.max():.0f} ms; messages {_count(sink, what)}")  # fmt: skip


def _count(sink: NtfySink, what: str) -> int:
    return sum(1 for m in sink.messages if (m["topic"] == "hq") == (what == "alert"))


async def live(url: str, token: str, pid: int, n: int, seconds: int,
               sink: NtfySink | None = None) -> None:  # fmt: skip
    """2,000 runners at 1 Hz: 20 gateways, each posting its 100 runners' fixes once a second,
    spread over the second (trackers do not all report at the same instant)."""
    start = float(int(time.time()) + 3)
    runs = field(n, seconds, start, 1.0, wrong_every=10)
    gateways = [range(j, min(j + 100, n)) for j in range(0, n, 100)]
    bodies = [[json.dumps({"fixes": [
                  {"bib": str(i), "time": float(runs[i][0][k]), "lat": float(runs[i][1][k]),
                   "lon": float(runs[i][2][k])} for i in g if k < len(runs[i][0])]}).encode()
               for g in gateways] for k in range(seconds)]  # fmt: skip
    sent_at: dict[tuple[str, float], tuple[float, float]] = {}
    alerts: list[tuple[str, str, float, float]] = []
    refused: Counter[int] = Counter()
    ready, stop = threading.Event(), threading.Event()
    # race HQ's stream (the flags and incidents are race HQ's: the ingest token reads none)
    listener = threading.Thread(target=listen_sse, args=(url, ADMIN, alerts, ready, stop),
                                daemon=True)  # fmt: skip
    listener.start()
    ready.wait(10)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    cpu0, wall0 = cpu_s(pid), time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def post(g: int, k: int) -> None:
            delay = start + k + g / len(gateways) - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            t_req = time.perf_counter()
            r = await client.post("/api/races/live/fixes", content=bodies[k][g], headers=headers)
            while r.status_code in (429, 503):  # refused at a busy moment: sent again, as
                refused[r.status_code] += 1  # trackers do, after the Retry-After
                await asyncio.sleep(float(r.headers.get("retry-after", "1")))
                r = await client.post("/api/races/live/fixes", content=bodies[k][g],
                                      headers=headers)  # fmt: skip
            t_resp = time.perf_counter()
            r.raise_for_status()
            for i in gateways[g]:
                if k < len(runs[i][0]):
                    sent_at[(str(i), float(runs[i][0][k]))] = (t_req, t_resp)

        for k in range(seconds):
            await asyncio.gather(*(post(g, k) for g in range(len(gateways))))
    cpu = (cpu_s(pid) - cpu0) / (time.perf_counter() - wall0)
    time.sleep(1.0)
    stop.set()
    print(f"live: {n} runners at 1 Hz for {seconds} s: server CPU {100 * cpu:.0f}% of one core; "
          f"batches refused and sent again: {dict(refused) or 0}")  # fmt: skip
    for what in ("flag", "alert"):
        lat = np.array([(got - sent_at[(b, t)][0], got - sent_at[(b, t)][1])
                        for w, b, t, got in alerts if w == what and (b, t) in sent_at])  # fmt: skip
        count = len(lat)  # those raised by a fix this phase sent (not by the clock)
        lat = lat * 1000.0 if count else np.zeros((1, 2))
        resp = np.maximum(lat[:, 1], 0.0)  # it may arrive before its HTTP response
        req = lat[:, 0]
        print(f"  fix to {what} over SSE, {count}: from the HTTP response "
              f"p50 {np.percentile(resp, 50):.0f} ms, p99 {np.percentile(resp, 99):.0f} ms; "
              f"from the request p50 {np.percentile(req, 50):.0f} ms, "
              f"p99 {np.percentile(req, 99):.0f} ms")  # fmt: skip
    if sink is not None:
        time.sleep(2.0)
        notify_figures(sink, alerts, sent_at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (a smoke run)")
    parser.add_argument("--live-s", type=int, default=60, help="seconds of the 1 Hz phase")
    parser.add_argument("--only-live", action="store_true", help="skip the throughput phases")
    parser.add_argument("--notify", action="store_true",
                        help="live phase: every runner and race HQ notified through Apprise "
                             "to a local ntfy server")  # fmt: skip
    parser.add_argument("--notify-per-min", type=float, default=0,
                        help="the server's notify_per_min (default: its own, 6)")  # fmt: skip
    parser.add_argument("--overload", action="store_true",
                        help="5x capacity for 60 s instead (benchmarks/overload.py)")  # fmt: skip
    args, rest = parser.parse_known_args()
    if args.overload:
        import sys

        import overload

        sys.argv = [sys.argv[0], *rest]
        overload.main()
        return
    quick = args.quick
    with tempfile.TemporaryDirectory(prefix="coursewatch-load-") as tmp:
        folder = Path(tmp)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings = {"notify_per_min": str(args.notify_per_min)} if args.notify_per_min else {}
        if args.notify:  # the ntfy server is on loopback
            settings["webhook_allow_private"] = "true"
        proc = start_server(folder, port, **settings)
        try:
            n_live = 200 if quick else 2000
            batch_token = create_race(url, folder, "batch", time.time() - 2 * 86400, 500)
            create_race(url, folder, "osmand", time.time() - 2 * 86400, 0)
            admin = {"Authorization": f"Bearer {ADMIN}"}
            runners = [{"bib": str(i), "devices": [f"osmand-{i}"]} for i in range(200)]
            httpx.post(f"{url}/api/races/osmand/runners", json={"runners": runners},
                       headers=admin, timeout=60).raise_for_status()  # fmt: skip
            live_token = create_race(url, folder, "live", time.time(), n_live)
            if not args.only_live:
                asyncio.run(batched(url, batch_token, 500, 40 if quick else 400))
                asyncio.run(one_per_fix(port, 200, 10 if quick else 100, 30.0))
            sink = notify_setup(url, n_live) if args.notify else None
            seconds = 45 if quick else args.live_s
            asyncio.run(live(url, live_token, proc.pid, n_live, seconds, sink))
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
