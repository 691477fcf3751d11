"""Race-director set-up and race-day calls on a running race HQ, without code: ``coursewatch
race roster``, ``race check``, ``race notify``, ``race history``, ``runner feed``, ``runner
notify``, ``runner finish``, ``runner dnf``."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from coursewatch.cli.history import read_history, send_history
from coursewatch.cli.serve import Client, _token, _url, race_group, runner
from coursewatch.errors import CoursewatchError
from coursewatch.units import fmt_duration, km_mi


def register(main: click.Group) -> None:
    for command in (race_roster, race_check, race_notify, race_history):
        race_group.add_command(command)
    for command in (runner_feed, runner_notify, runner_finish, runner_dnf):
        runner.add_command(command)


@click.command("roster")
@click.argument("race_id")
@click.argument("roster", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_url
@_token
def race_roster(race_id: str, roster: Path, url: str | None, token: str | None) -> None:
    """Register runners from a CSV roster: bib, name, start, devices, mapshare, spot (and
    their _password), notify_runner, notify_crew. Refused rows are listed by line."""
    body = roster.read_bytes()
    found = Client(url, token).call(
        "POST", f"/api/races/{race_id}/roster", content=body,
        headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    click.echo(f"{found['added']} runners added, {found['updated']} updated")
    if found["ignored_columns"]:
        more = found.get("ignored_count", 0) - len(found["ignored_columns"])
        click.echo(f"columns ignored: {', '.join(found['ignored_columns'])}"
                   + (f" and {more} more" if more > 0 else ""))  # fmt: skip
    for p in found["refused"]:
        hint = f" ({p['hint']})" if p["hint"] else ""
        click.echo(f"{roster.name}:{p['line']}: bib {p['bib'] or '?'}: {p['message']}{hint}")
    more = found.get("refused_count", 0) - len(found["refused"])
    if more > 0:
        click.echo(f"... and {more} more rows refused (the first {len(found['refused'])} above)")
    if found["refused"]:
        raise SystemExit(1)


@click.command("history")
@click.argument("race_id")
@click.argument("race_file", required=False,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))  # fmt: skip
@click.option("--clear", is_flag=True, help="Remove the history race HQ holds instead.")
@_url
@_token
def race_history(
    race_id: str, race_file: Path | None, clear: bool, url: str | None, token: str | None
) -> None:
    """Send the earlier editions' results the race file lists under history: the server's
    ETAs get intervals from them, and race HQ a dropout risk per runner (``race create``
    sends them too). ``--clear`` (no RACE_FILE) removes it: the runners' own models again."""
    if clear == (race_file is not None):
        raise click.UsageError("give a RACE_FILE to send its history, or --clear to remove it")
    if race_file is None:
        client, path = Client(url, token), f"/api/races/{quote(race_id, safe='')}/history"
        held = [e["edition"] for e in client.call("GET", path)["editions"]]
        client.call("PUT", path, json={"editions": [], "replace": True})
        click.echo(f"race HQ's history of {race_id} removed ({', '.join(held) or 'it held none'})"
                   ": ETAs from each runner's own model")  # fmt: skip
        return
    history = read_history(race_file)
    if not history:
        raise click.UsageError(f"{race_file} lists no history: add a history: section")
    send_history(Client(url, token), race_id, history, race_file)


def _when(ts: float | None, zone: dt.tzinfo) -> str:
    """A time on the race's clock, as race HQ's pages show it."""
    if ts is None:
        return "never"
    return dt.datetime.fromtimestamp(ts, zone).strftime("%a %H:%M:%S")


@click.command("check")
@click.argument("race_id")
@_url
@_token
def race_check(race_id: str, url: str | None, token: str | None) -> None:
    """Per runner: has each device and feed been heard from, and their newest fix."""
    client = Client(url, token)
    got = client.call("GET", f"/api/races/{quote(race_id, safe='')}/check")
    runners = got["runners"]
    race = client.call("GET", f"/api/races/{quote(race_id, safe='')}")
    zone = race_zone(race)
    heard = f"{sum(r['heard'] for r in runners)} of {len(runners)} heard"
    label = _zone_label(zone, race.get("start_ts"))
    table = Table(title=f"{race_id}: {heard} (times on the race's clock, {label})")
    for name in ("bib", "name", "devices", "feed", "newest fix"):
        table.add_column(name)
    for r in sorted(runners, key=lambda r: _bib_order(r["bib"])):
        devices = "\n".join(f"{d['id']}: {_when(d['heard_ts'], zone)}" for d in r["devices"])
        cells = (r["bib"], r["name"], devices or "-", _feed(r["feed"], zone),
                 _when(r["newest_fix_s"], zone))  # fmt: skip
        table.add_row(*map(escape, cells), style=None if r["heard"] else "red")
    console = Console()
    console.print(table)
    strangers = got.get("unknown_devices", [])
    if strangers:
        console.print(f"Heard from {len(strangers)} device(s) no runner has: a tracker id "
                      "typed wrong? Fix it on the tracker, or give it to the runner with "
                      "`runner add RACE BIB --device ID --device ...` (all their devices: the "
                      "list is replaced):", soft_wrap=True)  # fmt: skip
    for d in strangers[:20]:
        like = f": bib {d['like_bib']}'s but for upper/lower case" if d["like_bib"] else ""
        if d.get("published_bib"):  # an inReach's IMEI over OsmAnd: public, so no credential
            like = (f": bib {d['published_bib']}'s satellite messenger, whose id is public: its "
                    "fixes come from its feed or with the ingest token")  # fmt: skip
        console.print(escape(f"  {d['device']} ({d['protocol']}, {d['count']} messages, last "
                             f"{_when(d['last_ts'], zone)}){like}"), soft_wrap=True)  # fmt: skip
    failing = [r["bib"] for r in runners if r["feed"] and r["feed"]["state"] == "error"]
    if failing:  # (what a script checking before the start stops on)
        raise CoursewatchError(f"{len(failing)} feed(s) failing: bib {', '.join(failing)}: see "
                               "the table above")  # fmt: skip


def race_zone(race: dict[str, Any]) -> dt.tzinfo:
    """The race's clock, from its JSON: its time zone by name (daylight saving time too), else
    its start's offset (``utc_offset_s``)."""
    with contextlib.suppress(ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        return ZoneInfo(race["timezone"]) if race.get("timezone") else _fixed(race)
    return _fixed(race)


def _fixed(race: dict[str, Any]) -> dt.tzinfo:
    return dt.timezone(dt.timedelta(seconds=race["utc_offset_s"]))


def _zone_label(zone: dt.tzinfo, at_s: float | None = None) -> str:
    """``UTC-06:00``, or by name: ``America/Denver, MDT``, as at ``at_s`` (the race's start:
    an April race is on summer time whatever the day race HQ checks it), else now."""
    at = dt.datetime.now(zone) if at_s is None else dt.datetime.fromtimestamp(at_s, zone)
    if isinstance(zone, ZoneInfo):
        return f"{zone.key}, {at:%Z}"
    return f"UTC{at.isoformat()[-6:]}"


def _bib_order(bib: str) -> tuple[int, str]:
    """Bibs as people count them: 7 before 31, then the ones that are not numbers."""
    return (int(bib), "") if bib.isdigit() else (1 << 62, bib)


def _feed(feed: dict[str, Any] | None, zone: dt.tzinfo) -> str:
    if feed is None:
        return "-"
    newest = _when(feed["newest_fix_s"], zone)
    said = f"{feed['kind']} {feed['id']}: {feed['state']}, newest fix {newest}"
    if feed["state"] != "error" or not feed["last_error"]:  # (one it got over is no news)
        return said
    return f"{said}\n{feed['last_error']} ({_when(feed.get('last_error_ts'), zone)})"


@click.command("notify")
@click.argument("race_id")
@click.option("--hq", "urls", multiple=True,
              help="Apprise URL of race HQ (repeat); append '#sos' (or '#0') for SOS only, "
                   "'#device' ('#1') for SOS and device messages.")  # fmt: skip
@click.option("--test", is_flag=True, help="Send a test message to each address now.")
@_url
@_token
def race_notify(
    race_id: str, urls: tuple[str, ...], test: bool, url: str | None, token: str | None
) -> None:
    """Who at race HQ is notified of incidents (Apprise URLs: ntfy://, mailto://, tgram://...):
    the URLs given replace the race's list. --test sends each a test message (exit 1 when
    one did not go)."""
    if not urls and not test:
        raise CoursewatchError("give --hq URL (repeat for several), or --test")
    client = Client(url, token)
    if urls:
        _set_hq(client, race_id, urls)
    if test:
        _tested(client, race_id, {})


def _set_hq(client: Client, race_id: str, urls: tuple[str, ...]) -> None:
    hq = []
    for u in urls:
        base, sep, prio = u.rpartition("#")
        level = PRIORITY_WORDS.get(prio.lower()) if sep else None
        if sep and len(prio) == 1 and prio.isdigit():  # (a channel's own #2024 is kept)
            level = int(prio)
        hq.append({"url": u, "priority": 2} if level is None else {"url": base, "priority": level})
    shown = client.call("PUT", f"/api/races/{race_id}/contacts", json={"hq": hq})
    for h in shown["hq"]:
        told = PRIORITY_TOLD.get(h["priority"], f"priority {h['priority']} and more urgent")
        click.echo(f"race HQ: {h['url']} ({told})")


def _tested(client: Client, race_id: str, body: dict[str, str]) -> None:
    """Send the test messages and say what went; exit 1 when one did not."""
    path = f"/api/races/{quote(race_id, safe='')}/contacts/test"
    tested = client.call("POST", path, json=body)["tested"]
    for t in tested:
        said = "test sent" if t["sent"] else f"test NOT sent: {t['error']}"
        click.echo(f"{ROLE_WORDS[t['role']]}: {t['to']}: {said}")
    if not all(t["sent"] for t in tested):
        raise SystemExit(1)


ROLE_WORDS = {"hq": "race HQ", "runner": "runner", "crew": "crew"}


PRIORITY_WORDS = {"sos": 0, "device": 1, "all": 2}  # --hq URL#sos, as #0
PRIORITY_TOLD = {0: "SOS only", 1: "SOS and what devices say", 2: "every incident"}


@click.command("feed")
@click.argument("race_id")
@click.argument("bib")
@click.option("--mapshare", help="MapShare name or address (share.garmin.com/NAME).")
@click.option("--spot", help="SPOT shared page feed id.")
@click.option("--password", default="", help="The map's or feed's password, if it has one.")
@click.option("--off", is_flag=True, help="Stop polling the runner's feed.")
@_url
@_token
def runner_feed(
    race_id: str, bib: str, mapshare: str | None, spot: str | None, password: str, off: bool,
    url: str | None, token: str | None,
) -> None:  # fmt: skip
    """Poll a runner's own satellite tracker feed (Garmin MapShare or SPOT)."""
    client, path = Client(url, token), f"/api/races/{race_id}/runners/{bib}/feed"
    if off:
        client.call("DELETE", path)
        click.echo(f"bib {bib}: feed no longer polled")
        return
    if bool(mapshare) == bool(spot):
        raise CoursewatchError("give --mapshare NAME or --spot FEED_ID (one of them), or --off")
    kind, ident = ("mapshare", mapshare) if mapshare else ("spot", spot)
    shown = client.call("PUT", path, json={"kind": kind, "id": ident, "password": password})
    click.echo(f"bib {bib}: polling {kind} feed {shown['feed']['id']}")  # as shown: no password


@click.command("notify")
@click.argument("race_id")
@click.argument("bib")
@click.option("--runner", "runner_urls", multiple=True, help="The runner's Apprise URL.")
@click.option("--crew", "crew_urls", multiple=True, help="Their crew's Apprise URL.")
@click.option("--test", is_flag=True, help="Send a test message to each address now.")
@_url
@_token
def runner_notify(
    race_id: str, bib: str, runner_urls: tuple[str, ...], crew_urls: tuple[str, ...],
    test: bool, url: str | None, token: str | None,
) -> None:  # fmt: skip
    """Who is told about a runner: the runner (their own flags) and their crew (an option
    left out keeps what is registered; --runner '' or --crew '' takes them out; none: who
    is told now). --test sends each a test message, naming the runner (exit 1 when one did
    not go)."""
    body = {k: [u for u in urls if u.strip()]
            for k, urls in (("runner", runner_urls), ("crew", crew_urls)) if urls}  # fmt: skip
    client = Client(url, token)
    if body or not test:
        how = "PUT" if body else "GET"
        shown = client.call(how, f"{_runner_path(race_id, bib)}/contacts", json=body or None)
        said = {k: ", ".join(shown[k]) or "-" for k in ("runner", "crew")}
        click.echo(f"bib {bib}: runner {said['runner']}; crew {said['crew']}")
    if test:
        _tested(client, race_id, {"bib": bib})


def _runner_path(race_id: str, bib: str) -> str:
    return f"/api/races/{quote(race_id, safe='')}/runners/{quote(bib, safe='')}"


def _race_clock(client: Client, race_id: str, ts: float, start_ts: float) -> str:
    """``ts`` on the race's clock, and as time since the runner's start: "14:05 (T+9:03:12)"."""
    race = client.call("GET", f"/api/races/{quote(race_id, safe='')}")
    zone = race_zone(race)
    clock = dt.datetime.fromtimestamp(ts, zone).strftime("%a %H:%M:%S")
    return f"{clock} (T+{fmt_duration(ts - start_ts)})"


@click.command("finish")
@click.argument("race_id")
@click.argument("bib")
@click.argument("when", metavar="TIME", required=False)
@click.option("--undo", is_flag=True, help="Take back a finish recorded by mistake.")
@click.option("--yes", is_flag=True, help="Do not ask, even for a runner placed far from it.")
@_url
@_token
def runner_finish(
    race_id: str, bib: str, when: str | None, undo: bool, yes: bool, url: str | None,
    token: str | None,
) -> None:  # fmt: skip
    """Record a runner's finish (a timing mat, a marshal: their tracker may have died short
    of the line). TIME: HH:MM[:SS] (or 2:50 PM) on the race's clock (its latest such time),
    ISO 8601 or epoch seconds. Their open incidents end (not an SOS); nothing more is raised
    for them; their crew is told. A runner last placed short of 90 % of the course, or never
    heard from, is asked about first (a bib typed wrong)."""
    if undo and when is not None:
        raise CoursewatchError(f"--undo takes no TIME: `runner finish {race_id} {bib} --undo`")
    if not undo and when is None:
        raise CoursewatchError("give the finish TIME (e.g. 14:05), or --undo to take it back")
    client = Client(url, token)
    before = client.call("GET", _runner_path(race_id, bib))
    if not undo:
        _ask_finish(client, race_id, before, yes)
    shown = client.call("PATCH", _runner_path(race_id, bib), json={"finish": when})
    if undo:
        click.echo(f"bib {bib}: finish taken back; now {shown['status']}")
        return
    at = shown.get("finish_ts")
    said = "" if at is None else " " + _race_clock(client, race_id, at, shown["start_ts"])
    click.echo(f"bib {bib}: finished{said}")


def _ask_finish(client: Client, race_id: str, runner: dict[str, Any], yes: bool) -> None:
    """Before a finish is recorded (and their crew told): not for a runner put out, and
    asked for one whose finish is doubtful (a bib typed wrong), unless ``yes``."""
    bib = runner["bib"]
    if runner.get("status") == "dnf":
        raise CoursewatchError(f"bib {bib} is out of the race (DNF): `runner dnf {race_id} {bib} "
                               "--undo` first, if they finished after all")  # fmt: skip
    far = _far_from_finish(runner, client, race_id)
    if not far or yes:
        return
    try:
        sure = click.confirm(f"{far}: is it the right bib? Record their finish (their crew is "
                             "told)?", default=False, err=True)  # fmt: skip
    except click.Abort:  # no one to answer (a script): as a no
        sure = False
    if not sure:
        raise CoursewatchError(f"bib {bib}: finish not recorded (--yes records it without asking)")


def _far_from_finish(runner: dict[str, Any], client: Client, race_id: str) -> str:
    """What makes a finish recorded for this runner doubtful ("" if nothing)."""
    if runner.get("last_fix") is None:
        return f"bib {runner['bib']} has sent no fix"
    pct = runner.get("progress_pct")
    if pct is None or pct >= 90.0:
        return ""
    race = client.call("GET", f"/api/races/{quote(race_id, safe='')}")
    where = km_mi(runner["progress_m"], lead=race.get("units", "km"), other=False)
    return f"bib {runner['bib']} was last placed at {where}, {pct:.0f} % of the course"


@click.command("dnf")
@click.argument("race_id")
@click.argument("bib")
@click.option("--undo", is_flag=True, help="Take back a DNF given by mistake.")
@_url
@_token
def runner_dnf(race_id: str, bib: str, undo: bool, url: str | None, token: str | None) -> None:
    """Put a runner out of the race (DNF): their open incidents end (not an SOS), nothing
    more is raised for them; --undo opens them again."""
    client = Client(url, token)
    if not undo and client.call("GET", _runner_path(race_id, bib)).get("finish_by") == "race_hq":
        raise CoursewatchError(f"bib {bib} has a recorded finish: `runner finish {race_id} {bib} "
                               "--undo` first, if they did not finish")  # fmt: skip
    shown = client.call("PATCH", _runner_path(race_id, bib), json={"dnf": not undo})
    click.echo(f"bib {bib}: " + (f"back in the race; now {shown['status']}" if undo else "DNF"))
