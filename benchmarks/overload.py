"""Overload: race HQ offered 5x what it can take, on loopback. Prints numbers.

``python benchmarks/load.py --overload`` (or this file) starts a real ``coursewatch serve``
with its rate limits out of the way (what is measured is load shedding) and:

One server, set up with every runner's first ``--warm-s`` race seconds (240) sent first, then
three phases back to back. A runner's first minutes cost less (no ETA, no overdue checks yet):
after a warm-up of 60 s, a closed loop of 3 minutes went 379, 358, 342, 353, 329, 302 requests/s
by 10 s, then 296-337 with no trend (2026-12-07). After 240 s, two closed loops showed no such
first minute (305, 274, 273, 344 ...; 300, 269, 291, 284 ...).

1. capacity before: ``--gateways-cap`` connections, each posting the next fixes (one per
   runner, 1 Hz race time) of a gateway's 20 runners as soon as the previous answer came,
   taking turns over all ``--gateways`` gateways (the same runners as the overload), for
   ``--cap-s`` seconds: accepted requests a second;
2. overload: ``--gateways`` gateways, each posting at its share of 5x that rate for
   ``--seconds`` seconds (a gateway whose answer has not come yet sends its next batch when it
   does: one connection each, fixes in order; a refused batch is sent again, as trackers keep
   what was not taken). Printed: offered and accepted requests a second, 503 answers (all with
   Retry-After), latency of the accepted ones (p50, p99: under 1 s), the health check's worst
   answer time (polled every 0.2 s), the server's peak memory (VmHWM) against
   ``--memory-cap-mb``, and whether every fix acknowledged with a 2xx is stored (each runner's
   count read back);
3. capacity after, as 1.

The capacity is the mean of 1 and 3, and the accepted throughput under overload must stay
within 10 % of it. Both are measured on the same server around the overload: the cost of a fix
grows as the store does, and this machine's speed drifts by 10-30 % from one minute to the
next (two servers, one for the capacity and one for the overload, differed by as much).
``--runs N`` repeats the whole on a fresh server each time and pools the runs.

``--paired N`` instead alternates, on one server, ``--slice-s`` seconds of the closed loop and
as long at 5x, N times each (which goes first alternates too): each overload slice is compared
with the closed loop on either side of it, seconds apart, and the slices are pooled.

Requests are raw HTTP/1.1 on keep-alive connections: the client's CPU is small next to the
server's (both share this machine's cores: say how many when you quote the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from load import cpu_s

from coursewatch.sim.field import write_race
from coursewatch.sim.hq import free_port, start_serve
from coursewatch.sim.simulate import trail_course

ADMIN = "overload-admin"
PER_GATEWAY = 20
COURSE = trail_course(60_000.0, n_stations=3)


@dataclass
class Tally:
    codes: Counter[int] = field(default_factory=Counter)
    latency_s: list[float] = field(default_factory=list)  # accepted requests only
    retry_after: Counter[str] = field(default_factory=Counter)
    acked: Counter[str] = field(default_factory=Counter)  # bib -> fixes acknowledged
    sent: int = 0
    partial: Counter[str] = field(default_factory=Counter)  # 2xx with fixes not accepted: why
    accepted_at: list[float] = field(default_factory=list)  # when each 2xx answer came


def body(gateway: int, step: int, start_ts: float, steps_n: int = 1) -> bytes:
    """The gateway's runners' fixes at race seconds ``step``.. (``steps_n`` of them, 1 Hz),
    each runner at its own pace."""
    bibs = range(gateway * PER_GATEWAY, (gateway + 1) * PER_GATEWAY)
    pace = 2.0 + 0.05 * (np.arange(PER_GATEWAY) % 20)
    items = []
    for k in range(step, step + steps_n):
        lat, lon = COURSE.latlon_at(np.minimum(pace * k, COURSE.length_m - 1.0))
        t = start_ts + k
        items += [f'{{"bib":"{b}","time":{t:.1f},"lat":{la:.7f},"lon":{lo:.7f}}}'
                  for b, la, lo in zip(bibs, lat, lon, strict=True)]  # fmt: skip
    return f'{{"fixes":[{",".join(items)}]}}'.encode()


async def post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str,
               data: bytes, token: str) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    head = await reader.readuntil(b"\r\n\r\n")
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    answer = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(head[9:12]), headers, answer


async def gateway(port: int, own: list[int], token: str, start_ts: float, steps: dict[int, int],
                  every_s: float, until: float, tally: Tally) -> None:  # fmt: skip
    """One connection posting the batches of the gateways it owns, in turn: one every
    ``every_s`` (0: back to back). Each gateway's fixes stay in order (``steps``: its next race
    second)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    # connections are not in step with each other: each starts at its own moment of the period
    due = time.perf_counter() + every_s * random.Random(own[0]).random()
    if every_s:
        await asyncio.sleep(due - time.perf_counter())
    k = 0
    try:
        while time.perf_counter() < until:
            g = own[k % len(own)]
            k += 1
            step = steps.get(g, 1)
            t0 = time.perf_counter()
            status, headers, answer = await post(
                reader, writer, "/api/races/o/fixes", body(g, step, start_ts), token
            )
            tally.codes[status] += 1
            tally.sent += 1
            if 200 <= status < 300:
                steps[g] = step + 1  # refused: sent again, as trackers keep what was not taken
                tally.latency_s.append(time.perf_counter() - t0)
                tally.accepted_at.append(time.perf_counter())
                got = json.loads(answer)
                if got["accepted"] != PER_GATEWAY:
                    tally.partial[json.dumps(got["dropped"]) + f" dup {got['duplicates']}"] += 1
                for b in range(g * PER_GATEWAY, (g + 1) * PER_GATEWAY):
                    tally.acked[str(b)] += 1
            elif status == 503:
                tally.retry_after[headers.get("retry-after", "none")] += 1
            due += every_s
            wait = due - time.perf_counter()
            if every_s and wait > 0:
                await asyncio.sleep(wait)
    finally:
        writer.close()


async def warm_up(port: int, token: str, start_ts: float, gateways: list[int], warm_s: int,
                  steps: dict[int, int], tally: Tally) -> None:  # fmt: skip
    """Every runner's first ``warm_s`` race seconds, a gateway's in one request: the capacity is
    then measured on a race under way (a runner's first minute costs less: no ETA and no
    overdue checks yet)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for g in gateways:
            status, _, _ = await post(reader, writer, "/api/races/o/fixes",
                                      body(g, 1, start_ts, warm_s), token)  # fmt: skip
            if not 200 <= status < 300:
                raise RuntimeError(f"warm-up answered {status}")
            steps[g] = warm_s + 1
            for b in range(g * PER_GATEWAY, (g + 1) * PER_GATEWAY):
                tally.acked[str(b)] += warm_s
    finally:
        writer.close()


async def health_poll(url: str, until: float, worst: list[float]) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            await client.get(f"{url}/api/health")
            worst.append(time.perf_counter() - t0)
            await asyncio.sleep(0.2)


def vm_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


async def phase(port: int, token: str, start_ts: float, owners: list[list[int]],
                steps: dict[int, int], every_s: float, seconds: float,
                ) -> tuple[Tally, list[float], float]:  # fmt: skip
    """The tally, the health check's answer times and the phase's length: ``seconds``, or up to
    the last answer if it came after (a request sent just before the end is answered later)."""
    tally, health = Tally(), list[float]()
    start = time.perf_counter()
    until = start + seconds
    jobs = [gateway(port, own, token, start_ts, steps, every_s, until, tally) for own in owners]
    await asyncio.gather(*jobs, health_poll(f"http://127.0.0.1:{port}", until, health))
    return tally, health, max([until, *tally.accepted_at]) - start


def setup(url: str, folder: Path, n_runners: int) -> tuple[str, float]:
    start_ts = float(int(time.time()) - 6 * 3600)  # whole seconds, as the race file says it
    race_file = write_race(folder / "o", COURSE, start_ts)
    gpx = (race_file.parent / "course.gpx").read_bytes()
    admin = {"Authorization": f"Bearer {ADMIN}"}
    r = httpx.post(f"{url}/api/races", headers=admin, timeout=120, json={
        "id": "o", "race_file": {"text": race_file.read_text(), "suffix": ".yaml"},
        "course_file": {"base64": base64.b64encode(gpx).decode(), "suffix": ".gpx"}})  # fmt: skip
    r.raise_for_status()
    runners = [{"bib": str(i)} for i in range(n_runners)]
    httpx.post(f"{url}/api/races/o/runners", json={"runners": runners}, headers=admin,
               timeout=300).raise_for_status()  # fmt: skip
    return str(r.json()["ingest_token"]), start_ts


def stored_counts(url: str) -> dict[str, int]:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    runners = httpx.get(f"{url}/api/races/o/runners", headers=admin, timeout=120).json()
    return {r["bib"]: int(r["fixes"]) for r in runners["runners"]}


def report(name: str, tally: Tally, health: list[float], seconds: float, cpu_used_s: float,
           ) -> float:  # fmt: skip
    ok = sum(n for c, n in tally.codes.items() if 200 <= c < 300)
    lat = np.array(tally.latency_s or [0.0]) * 1e3
    codes = dict(sorted(tally.codes.items()))
    p50, p99 = np.percentile(lat, 50), np.percentile(lat, 99)
    print(f"{name}: offered {tally.sent / seconds:,.0f} requests/s, "
          f"accepted {ok / seconds:,.0f}/s ({ok * PER_GATEWAY / seconds:,.0f} fixes/s); "
          f"answers {codes}; accepted latency p50 {p50:.0f} ms, p99 {p99:.0f} ms; "
          f"health worst {1e3 * max(health or [0.0]):.0f} ms; the server's CPU "
          f"{100 * cpu_used_s / seconds:.0f} % of its core, {ok / max(cpu_used_s, 1e-9):,.0f} "
          f"accepted a CPU second")  # fmt: skip
    if tally.accepted_at and seconds >= 20:
        t = np.array(tally.accepted_at) - min(tally.accepted_at)
        per = np.histogram(t, bins=np.arange(0.0, seconds + 10.0, 10.0))[0] / 10.0
        print(f"  accepted a second, by 10 s: {', '.join(f'{v:.0f}' for v in per)}")
    return ok / seconds


async def _all(jobs: Iterable[Coroutine[Any, Any, None]]) -> None:
    await asyncio.gather(*jobs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the overload")
    ap.add_argument("--cap-s", type=float, default=30.0,
                    help="length of each closed loop, before and after the overload")  # fmt: skip
    ap.add_argument("--runs", type=int, default=1, help="fresh servers, one after the other")
    ap.add_argument(
        "--paired",
        type=int,
        default=0,
        metavar="N",
        help="N slices of closed loop and N of overload, in turns, on one server",
    )
    ap.add_argument("--slice-s", type=float, default=10.0, help="a slice's length (--paired)")
    ap.add_argument("--gateways-cap", type=int, default=16)
    ap.add_argument("--gateways", type=int, default=300)
    ap.add_argument(
        "--warm-s",
        type=int,
        default=240,
        help="race seconds every runner has run before the capacity is measured",
    )
    ap.add_argument("--factor", type=float, default=5.0, help="offered / capacity")
    ap.add_argument("--memory-cap-mb", type=float, default=600.0)
    ap.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                    help="a server setting, e.g. ingest_concurrency=8 (repeatable)")  # fmt: skip
    ap.add_argument("--no-pin", dest="pin", action="store_false",
                    help="do not pin the server to core 0 and the client to core 1")  # fmt: skip
    args = ap.parse_args()
    run(args)


@dataclass
class Race:
    """A fresh server with the race set up and every runner warmed up."""

    proc: subprocess.Popen[bytes]
    folder: Path
    port: int
    token: str
    start_ts: float
    steps: dict[int, int]  # gateway -> its next race second
    acked: Counter[str]  # bib -> fixes acknowledged so far
    rss0_kb: int
    partial: Counter[str] = field(default_factory=Counter)  # 2xx not accepting every fix

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def race(args: argparse.Namespace) -> Iterator[Race]:
    with tempfile.TemporaryDirectory(prefix="coursewatch-overload-") as tmp:
        folder, port = Path(tmp), free_port()
        extra = dict(kv.split("=", 1) for kv in args.setting)
        proc = start_serve(folder, port, ADMIN, tick_s="0", ingest_rate_per_ip="1000000", **extra)
        try:
            token, start_ts = setup(f"http://127.0.0.1:{port}", folder, args.gateways * PER_GATEWAY)
            if args.pin and (os.cpu_count() or 1) >= 2:  # server on core 0, this client on 1
                for task in Path(f"/proc/{proc.pid}/task").iterdir():
                    os.sched_setaffinity(int(task.name), {0})
                os.sched_setaffinity(0, {1})
            r = Race(proc, folder, port, token, start_ts, {}, Counter(), 0)
            warm, t0 = Tally(), time.perf_counter()
            asyncio.run(_all(warm_up(port, token, start_ts, own, args.warm_s, r.steps, warm)
                             for own in shares(args.gateways, 4)))  # fmt: skip
            print(f"warm-up: every runner's first {args.warm_s} s in "
                  f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
            r.acked, r.rss0_kb = warm.acked, vm_kb(proc.pid, "VmRSS")
            yield r
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def shares(gateways: int, connections: int) -> list[list[int]]:
    """Every gateway, dealt to ``connections`` connections that each take turns over theirs."""
    return [list(range(j, gateways, connections)) for j in range(connections)]


def closed_loop(r: Race, args: argparse.Namespace, seconds: float, name: str) -> float:
    owners = shares(args.gateways, args.gateways_cap)
    cpu0 = cpu_s(r.proc.pid)
    tally, health, span_s = asyncio.run(
        phase(r.port, r.token, r.start_ts, owners, r.steps, 0.0, seconds)
    )
    r.acked += tally.acked
    r.partial += tally.partial
    return report(name, tally, health, span_s, cpu_s(r.proc.pid) - cpu0)


def open_loop(r: Race, args: argparse.Namespace, offered: float, seconds: float, name: str,
              ) -> tuple[float, Tally]:  # fmt: skip
    """Every gateway on its own connection, ``offered`` requests a second in all: accepted a
    second, and the tally."""
    owners, every_s = [[g] for g in range(args.gateways)], args.gateways / offered
    cpu0 = cpu_s(r.proc.pid)
    tally, health, span_s = asyncio.run(
        phase(r.port, r.token, r.start_ts, owners, r.steps, every_s, seconds)
    )
    r.acked += tally.acked
    return report(name, tally, health, span_s, cpu_s(r.proc.pid) - cpu0), tally


def run(args: argparse.Namespace) -> None:
    if args.paired:
        paired(args)
        return
    pooled = [once(args) for _ in range(args.runs)]
    if args.runs > 1:
        ratios = ", ".join(f"{100 * a / c:.0f} %" for a, c in pooled)
        total = sum(a for a, _ in pooled) / sum(c for _, c in pooled)
        print(f"# {args.runs} runs: accepted under overload {ratios} of the capacity; pooled "
              f"{100 * total:.0f} %")  # fmt: skip
    where = "server on core 0, client on core 1" if args.pin else "shared"
    print(f"# machine: {os.cpu_count()} cores ({where})")


def paired(args: argparse.Namespace) -> None:
    """Closed loop and overload in turns on one server: accepted a second, pooled."""
    with race(args) as r:
        offered = args.factor * closed_loop(r, args, args.slice_s, "capacity first (closed loop)")
        got: dict[str, list[float]] = {"closed loop": [], "overload": []}
        for k in range(2 * args.paired):
            kind = ("closed loop", "overload")[(k + k // 2) % 2]  # C O O C C O O C ...
            if kind == "closed loop":
                got[kind].append(closed_loop(r, args, args.slice_s, f"slice {k + 1}: {kind}"))
                continue
            name = f"slice {k + 1}: overload ({args.factor:g}x)"
            got[kind].append(open_loop(r, args, offered, args.slice_s, name)[0])
        closed, over = got["closed loop"], got["overload"]
        print(f"# {args.paired} slices of {args.slice_s:g} s each: closed loop "
              f"{np.mean(closed):,.0f} /s, overload {np.mean(over):,.0f} /s: accepted under "
              f"overload {100 * sum(over) / sum(closed):.0f} % of the capacity")  # fmt: skip


def once(args: argparse.Namespace) -> tuple[float, float]:
    """One run on a fresh server: (accepted a second under overload, capacity a second)."""
    with race(args) as r:
        before = closed_loop(r, args, args.cap_s, "capacity before (closed loop)")
        name = f"overload ({args.factor:g}x)"
        accepted, over_t = open_loop(r, args, args.factor * before, args.seconds, name)
        peak_mb = vm_kb(r.proc.pid, "VmHWM") / 1024
        after = closed_loop(r, args, args.cap_s, "capacity after (closed loop)")
        capacity = (before + after) / 2
        print(f"accepted under overload: {100 * accepted / capacity:.0f} % of the capacity "
              f"(mean of before and after; {100 * accepted / before:.0f} % of before, "
              f"{100 * accepted / after:.0f} % of after); "
              f"503 answers with Retry-After: {dict(over_t.retry_after)}")  # fmt: skip
        within = "within" if peak_mb <= args.memory_cap_mb else "OVER"
        print(f"server memory: {r.rss0_kb / 1024:.0f} MB before, peak {peak_mb:.0f} MB "
              f"(cap {args.memory_cap_mb:.0f} MB: {within})")  # fmt: skip
        sizes = {p.name: p.stat().st_size for p in r.folder.glob("hq.db*")}
        print("database on disk: " + ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in
                                                 sorted(sizes.items())))  # fmt: skip
        stored = stored_counts(r.url)
        lost = {b: n - stored.get(b, 0) for b, n in r.acked.items() if stored.get(b, 0) < n}
        print(f"acknowledged fixes: {sum(r.acked.values()):,}; stored: "
              f"{sum(stored.values()):,}; acknowledged but not stored: "
              f"{sum(lost.values())} ({len(lost)} runners)")  # fmt: skip
        admin = {"Authorization": f"Bearer {ADMIN}"}
        gate = httpx.get(f"{r.url}/api/races/o/stats", headers=admin, timeout=60).json()
        print(f"the server's admission counters: {gate['admission']}")
        print(f"2xx answers not accepting every fix: {dict(over_t.partial + r.partial)}")
    return accepted, capacity


if __name__ == "__main__":
    main()
