"""Race HQ on several machines, a worker and a web node killed mid-race. Prints numbers.

Real processes on loopback: a PostgreSQL and a redis-server of their own
(``coursewatch.sim.services``), 2 web nodes (``coursewatch serve --bus ... --store ...``) and
2 matcher workers (``coursewatch worker``). The input: ``--runners`` simulated runners (one in
ten taking a wrong turn) at 1 Hz for ``--minutes`` of race time, sent as a phone gateway
would (100 runners a request, each second's in that second; ``--fast``: as fast as taken), and
the real Dark Sky 220 inReach log of ../shared/data (out of order, duplicated, (0,0) fixes,
its real messages) to ``/ingest/inreach``, spread over the same requests. Requests go to the
two web nodes in turn.

1. **Reference**: one ``coursewatch serve`` on PostgreSQL, never killed.
2. **Failover**: the same input through the nodes; at 40 % of the requests a worker is
   killed (SIGKILL), at 70 % a web node (SIGKILL, a request in flight). A request with no
   answer or a 5xx is sent again to the other web node, as a tracker behind a load balancer
   would. Prints whether every acknowledged fix is stored, the incidents against the
   reference (bib, kind, level, every update and the time of its fix), duplicated incidents,
   and how long after the kill the surviving worker had taken every partition of the dead
   one (its lease runs out after 5 s; printed by the worker, line by line).
3. **Scale** (``--scale``): the same field sent as fast as it is taken to 2 web nodes with 1,
   then 2 workers: fixes a second until stored, and CPU seconds per 1,000 fixes of each
   kind of process (workers, web nodes, PostgreSQL, Redis, this client).
4. **Bad days** (``--down-s 30``; 0: skipped): the nodes at 1 Hz again, Redis stopped for
   that long at 30 % (web nodes answer 503 with Retry-After; the client sends again), and
   PostgreSQL restarted at 70 %: the refusals, whether every acknowledged fix is stored,
   the incidents against the reference.

Usage: COURSEWATCH_DATA_DIR=../shared/data .venv/bin/python benchmarks/failover.py
       [--runners 2000] [--minutes 5] [--fast] [--down-s 30] [--scale]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import load
import redis
from load import cpu_s, create_race, field
from realdata import data_dir
from restart import PING_LAG_S, PINGS, Race, _keys, _race_body, _seen
from restart import Request as Req

from coursewatch.bus.partitions import PARTITIONS, stream_key
from coursewatch.sim.hq import free_port, start_serve
from coursewatch.sim.services import fresh_database, postgres, redis_server

TOKEN = "bench-admin"
STATUS: Counter[tuple[int, bool]] = Counter()  # refusals: (status, with Retry-After) -> count
SETTINGS = {"tick_s": "15", "ingest_rate_per_ip": "1000000"}


def plan(n_runners: int, minutes: float, start: float) -> tuple[list[Req], Race]:
    """Every request in order: the field second by second, the inReach log spread over it."""
    seconds = int(minutes * 60)
    runs = field(n_runners, seconds, start, 1.0, wrong_every=10)
    requests: list[Req] = []
    for k in range(seconds):
        for g in range(0, n_runners, 100):
            fixes = [{"bib": str(i), "time": float(runs[i][0][k]), "lat": float(runs[i][1][k]),
                      "lon": float(runs[i][2][k])}
                     for i in range(g, min(g + 100, n_runners)) if k < len(runs[i][0])]  # fmt: skip
            if fixes:
                path = "/api/races/field/fixes"
                requests.append(Req(float(k), path, {"fixes": fixes}, len(fixes)))
    course_file, log_name = PINGS["darksky"]
    payloads = json.loads((data_dir() / "tracks" / log_name).read_text(encoding="utf-8"))
    imei = "300000000000001"
    for p in payloads:
        for e in p["Events"]:
            e["imei"] = imei
    first = min(e["timeStamp"] for p in payloads for e in p["Events"]) / 1000.0
    darksky = Race("darksky", course_file, first, [{"bib": "1", "devices": [imei]}])
    payloads.sort(key=lambda p: max(e["timeStamp"] for e in p["Events"]) + PING_LAG_S)
    every = max(len(requests) // max(len(payloads), 1), 1)
    for j, p in enumerate(payloads):  # in the order they were sent, among the field's
        at = min(j * (every + 1), len(requests))
        second = requests[min(at, len(requests) - 1)].arrive_s
        requests.insert(at, Req(second, "/ingest/inreach", p, len(p["Events"])))
    return requests, darksky


def start_worker(folder: Path, name: str, store: str, bus: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "COURSEWATCH_STORE": store, "COURSEWATCH_BUS": bus,
           "COURSEWATCH_DB_PATH": str(folder / "unused.db"), "COURSEWATCH_ADMIN_TOKEN": TOKEN,
           **{f"COURSEWATCH_{k.upper()}": v for k, v in SETTINGS.items()}}  # fmt: skip
    cmd = [sys.executable, "-c", "from coursewatch.cli import main; main()", "worker",
           "--name", name]  # fmt: skip
    with (folder / f"{name}.log").open("ab") as log:
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=log)


class Lines:
    """The lines a process writes to its log, each with when it was first seen."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        done = 0
        while not self._stop.is_set():
            text = self.path.read_text(errors="replace") if self.path.exists() else ""
            lines = text.splitlines()
            now = time.monotonic()
            self.seen.extend((now, line) for line in lines[done:])
            done = len(lines)
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def drained(r: redis.Redis) -> bool:
    """Every partition's entries played and acknowledged (the workers delete what they
    acknowledge; a group's lag is not kept exactly across a restart of Redis)."""
    return all(r.xlen(stream_key(p)) == 0 for p in range(PARTITIONS))


def send(requests: list[Req], urls: list[str], kills: dict[int, Any],
         paced: bool) -> tuple[set[tuple[str, str, float]], int]:  # fmt: skip
    """Every request, in turn to each web node (``paced``: each in its second of race time,
    else as fast as they are taken); one not acknowledged is sent again to the other.
    ``kills``: request number -> what to call just before sending it."""
    t0 = time.monotonic()
    acked: set[tuple[str, str, float]] = set()
    resent = 0
    STATUS.clear()
    admin = {"Authorization": f"Bearer {TOKEN}"}  # (the inReach gateway's: any race)
    clients = [httpx.Client(base_url=u, timeout=30, headers=admin) for u in urls]
    alive = list(range(len(urls)))
    try:
        for k, req in enumerate(requests):
            if paced:  # at the race's pace: the second each was sent in
                time.sleep(max(0.0, t0 + req.arrive_s - time.monotonic()))
            dead = kills[k]() if k in kills else None
            node = alive[k % len(alive)] if dead is None else dead
            if dead is not None:  # a web node killed with this request in flight: sent
                alive.remove(dead)  # again to the others, and everything after it
            while True:
                try:
                    r = clients[node].post(req.path, json=req.body)
                    if r.status_code < 300:
                        break
                    STATUS[(r.status_code, "Retry-After" in r.headers)] += 1
                    if r.status_code < 500:
                        raise RuntimeError(f"{req.path}: {r.status_code} {r.text[:200]}")
                except httpx.HTTPError:
                    pass
                resent += 1
                node = alive[(alive.index(node) + 1) % len(alive)] if node in alive else alive[0]
                time.sleep(0.05)
            acked.update(_keys(req))
    finally:
        for c in clients:
            c.close()
    return acked, resent


def setup_races(url: str, folder: Path, n_runners: int, start: float,
                darksky: Race) -> None:  # fmt: skip
    load.ADMIN = TOKEN
    create_race(url, folder, "field", start, n_runners)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    httpx.post(f"{url}/api/races", json=_race_body(darksky), headers=headers,
               timeout=120).raise_for_status()  # fmt: skip
    for runner in darksky.runners:
        httpx.post(f"{url}/api/races/darksky/runners", json=runner, headers=headers,
                   timeout=30).raise_for_status()  # fmt: skip


def results(url: str) -> tuple[dict[str, list[tuple[Any, ...]]], int]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    out, stored = {}, 0
    with httpx.Client(base_url=url, headers=headers, timeout=120) as c:
        for race in ("field", "darksky"):
            for _ in range(20):  # (a 503 while its reads reconnect to a restarted database)
                r = c.get(f"/api/races/{race}/incidents?level=all&limit=100000")
                if r.status_code != 503:
                    break
                print(f"  {r.status_code}: {r.text[:300]}")
                time.sleep(0.5)
            got = r.raise_for_status().json()
            out[race] = _seen(got["incidents"])
            stored += c.get(f"/api/races/{race}/stats").json()["fixes_stored"]
    return out, stored


def reference(requests: list[Req], darksky: Race, n: int, start: float, pg: str,
              paced: bool) -> Any:  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folder, port = Path(tmp), free_port()
        proc = start_serve(folder, port, TOKEN, store=fresh_database(pg), **SETTINGS)
        url = f"http://127.0.0.1:{port}"
        try:
            setup_races(url, folder, n, start, darksky)
            t0 = time.perf_counter()
            acked, _ = send(requests, [url], {}, paced)
            took = time.perf_counter() - t0
            time.sleep(1.0)
            incidents, stored = results(url)
        finally:
            proc.terminate()
            proc.wait(30)
    return incidents, stored, len(acked), took


class Nodes:
    """2 web nodes and ``workers`` workers on one store and one bus."""

    def __init__(self, folder: Path, store: str, bus: str, workers: int) -> None:
        self.folder, self.store, self.bus = folder, store, bus
        self.ports = [free_port(), free_port()]
        self.webs = []
        for k, port in enumerate(self.ports):
            (folder / f"web{k}").mkdir()
            self.webs.append(start_serve(folder / f"web{k}", port, TOKEN, store=store, bus=bus,
                                         **SETTINGS))  # fmt: skip
        self.workers = {f"w{k}": start_worker(folder, f"w{k}", store, bus) for k in range(workers)}
        self.urls = [f"http://127.0.0.1:{p}" for p in self.ports]

    def wait_shared(self, timeout_s: float = 60.0) -> None:
        """Until the workers hold every partition, shared out evenly."""
        r = redis.Redis.from_url(self.bus)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            holders = [r.get(f"cw:lease:{p}") for p in range(PARTITIONS)]
            counts = [holders.count(name.encode()) for name in self.workers]
            if None not in holders and max(counts) - min(counts) <= 1:
                r.close()
                time.sleep(1.0)  # (the last taken caught up)
                return
            time.sleep(0.1)
        raise RuntimeError("the workers did not share the partitions out")

    def wait_drained(self, timeout_s: float = 600.0) -> float:
        r = redis.Redis.from_url(self.bus)
        began = time.perf_counter()
        while not drained(r):
            if time.perf_counter() - began > timeout_s:
                groups = {p: r.xinfo_groups(stream_key(p)) for p in range(PARTITIONS)}
                raise RuntimeError(f"the workers did not play every entry: {groups}")
            time.sleep(0.1)
        r.close()
        return time.perf_counter() - began

    def stop(self) -> None:
        for proc in [*self.webs, *self.workers.values()]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.webs, *self.workers.values()]:
            proc.wait(60)


def failover(requests: list[Req], darksky: Race, n: int, start: float, pg: str,
             redis_url: str, paced: bool) -> Any:  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        nodes = Nodes(folder, fresh_database(pg), redis_url, workers=2)
        try:
            setup_races(nodes.urls[0], folder, n, start, darksky)
            nodes.wait_shared()
            survivor = Lines(folder / "w1.log")
            killed_at: list[float] = []
            before: list[int] = []

            def kill_worker() -> None:
                before.append(len(survivor.seen))
                nodes.workers["w0"].send_signal(signal.SIGKILL)
                killed_at.append(time.monotonic())

            def kill_web() -> int:
                threading.Timer(0.002, nodes.webs[0].send_signal, (signal.SIGKILL,)).start()
                return 0

            kills = {int(len(requests) * 0.4): kill_worker, int(len(requests) * 0.7): kill_web}
            t0 = time.perf_counter()
            acked, resent = send(requests, nodes.urls, kills, paced)
            sent_s = time.perf_counter() - t0
            drain_s = nodes.wait_drained()
            time.sleep(2.0)  # the last runner updates and incidents through the bus
            survivor.stop()
            seen = survivor.seen[before[0] :]
            taken = [(t, line) for t, line in seen if "took partitions" in line]
            incidents, stored = results(nodes.urls[1])
        finally:
            nodes.stop()
    return {"incidents": incidents, "stored": stored, "acked": len(acked), "resent": resent,
            "sent_s": sent_s, "drain_s": drain_s,
            "resume_s": [t - killed_at[0] for t, _ in taken],
            "taken": [line for _, line in taken]}  # fmt: skip


def bad_days(requests: list[Req], darksky: Race, n: int, start: float, pg: Any,
             rs: Any, down_s: float) -> Any:  # fmt: skip
    """The nodes at 1 Hz; at 30 % Redis stopped for ``down_s``, at 70 % PostgreSQL
    restarted (stopped fast, started again)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        nodes = Nodes(folder, fresh_database(pg.url), rs.url, workers=2)
        try:
            setup_races(nodes.urls[0], folder, n, start, darksky)
            nodes.wait_shared()

            def redis_away() -> None:
                rs.stop()
                threading.Timer(down_s, rs.start).start()

            def postgres_restart() -> None:
                pg.stop("fast")
                pg.start()

            kills = {int(len(requests) * 0.3): redis_away,
                     int(len(requests) * 0.7): postgres_restart}  # fmt: skip
            acked, resent = send(requests, nodes.urls, kills, paced=True)
            refused = dict(STATUS)
            drain_s = nodes.wait_drained()
            time.sleep(2.0)
            incidents, stored = results(nodes.urls[1])
        finally:
            nodes.stop()
    return {"incidents": incidents, "stored": stored, "acked": len(acked), "resent": resent,
            "refused": refused, "drain_s": drain_s}  # fmt: skip


def compare(a: dict[str, list[Any]], b: dict[str, list[Any]]) -> tuple[int, int, int]:
    """(incidents in a, differing, duplicated in b)."""
    total = sum(len(v) for v in a.values())
    diff = sum(len(set(a[r]) ^ set(b[r])) for r in a)
    dup = sum(len(b[r]) - len(set(b[r])) for r in b)
    return total, diff, dup


def _cpu(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            out[pid] = cpu_s(pid)
        except OSError:
            continue  # (a backend gone)
    return out


def at_scale(n: int, minutes: float, pg: Any, rs: Any) -> None:
    print(f"\n# 3. scale: {n} runners x {minutes:g} min sent as fast as taken, 2 web nodes")
    start = float(int(time.time() - minutes * 60 - 5))  # (the race file keeps seconds)
    requests, darksky = plan(n, minutes, start)
    redis_url = rs.url
    requests = [r for r in requests if r.path != "/ingest/inreach"]
    fixes = sum(r.fixes for r in requests)
    rates = {}
    for workers in (1, 2):
        redis.Redis.from_url(redis_url).flushdb()
        with tempfile.TemporaryDirectory() as tmp:
            nodes = Nodes(Path(tmp), fresh_database(pg.url), redis_url, workers)
            try:
                setup_races(nodes.urls[0], Path(tmp), n, start, darksky)
                nodes.wait_shared()
                cpu0 = {k: cpu_s(p.pid) for k, p in nodes.workers.items()}
                web0 = [cpu_s(p.pid) for p in nodes.webs]
                db0, redis0, me0 = _cpu(pg.pids()), cpu_s(rs.pid), time.process_time()
                t0 = time.perf_counter()
                send(requests, nodes.urls, {}, paced=False)
                nodes.wait_drained()
                took = time.perf_counter() - t0
                worker_cpu = sum(cpu_s(p.pid) - cpu0[k] for k, p in nodes.workers.items())
                web_cpu = sum(cpu_s(p.pid) - c for p, c in zip(nodes.webs, web0, strict=True))
                db1 = _cpu(pg.pids())
                db_cpu = sum(t - db0.get(pid, 0.0) for pid, t in db1.items())
                redis_cpu, me_cpu = cpu_s(rs.pid) - redis0, time.process_time() - me0
            finally:
                nodes.stop()
        rates[workers] = fixes / took
        per_k = {"workers": worker_cpu, "web nodes": web_cpu, "PostgreSQL": db_cpu,
                 "Redis": redis_cpu, "the client": me_cpu}  # fmt: skip
        print(f"{workers} worker(s): {fixes} fixes stored in {took:.1f} s = {fixes / took:,.0f} "
              "fixes/s; CPU s per 1,000 fixes: "
              + ", ".join(f"{k} {1000 * v / fixes:.3f}" for k, v in per_k.items()))  # fmt: skip
    print(f"2 workers / 1 worker: {rates[2] / rates[1]:.2f}x (machine: {os.cpu_count()} cores, "
          "shared by every process, PostgreSQL, Redis and the client)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runners", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--scale", action="store_true", help="only part 3")
    parser.add_argument("--down-s", type=float, default=30.0,
                        help="part 4: seconds Redis is down (0: no part 4)")  # fmt: skip
    parser.add_argument("--fast", action="store_true",
                        help="parts 1-2 as fast as taken, not at 1 Hz")  # fmt: skip
    args = parser.parse_args()
    with postgres() as pg, redis_server() as rs:
        if args.scale:
            at_scale(args.runners, args.minutes, pg, rs)
            return
        start = float(int(time.time() - args.minutes * 60 - 5))  # (the race file: seconds)
        requests, darksky = plan(args.runners, args.minutes, start)
        fixes = sum(r.fixes for r in requests)
        print(
            f"{args.runners} runners at 1 Hz for {args.minutes:g} min + the Dark Sky inReach "
            f"log: {len(requests)} requests, {fixes} fixes; machine: {os.cpu_count()} cores"
        )
        ref, ref_stored, ref_acked, ref_s = reference(requests, darksky, args.runners, start,
                                                      pg.url, not args.fast)  # fmt: skip
        print(f"\n# 1. one coursewatch serve (PostgreSQL), never killed: {ref_acked} fixes "
              f"acknowledged, {ref_stored} stored, in {ref_s:.0f} s; "
              f"{sum(len(v) for v in ref.values())} incidents")  # fmt: skip
        run = failover(requests, darksky, args.runners, start, pg.url, rs.url, not args.fast)
        total, diff, dup = compare(ref, run["incidents"])
        print("\n# 2. 2 web nodes + 2 workers; a worker SIGKILLed at 40 %, a web node at 70 %")
        print(f"fixes acknowledged {run['acked']}, stored {run['stored']}; {run['resent']} "
              f"requests sent again; sent in {run['sent_s']:.0f} s, the workers done "
              f"{run['drain_s']:.1f} s after the last")  # fmt: skip
        print(f"incidents: {sum(len(v) for v in run['incidents'].values())} against {total} of "
              f"the reference, differing in {diff}, duplicated {dup}")  # fmt: skip
        for race in ref:
            only_ref = sorted(set(ref[race]) - set(run["incidents"][race]))[:5]
            only_run = sorted(set(run["incidents"][race]) - set(ref[race]))[:5]
            if only_ref or only_run:
                print(f"  {race}: only in the reference {only_ref}; only here {only_run}")
        print(
            "the dead worker's partitions taken by the other (lease 5 s): "
            + "; ".join(f"{s:.1f} s after the kill" for s in run["resume_s"])
        )
        for line in run["taken"]:
            print("  worker said: " + line)
        if args.down_s:
            bad = bad_days(requests, darksky, args.runners, start, pg, rs, args.down_s)
            total, diff, dup = compare(ref, bad["incidents"])
            print(
                f"\n# 4. bad days: Redis down {args.down_s:g} s at 30 %, PostgreSQL restarted at "
                "70 %"
            )
            print(
                f"refused: {bad['refused']} ((status, with Retry-After): requests); "
                f"{bad['resent']} sent again; fixes acknowledged {bad['acked']}, stored "
                f"{bad['stored']}; the workers done {bad['drain_s']:.1f} s after the last"
            )
            print(
                f"incidents: {sum(len(v) for v in bad['incidents'].values())} against {total} "
                f"of the reference, differing in {diff}, duplicated {dup}"
            )
            for race in ref:
                only_ref = sorted(set(ref[race]) - set(bad["incidents"][race]))[:5]
                only_bad = sorted(set(bad["incidents"][race]) - set(ref[race]))[:5]
                if only_ref or only_bad:
                    print(f"  {race}: only in the reference {only_ref}; only here {only_bad}")


if __name__ == "__main__":
    main()
