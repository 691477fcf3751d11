"""``coursewatch replay`` (recordings to a running server) and ``coursewatch demo``."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import httpx

from coursewatch.analysis.near import check_track_days
from coursewatch.cli.history import read_history, send_history
from coursewatch.cli.serve import Client, run_servers, slug
from coursewatch.course import Course
from coursewatch.errors import CoursewatchError, InputError
from coursewatch.formats.inreach import is_inreach
from coursewatch.formats.load import load_track
from coursewatch.incidents import FLAG
from coursewatch.live.racefiles import read_race_files
from coursewatch.live.server import Server
from coursewatch.race import load_race
from coursewatch.settings import load_settings
from coursewatch.sim.field import SimRunner, simulate_field, write_race
from coursewatch.sim.replay import PROTOCOLS, Feed, replay
from coursewatch.sim.simulate import trail_course
from coursewatch.store import RunnerRecord


def register(main: click.Group) -> None:
    main.add_command(replay_command)
    main.add_command(demo)


@click.command("replay")
@click.argument("race_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("tracks", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))  # fmt: skip
@click.option("--speed", default=60.0, show_default=True, help="Times real time.")
@click.option(
    "--protocol",
    type=click.Choice(PROTOCOLS),
    default="osmand",
    show_default=True,
    help="inreach: a Garmin inReach log's own messages (battery, SOS, texts too).",
)
@click.option("--id", "race_id", help="Race id on the server (default: from the race file name).")
@click.option("--url", help="Race HQ address (default http://HOST:PORT from settings).")
@click.option("--token", help="Admin token (default $COURSEWATCH_ADMIN_TOKEN).")
def replay_command(race_file: Path, tracks: tuple[Path, ...], speed: float, protocol: str,
                   race_id: str | None, url: str | None, token: str | None) -> None:  # fmt: skip
    """Feed recordings to a running race HQ as trackers would, at SPEED times real time.

    The race is created on the server if it is not there; each TRACK becomes a runner (bib 1,
    2, ... in the order given) with the device id <race>-<file name>.
    """
    if speed <= 0:
        raise click.BadParameter("must be above 0", param_hint="--speed")
    client = Client(url, token)
    race_id = race_id or slug(race_file.stem)
    text, suffix, course, course_suffix = read_race_files(race_file)
    race = load_race(race_file)
    history = read_history(race_file)  # (the ETAs' history: sent where race HQ has none)
    start = race.start_ts
    feeds = []  # every track read and checked before race HQ is changed at all
    for i, path in enumerate(tracks):
        track = load_track(path)
        check_track_days(race, track, str(path), "is it this race's recording?")
        feed = Feed(str(i + 1), f"{race_id}-{path.stem}"[:128], track.time_s, track.lat, track.lon,
                    _inreach_log(path) if protocol == "inreach" else ())  # fmt: skip
        feeds.append((feed, path.stem))
    if client.exists(f"/api/races/{race_id}"):  # its bibs 1, 2, ... are its runners
        registered = {r["bib"]: r for r in client.call("GET", f"/api/races/{race_id}/runners")
                      ["runners"]}  # fmt: skip
        for feed, _ in feeds:
            theirs = registered.get(feed.bib)
            if theirs is not None and feed.device_id not in theirs.get("devices", []):
                who = theirs["name"] or "no name"
                raise CoursewatchError(
                    f"race {race_id!r} has a bib {feed.bib} of its own ({who}): replay into "
                    f"another race, --id {race_id}-replay"
                )
    else:
        body = {"id": race_id, "race_file": {"text": text, "suffix": suffix},
                "course_file": {"base64": base64.b64encode(course).decode(),
                                "suffix": course_suffix}}  # fmt: skip
        client.call("POST", "/api/races", json=body)
    if history and not client.call("GET", f"/api/races/{race_id}/history")["editions"]:
        send_history(client, race_id, history, race_file)
    for feed, name in feeds:
        runner = {"bib": feed.bib, "name": name, "devices": [feed.device_id]}
        client.call("POST", f"/api/races/{race_id}/runners", json=runner)
    feeds_only = [feed for feed, _ in feeds]
    first = min(float(f.time_s[0]) for f in feeds_only)
    click.echo(f"replaying {len(feeds)} track(s) into {client.url}/api/races/{race_id} at "
               f"{speed:g}x ({protocol})")  # fmt: skip

    async def go() -> None:
        async with httpx.AsyncClient(base_url=client.url, timeout=30.0) as http:
            stats = await replay(http, feeds_only, speed, race_id, protocol, client.token,
                                 t0=max(start, first) if first < start else first)  # fmt: skip
        click.echo(f"sent {stats.sent} fixes, {stats.acknowledged} acknowledged, "
                   f"{stats.failed} failed requests")  # fmt: skip

    asyncio.run(go())


def _inreach_log(path: Path) -> tuple[dict[str, Any], ...]:
    """A Garmin inReach IPC Outbound log's messages, as they came (--protocol inreach)."""
    try:
        obj = json.loads(path.read_bytes())
    except (ValueError, OSError):
        obj = None
    if not is_inreach(obj):
        raise InputError("--protocol inreach replays Garmin inReach IPC Outbound logs (JSON, "
                         "a list of {\"Events\": [...]}): this is not one; give --protocol "
                         "osmand", path)  # fmt: skip
    return tuple(obj) if isinstance(obj, list) else (obj,)


@click.command()
@click.option("--runners", "n_runners", default=50, show_default=True, help="Simulated runners.")
@click.option("--speed", default=60.0, show_default=True, help="Times real time.")
@click.option("--port", type=int, help="Port (default: the port setting, 8080).")
@click.option("--km", default=42.0, show_default=True, help="Course length.")
@click.option("--seed", default=11, show_default=True)
@click.option("--duration", type=float, help="Stop after this many seconds (default: Ctrl-C).")
@click.option("--keep", is_flag=True, help="Keep the demo's files (race, course, store) at exit.")
def demo(n_runners: int, speed: float, port: int | None, km: float, seed: int,
         duration: float | None, keep: bool) -> None:  # fmt: skip
    """Race HQ on a generated race: ~50 simulated runners (some take wrong turns, stop or drop
    out) replayed fast into a fresh server over the OsmAnd protocol. Prints the URL."""
    if speed <= 0 or n_runners < 1:
        raise CoursewatchError("--speed must be above 0 and --runners at least 1")
    folder = Path(tempfile.mkdtemp(prefix="coursewatch-demo-"))
    try:
        asyncio.run(_demo(n_runners, speed, port, km, seed, duration, folder))
    finally:  # (Ctrl-C included) a demo run every day leaves no folders behind
        if keep:
            click.echo(f"kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


async def _demo(n_runners: int, speed: float, port: int | None, km: float, seed: int,
                duration: float | None, folder: Path) -> None:  # fmt: skip
    settings = load_settings()
    # the whole field is replayed from this one address: no per-address rate limit
    settings = replace(settings, db_path=folder / "demo.db", port=port or settings.port,
                       ingest_rate_per_ip=1e9)  # fmt: skip
    start = time.time() + 2.0
    began: list[float] = []  # when the replay began: the race's clock stands still till then

    def clock() -> float:  # the race runs `speed` times faster than the wall clock
        # (from the replay's first moment, not from the setup: a first run compiles the
        # engine for half a minute, which at 60x put the clock 35 race minutes ahead of
        # every runner, "silent 35 min" and every ETA past for the whole demo)
        return start - 2.0 + (time.monotonic() - began[0]) * speed if began else start - 2.0

    course = trail_course(km * 1000.0, seed=seed, n_stations=5)
    race_file = write_race(folder, course, start, name="Coursewatch Demo Trail")
    server = Server(settings, clock=clock)
    started, stop = asyncio.Event(), asyncio.Event()
    serving = asyncio.create_task(run_servers(server, False, started, stop))
    await asyncio.wait({serving, asyncio.create_task(started.wait())},
                       return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
    if serving.done():
        serving.result()  # raises why the server could not start (port in use...)
        return
    field = await _demo_race(server, race_file, course, n_runners, seed, start)
    base = f"http://{settings.host}:{settings.port}"
    _say_where(base, server.admin_token, n_runners, speed, folder)
    feeds = [Feed(r.bib, r.device_id, r.run.time_s, r.run.lat, r.run.lon) for r in field]
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as http:
        began.append(time.monotonic() - 2.0 / speed)  # (the start is 2 s of race time ahead)
        replaying = asyncio.create_task(replay(http, feeds, speed, "demo", "osmand", t0=start))
        putting_out = asyncio.create_task(_put_out(server, field, clock))
        putting_out.add_done_callback(_said)
        done, _ = await asyncio.wait({replaying, serving}, timeout=duration,
                                     return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if replaying in done:
            stats = replaying.result()
            alerts = len(server.incidents("demo"))
            flags = len(server.incidents("demo", level=FLAG))
            click.echo(f"replay finished: {stats.acknowledged} fixes acknowledged, "
                       f"{alerts} incidents for race HQ, {flags} flags for runners; "
                       "serving until Ctrl-C")  # fmt: skip
            if duration is None:
                await serving
                return
            remaining = duration - (time.monotonic() - began[0])
            if remaining > 0:
                await asyncio.wait({serving}, timeout=remaining)
        replaying.cancel()
        putting_out.cancel()
    stop.set()
    await serving


async def _demo_race(
    server: Server, race_file: Path, course: Course, n_runners: int, seed: int, start: float
) -> list[SimRunner]:
    """The demo's race and its field of simulated runners, registered."""
    text, suffix, course_bytes, course_suffix = read_race_files(race_file)
    await server.create_race("demo", text, suffix, course_bytes, course_suffix, public=True)
    field = simulate_field(course, n_runners, seed, start_ts=start)
    for r in field:
        await server.put_runner(RunnerRecord("demo", r.bib, r.name, (r.device_id,)))
    return field


def _say_where(base: str, token: str, n_runners: int, speed: float, folder: Path) -> None:
    click.echo(f"race HQ demo on {base}/  (race 'demo', {n_runners} runners, {speed:g}x)")
    click.echo(f"dashboard (admin): {base}/races/demo?token={token}")
    click.echo(f"public tracking page: {base}/races/demo")
    click.echo(f"runners: {base}/api/races/demo/runners")
    click.echo(f"incidents: {base}/api/races/demo/incidents")
    click.echo(f"live events: {base}/api/races/demo/events   admin token: {token}")
    click.echo(f"files: {folder}  (removed at exit unless --keep)")
    click.echo(f"a runner who drops out is put out (DNF) {DNF_TOLD_S / 60:.0f} race minutes after "
               "their last fix, as an aid station would tell race HQ")  # fmt: skip


DNF_TOLD_S = 2700.0  # the demo's race HQ hears of a drop-out this long after it


def _said(task: asyncio.Task[None]) -> None:
    """Say why the demo's race HQ stopped putting runners out, if it failed."""
    if not task.cancelled() and task.exception() is not None:
        click.echo(f"the demo could not put a runner out: {task.exception()}", err=True)


async def _put_out(server: Server, field: list[SimRunner], clock: Callable[[], float]) -> None:
    """What race HQ does when an aid station says a runner dropped out: puts them out (DNF),
    and their open incidents end (the demo's silent runners piled up cut-off risks)."""
    told = sorted((float(r.run.time_s[-1]) + DNF_TOLD_S, r.bib, r) for r in field
                  if r.fate == "dnf" and len(r.run.time_s))  # fmt: skip
    for at_s, _, r in told:
        while clock() < at_s:
            await asyncio.sleep(0.5)
        await server.put_runner(replace(server.runner("demo", r.bib).record, dnf=True))
