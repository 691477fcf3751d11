"""``coursewatch serve``, ``coursewatch race create``, ``coursewatch runner add``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import os
import re
import resource
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
import httpx
import uvicorn

from coursewatch.cli.uvicorns import QuietServer, SignalServer
from coursewatch.errors import CoursewatchError
from coursewatch.live.racefiles import read_race_files
from coursewatch.live.server import Server
from coursewatch.settings import Settings, load_settings
from coursewatch.units import length


def register(main: click.Group) -> None:
    main.add_command(serve)
    race = main.commands.get("race")
    if not isinstance(race, click.Group):
        race = race_group
        main.add_command(race)
    race.add_command(race_create)
    main.add_command(runner)


def _settings(**options: Any) -> Settings:
    base = load_settings()
    return replace(base, **{k: v for k, v in options.items() if v is not None})


SWITCH_INTERVAL_S = 0.001
# Python's default (700, 10, 10) ran the cycle collector 70 times a second under load and a
# full pass over every runner's state every 2 s: a fifth of the server's CPU, and the p99
# latency of accepted fixes 180 ms instead of 60 ms (benchmarks/overload.py).
GC_THRESHOLDS = (50_000, 20, 20)


def prepare_process() -> str:
    """The process set for a server: the GIL handed over sooner, the cycle collector run less
    often, the open-file limit raised; says what the limit is now."""
    # The database writer thread hands its GIL back to a busy event loop each statement step
    # and waits up to the switch interval (5 ms by default) for it: under load every write
    # waits on the loop. 1 ms measured more accepted under overload (benchmarks/overload.py).
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    gc.set_threshold(*GC_THRESHOLDS)
    return raise_fd_limit()


def raise_fd_limit() -> str:
    """Raise the open-file limit to what the system allows (every open event stream and
    connection is one); says what it is now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft == resource.RLIM_INFINITY or soft >= want:
        return "unlimited" if soft == resource.RLIM_INFINITY else str(soft)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError) as exc:
        return f"{soft} (could not raise it: {exc})"
    return f"{want} (raised from {soft})"


def _announce(server: Server, fds: str, streams: int) -> None:
    """What ``serve`` prints at start: where it listens, the admin token, the limits, the races
    that could not be loaded."""
    s = server.settings
    where = server.store_name
    click.echo(f"race HQ on http://{s.host}:{s.port}/  (database {where})")
    if s.bus:
        click.echo(f"a web node: fixes go to the bus {s.bus.split('@')[-1]}, where the "
                   "workers (coursewatch worker) match them")  # fmt: skip
    if s.osmand_port:
        click.echo(f"OsmAnd / Traccar Client: http://{s.host}:{s.osmand_port}")
    click.echo(f"admin token: {server.admin_token}", err=True)
    click.echo(f"file descriptors: {fds} (event streams at most {streams})")
    for race_id, r in sorted(server.resumed.items()):
        if r.resumed or r.rebuilt:
            click.echo(f"race {race_id!r}: {r.resumed} runners resumed from their state "
                       f"({r.replayed_fixes} fixes played again), {r.rebuilt} rebuilt from "
                       f"their fixes, {r.raised_again} events raised again, in "
                       f"{r.seconds:.1f} s")  # fmt: skip
    for race_id, why in sorted(server.not_loaded.items()):
        click.echo(f"race {race_id!r} NOT LOADED (kept in the database; send its files "
                   f"again, POST /api/races with its id): {why}", err=True)  # fmt: skip


def check_port_free(host: str, port: int) -> None:
    """CoursewatchError when nothing can listen on ``host:port`` (another race HQ there)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise CoursewatchError(
                f"cannot listen on {host}:{port} ({exc.strerror}): is another race HQ running "
                "there? Stop it, or give another --port"
            ) from None


async def run_servers(
    server: Server,
    announce: bool = True,
    started: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Start ``server`` and serve it on its port (and the OsmAnd port) until a signal (or
    until ``stop`` is set); ``started`` is set once both ports listen."""
    from coursewatch.web.app import create_app, gate_of, osmand_app
    from coursewatch.web.door import shedding_protocol

    s = server.settings
    for port in (s.port, s.osmand_port):  # said now, before a start that prints the address
        if port:
            check_port_free(s.host, port)
    fds = prepare_process()
    await server.start()
    gc.collect()
    gc.freeze()  # what the start built (courses, engines, compiled code) lives as long as we do
    app = create_app(server, manage=False)
    gate = gate_of(server)  # the door (web/door.py) refuses by the gate's counters
    # open event streams (dashboards) never end by themselves: give them 2 s on shutdown
    config = uvicorn.Config(
        app, host=s.host, port=s.port, log_level="warning", lifespan="off",
        timeout_graceful_shutdown=2, http=shedding_protocol(gate),
    )  # fmt: skip
    servers: list[uvicorn.Server] = [SignalServer(config)]
    if s.osmand_port:
        cfg = uvicorn.Config(osmand_app(server), host=s.host, port=s.osmand_port,
                             log_level="warning", lifespan="off", timeout_graceful_shutdown=2,
                             http=shedding_protocol(gate, all_ingest=True))  # fmt: skip
        servers.append(QuietServer(cfg))
    if announce:
        _announce(server, fds, gate.limits.sse_max)

    async def main() -> None:
        await servers[0].serve()
        for other in servers[1:]:
            other.should_exit = True

    async def watch() -> None:
        while not all(x.started for x in servers):
            if any(x.should_exit for x in servers):
                return
            await asyncio.sleep(0.02)
        if started is not None:
            started.set()
        if stop is not None:
            await stop.wait()
            for x in servers:
                x.should_exit = True

    try:
        watcher = asyncio.create_task(watch())
        await asyncio.gather(main(), *(x.serve() for x in servers[1:]))
        watcher.cancel()
    finally:
        await server.stop()


@click.command()
@click.option("--db", "db_path", type=click.Path(path_type=Path), help="SQLite file.")
@click.option("--store", help="PostgreSQL URL instead (postgresql://user:pass@host/db).")
@click.option(
    "--bus", help="Redis URL (redis://host:port/0): one web node of several, with workers."
)
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535),
              help="Port of the API and dashboard (default 8080).")  # fmt: skip
@click.option("--osmand-port", type=click.IntRange(0, 65535),
              help="Also serve OsmAnd at / on this port (5055; 0: not).")  # fmt: skip
def serve(
    db_path: Path | None,
    store: str | None,
    bus: str | None,
    host: str | None,
    port: int | None,
    osmand_port: int | None,
) -> None:
    """Run race HQ: ingest from trackers, follow every runner, raise alerts. With --bus, a web
    node: `coursewatch worker`s match."""
    settings = _settings(
        db_path=db_path, store=store, bus=bus, host=host, port=port, osmand_port=osmand_port
    )
    asyncio.run(run_servers(Server(settings)))


API_HINTS = ("fix the input and send it again", "check the id in the URL")  # (said already)


class Client:
    """The admin API of a running server, for the CLI."""

    def __init__(self, url: str | None, token: str | None) -> None:
        s = load_settings()
        self.url = (url or f"http://{s.host}:{s.port}").rstrip("/")
        self.token = token or os.environ.get("COURSEWATCH_ADMIN_TOKEN") or _token_from_db(s)
        if not self.token:
            raise CoursewatchError(
                "no admin token: pass --token (printed by `coursewatch serve`), set "
                "COURSEWATCH_ADMIN_TOKEN, or COURSEWATCH_DB_PATH to the database `serve --db` "
                f"was given (read here: {s.db_path})"
            )

    def call(self, method: str, path: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        try:
            r = httpx.request(method, self.url + path, headers=headers, timeout=60.0, **kw)
        except httpx.HTTPError as exc:
            raise CoursewatchError(
                f"cannot reach race HQ at {self.url} ({exc}): is `coursewatch serve` running "
                "(on another port: pass --url, or set COURSEWATCH_PORT)?"
            ) from None
        if r.status_code >= 400:
            try:
                err = r.json()["error"]
                message = str(err["message"])
            except (ValueError, KeyError, TypeError):
                message = f"HTTP {r.status_code}: {r.text[:200]}"
            else:  # the API's words for a request's parts are not a CLI user's
                if err.get("where") not in (None, "", "body", "path"):
                    message += f" ({err['where']})"
                if err.get("hint") and err["hint"] not in API_HINTS:
                    message += f": {err['hint']}"
            raise RefusedError(message, r.status_code)
        try:
            return r.json() if r.content else None
        except ValueError:
            raise CoursewatchError(
                f"{self.url} answered something that is not race HQ's JSON (HTTP "
                f"{r.status_code}, {r.headers.get('content-type', 'no type')}): check --url"
            ) from None

    def exists(self, path: str) -> bool:
        """Whether race HQ has what ``path`` names (a race, a runner)."""
        try:
            self.call("GET", path)
        except RefusedError as exc:
            if exc.status == 404:
                return False
            raise
        return True


class RefusedError(CoursewatchError):
    """Race HQ answered with an error (``status``), in its words."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _token_from_db(s: Settings) -> str | None:
    import sqlite3

    if not s.db_path.exists():
        return None
    with contextlib.closing(sqlite3.connect(s.db_path)) as db:
        try:
            row = db.execute("SELECT value FROM meta WHERE key='admin_token'").fetchone()
        except sqlite3.Error:
            return None
    return None if row is None else str(row[0])


_url = click.option("--url", help="Race HQ address (default http://HOST:PORT from settings).")
_token = click.option("--token", help="Admin token (default $COURSEWATCH_ADMIN_TOKEN).")


@click.group("race")
def race_group() -> None:
    """Races on a running race HQ."""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-")[:64] or "race"


@click.command("create")
@click.argument("race_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id", "race_id", help="Race id in URLs (default: from the file name).")
@click.option("--public/--private", default=None,
              help="Anyone may follow the race (positions, statuses, splits; not race HQ's "
                   "incidents), or not (default: a new race is private, an existing one stays "
                   "as it is).")  # fmt: skip
@click.option("--replace", "replace_race", is_flag=True,
              help="The race exists: give it this race file and course (its runners, fixes "
                   "and tokens are kept).")  # fmt: skip
@_url
@_token
def race_create(
    race_file: Path,
    race_id: str | None,
    public: bool | None,
    replace_race: bool,
    url: str | None,
    token: str | None,
) -> None:
    """Create a race on race HQ from a race file and the course it names (--replace: change
    an existing race's)."""
    from coursewatch.cli.history import history_after_create, read_history  # (imports this)

    text, suffix, course, course_suffix = read_race_files(race_file)
    history = read_history(race_file)  # every table read before race HQ is changed
    race_id = race_id or slug(race_file.stem)
    client = Client(url, token)
    if not replace_race and client.exists(f"/api/races/{race_id}"):
        raise CoursewatchError(
            f"race HQ already has a race {race_id!r}: give --replace to change its race file "
            "and course (its runners and fixes are kept), or another --id"
        )
    body: dict[str, Any] = {
        "id": race_id,
        "race_file": {"text": text, "suffix": suffix},
        "course_file": {"base64": base64.b64encode(course).decode(), "suffix": course_suffix},
    }
    if public is not None:
        body["public"] = public
    race = client.call("POST", "/api/races", json=body)
    long = length(race["course"]["length_m"], race.get("units", "km"), 2)
    click.echo(f"race {race['id']}: {race['name']}, {long}, {len(race['stations'])} stations")
    click.echo(f"ingest token: {race['ingest_token']}")
    ago_days = (time.time() - race["start_ts"]) / 86_400.0
    if ago_days > 7:  # last year's race file: race HQ's clock read "T+65199h14"
        click.echo(f"note: the race started {ago_days:,.0f} days ago: give this year's start in "
                   "the race file (a recording replayed runs on its own clock)")  # fmt: skip
    page = f"{client.url}/races/{quote(race['id'], safe='')}"
    click.echo(f"race HQ: {page} (open it once with ?token=<admin token>)")
    if race.get("public"):
        click.echo(f"public page: {page}")
    history_after_create(client, race["id"], history, race_file, replace_race)


@click.group()
def runner() -> None:
    """Runners of a race on a running race HQ."""


@runner.command("add")
@click.argument("race_id")
@click.argument("bib")
@click.option("--name", help="Runner's name.")
@click.option(
    "--device",
    "devices",
    multiple=True,
    help="Tracker id (repeat for several; given, they replace the runner's).",
)
@click.option("--start", help="Own start (a wave): ISO 8601 or HH:MM, the race's clock if no zone.")
@_url
@_token
def runner_add(
    race_id: str,
    bib: str,
    name: str | None,
    devices: tuple[str, ...],
    start: str | None,
    url: str | None,
    token: str | None,
) -> None:
    """Register a runner (bib, name, tracker device ids), or change what is given of one
    registered (what is not given is kept)."""
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if devices:
        body["devices"] = list(devices)
    if start:
        body["start"] = start
    client = Client(url, token)
    path = f"/api/races/{quote(race_id, safe='')}/runners"
    if client.exists(f"{path}/{quote(bib, safe='')}"):
        client.call("PATCH", f"{path}/{quote(bib, safe='')}", json=body)
        click.echo(f"bib {bib} of {race_id} updated: {', '.join(body) or 'nothing given'}")
        return
    client.call("POST", path, json={"bib": bib, **body})
    click.echo(
        f"bib {bib} registered in {race_id}" + (f" ({', '.join(devices)})" if devices else "")
    )
