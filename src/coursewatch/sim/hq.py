"""Race HQ in-process, for tests and benchmarks: a server on a temporary database, an httpx
client wired to the app (no socket), and a generated race to work on.

>>> import asyncio, tempfile, pathlib
>>> async def demo() -> int:
...     with tempfile.TemporaryDirectory() as d:
...         async with hq(pathlib.Path(d)) as (server, client):
...             r = await client.get("/api/health")
...             return r.status_code
>>> asyncio.run(demo())
200
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

from coursewatch.course import Course
from coursewatch.live import Clock, Server, read_race_files
from coursewatch.protocols import Decoded, Fix
from coursewatch.settings import load_settings
from coursewatch.sim.field import write_race

ADMIN = "test-admin-token"


@contextlib.asynccontextmanager
async def hq(
    folder: Path, clock: Clock | None = None, **overrides: Any
) -> AsyncIterator[tuple[Server, httpx.AsyncClient]]:
    """A started server on ``folder/hq.db`` and a client; admin token :data:`ADMIN`. The
    client is every tracker of a replayed race at once, from one address: no per-address rate
    limit unless ``overrides`` set one."""
    from coursewatch.web.app import create_app

    overrides = {"ingest_rate_per_ip": 1e9, **overrides}
    settings = dataclasses.replace(
        load_settings(), db_path=folder / "hq.db", admin_token=ADMIN, tick_s=0.0, **overrides
    )
    kwargs: dict[str, Any] = {"clock": clock} if clock is not None else {}
    server = Server(settings, **kwargs)
    await server.start()
    transport = httpx.ASGITransport(app=create_app(server, manage=False))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://hq") as client:
            yield server, client
    finally:
        await server.stop()


@contextlib.contextmanager
def stops_as_if_killed() -> Iterator[None]:
    """Servers stopped within it stop as kill -9 stops them: no runner's state is stored on
    the way out (the database as the last committed transaction left it)."""
    from unittest import mock

    from coursewatch.live import restart

    async def nothing(*args: object) -> None:
        return None

    with mock.patch.object(restart, "keep_states", nothing):
        yield


async def add_race(
    server: Server, folder: Path, course: Course, race_id: str = "demo", start_ts: float = 0.0
) -> str:
    """Write a race for ``course`` into ``folder`` and create it on the server."""
    race_file = write_race(folder / race_id, course, start_ts or 1_780_000_000.0)
    text, suffix, course_bytes, course_suffix = read_race_files(race_file)
    await server.create_race(race_id, text, suffix, course_bytes, course_suffix)
    return race_id


async def send_run(
    server: Server, bib: str, t: Any, lat: Any, lon: Any, per_request: int,
    now: list[float] | None = None, race_id: str = "demo",
) -> None:  # fmt: skip
    """A runner's fixes (arrays of time, lat, lon) to ``server``, ``per_request`` a request
    over the native API; ``now``: the test's clock, moved to each request's newest fix."""
    fixes = [
        Fix(float(a), float(b), float(c), bib=bib) for a, b, c in zip(t, lat, lon, strict=True)
    ]
    for k in range(0, len(fixes), per_request):
        decoded = Decoded()
        for j, fix in enumerate(fixes[k : k + per_request]):
            decoded.add(fix, j)
        if now is not None:
            now[0] = fixes[min(k + per_request, len(fixes)) - 1].time_s + 2.0
        await server.ingest(functools.partial(_same, decoded), "native", race_id)


def _same(decoded: Decoded) -> Decoded:
    return decoded


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(
    folder: Path, port: int, admin_token: str, timeout_s: float = 120.0, **settings: str
) -> subprocess.Popen[bytes]:
    """A real ``coursewatch serve`` subprocess on 127.0.0.1, database and log in ``folder``.

    Returns once ``/api/health`` answers; ``settings`` are more ``COURSEWATCH_*`` values
    (``tick_s="0"``). Raises RuntimeError with the server's log if it exits or never answers.
    """
    env = {
        **os.environ,
        "COURSEWATCH_DB_PATH": str(folder / "hq.db"),
        "COURSEWATCH_PORT": str(port),
        "COURSEWATCH_HOST": "127.0.0.1",
        "COURSEWATCH_ADMIN_TOKEN": admin_token,
        **{f"COURSEWATCH_{k.upper()}": v for k, v in settings.items()},
    }
    cmd = [sys.executable, "-c", "from coursewatch.cli import main; main()", "serve"]
    log_path = folder / "serve.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
        if proc.poll() is not None:
            raise RuntimeError(f"coursewatch serve exited: {log_path.read_text()}")
    proc.kill()
    raise RuntimeError(f"coursewatch serve did not answer in {timeout_s:.0f} s; see {log_path}")
