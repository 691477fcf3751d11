"""What race HQ holds, and taking it out: ``coursewatch race list``, ``race delete``,
``runner delete`` (a rehearsal's race whose trackers the real race now carries, a runner
registered by mistake, the tracks of a race that is over)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import quote

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from coursewatch.cli.serve import Client, _token, _url, race_group, runner
from coursewatch.cli.setup import _runner_path, race_zone
from coursewatch.splits import splits_csv
from coursewatch.units import length


def register(main: click.Group) -> None:
    race_group.add_command(race_list)
    race_group.add_command(race_splits)
    race_group.add_command(race_delete)
    runner.add_command(runner_delete)


def _start(race: dict[str, Any]) -> str:
    return dt.datetime.fromtimestamp(race["start_ts"], race_zone(race)).strftime(
        "%Y-%m-%d %H:%M %z"
    )


@click.command("list")
@_url
@_token
def race_list(url: str | None, token: str | None) -> None:
    """Every race on race HQ: id, name, start, runners, course, public or not."""
    got = Client(url, token).call("GET", "/api/races")
    table = Table("race", "name", "start", "runners", "course", "public", box=None)
    for r in got["races"]:
        km = length(r["course"]["length_m"], r.get("units", "km"))
        table.add_row(escape(r["id"]), escape(r["name"]), _start(r), str(r["runners"]), km,
                      "yes" if r["public"] else "no")  # fmt: skip
    for r in got.get("not_loaded", []):
        table.add_row(escape(r["id"]), f"[red]not loaded: {escape(r['reason'])}[/red]")
    if not got["races"] and not got.get("not_loaded"):
        click.echo("no races yet: create one with `coursewatch race create RACE_FILE`")
        return
    Console(soft_wrap=True).print(table)


@click.command("splits")
@click.argument("race_id")
@click.option("--format", "form", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True, help="csv: the split table a race file's history and "
              "`eta predict` read")  # fmt: skip
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write it to this file (default: print it).")  # fmt: skip
@_url
@_token
def race_splits(race_id: str, form: str, output: str | None, url: str | None,
                token: str | None) -> None:  # fmt: skip
    """Every runner's elapsed time at every station passed, finishers first: the race's
    results so far, and next year's history (a race file's `history:` takes the CSV)."""
    table = Client(url, token).call("GET", f"/api/races/{quote(race_id, safe='')}/splits")
    text = splits_csv(table) if form == "csv" else json.dumps(table, indent=1) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    with open(output, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    done = sum(1 for r in table["runners"] if r["status"] == "finished")
    click.echo(f"{output}: {_count(len(table['runners']), 'runner', 'runners')} "
               f"({done:,} finished), {_count(len(table['stations']), 'station', 'stations')}",
               err=True)  # fmt: skip


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _gone(removed: dict[str, int]) -> str:
    """What went, in race HQ's words: "12 runners, 40,310 fixes, 3 incidents and flags"."""
    words = [("runners", "runner", "runners"), ("devices", "device", "devices"),
             ("fixes", "fix", "fixes"), ("incidents", "incident or flag", "incidents and flags"),
             ("deliveries", "notification", "notifications")]  # fmt: skip
    said = [_count(removed[t], one, many) for t, one, many in words if removed.get(t)]
    return ", ".join(said) or "nothing else was stored"


@click.command("delete")
@click.argument("race_id")
@click.option("--yes", is_flag=True, help="Do not ask: delete.")
@_url
@_token
def race_delete(race_id: str, yes: bool, url: str | None, token: str | None) -> None:
    """Delete a race and everything of it: its runners, their devices (free for another
    race), fixes, incidents and notifications, its webhooks and settings. It cannot be
    undone: keep what you need first (GET .../runners/{bib}/track)."""
    client = Client(url, token)
    path = f"/api/races/{quote(race_id, safe='')}"
    listed = client.call("GET", "/api/races")
    race = next((r for r in listed["races"] if r["id"] == race_id), None)
    if race is None and race_id not in {r["id"] for r in listed.get("not_loaded", [])}:
        client.call("GET", path)  # race HQ's own words for a race that is not there
    if race is not None:
        fixes = client.call("GET", f"{path}/stats")["fixes_stored"]
        counts = f"{_count(race['runners'], 'runner', 'runners')}, {_count(fixes, 'fix', 'fixes')}"
        what = f"race {race_id} ({race['name']}): {counts}"
    else:
        what = f"race {race_id} (not loaded)"
    if not yes:
        click.confirm(f"Delete {what}? This cannot be undone", abort=True)
    removed = client.call("DELETE", path)["removed"]
    click.echo(f"deleted race {race_id}: {_gone(removed)}")


@click.command("delete")
@click.argument("race_id")
@click.argument("bib")
@click.option("--yes", is_flag=True, help="Do not ask: delete.")
@_url
@_token
def runner_delete(race_id: str, bib: str, yes: bool, url: str | None, token: str | None) -> None:
    """Take a runner out of the race: registration, devices (free for another runner),
    fixes, incidents, notifications waiting, feed, contacts and token. To put a runner out
    of the race and keep their track, use `runner dnf`."""
    client = Client(url, token)
    path = _runner_path(race_id, bib)
    shown = client.call("GET", path)
    name = f" ({shown['name']})" if shown.get("name") else ""
    if not yes:
        click.confirm(f"Delete bib {bib}{name} of race {race_id}, with every fix and incident "
                      "of theirs? This cannot be undone", abort=True)  # fmt: skip
    removed = client.call("DELETE", path)["removed"]
    click.echo(f"deleted bib {bib}{name}: {_gone(removed)}")
