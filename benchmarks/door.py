"""What one refusal costs the server: 503s at the door (``web/door.py``) against 503s from the
gate in the ASGI stack. Prints numbers; loopback only, stops by itself.

A uvicorn server (its own process, pinned to core 0) whose gate is full answers every ingest
request 503; 300 keep-alive connections (this process, core 1) post a 20-fix batch each, back
to back, for ``--seconds``. Printed per way: refusals a second and the server's CPU time per
refusal (user + system, from /proc), which is what each one takes from the accepted requests.

Usage: .venv/bin/python benchmarks/door.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from coursewatch.sim.hq import free_port

SERVER = """
import os, sys, uvicorn
from coursewatch.web.admission import Admission, Gate, Limits
from coursewatch.web.door import shedding_protocol

async def other(scope, receive, send):  # what is not ingest (the start-up probe)
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})

gate = Gate(Limits(rate_per_ip=1e9, concurrency=1, queue=0))
gate.working = 1  # the one place is taken for good: every ingest request is refused
if os.cpu_count() >= 2:
    os.sched_setaffinity(0, {0})
way = {"http": shedding_protocol(gate)} if sys.argv[2] == "door" else {}
uvicorn.run(Admission(other, gate), host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning", lifespan="off", **way)
"""

BODY = b'{"fixes":[' + b",".join(
    b'{"bib":"%d","time":1780000000.0,"lat":45.9237000,"lon":6.8694000}' % k for k in range(20)
) + b"]}"  # fmt: skip
REQUEST = (
    b"POST /api/races/r/fixes HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer t\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY
)


async def connection(port: int, until: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            writer.write(REQUEST)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 503"):
                raise RuntimeError(f"expected a 503, got {head[:40]!r}")
            length = next(int(x.split(b":")[1]) for x in head.split(b"\r\n")
                          if x.lower().startswith(b"content-length"))  # fmt: skip
            await reader.readexactly(length)
            counts[0] += 1
    finally:
        writer.close()


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(way: str, seconds: float, connections: int) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port), way])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.05)
        counts = [0]
        before = cpu_s(proc.pid)
        until = time.perf_counter() + seconds

        async def run() -> None:
            await asyncio.gather(*(connection(port, until, counts) for _ in range(connections)))

        asyncio.run(run())
        used = cpu_s(proc.pid) - before
        each_us = 1e6 * used / counts[0]
        print(f"{way:>4}: {counts[0] / seconds:,.0f} refusals/s, server CPU "
              f"{100 * used / seconds:.0f} % of a core, {each_us:.0f} µs a refusal")  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=300)
    args = ap.parse_args()
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {1})
    for way in ("gate", "door"):
        measure(way, args.seconds, args.connections)
    print(f"# machine: {os.cpu_count()} cores (server on core 0, client on core 1)")


if __name__ == "__main__":
    main()
