"""A race file's history (earlier editions' split tables) sent to race HQ: by ``coursewatch
race history``, and by ``race create`` and ``replay`` when the race file lists one."""

from __future__ import annotations

from pathlib import Path

import click

from coursewatch.cli.serve import Client
from coursewatch.errors import CoursewatchError
from coursewatch.race import HistoryEdition, load_race
from coursewatch.splits import read_text

History = list[tuple[HistoryEdition, str]]  # each edition and its table's text


def read_history(race_file: Path) -> History:
    """The history the race file lists, each edition's table read (a command reads them
    before it changes race HQ at all: a file that cannot be read stops it first)."""
    return [(h, read_text(h.results_path)) for h in load_race(race_file).history]


def history_after_create(
    client: Client, race_id: str, history: History, race_file: Path, replaced: bool
) -> None:
    """``race create``'s last step: the race file's history sent; when it lists none on a
    ``--replace``, the history race HQ keeps said."""
    if history:
        send_history(client, race_id, history, race_file)
        return
    kept = client.call("GET", f"/api/races/{race_id}/history")["editions"] if replaced else []
    if kept:
        names = ", ".join(e["edition"] for e in kept)
        click.echo(f"note: race HQ keeps the history it had ({names}): this race file lists none")


def send_history(client: Client, race_id: str, history: History, race_file: Path) -> None:
    """The history sent to race HQ, an edition a request, and what it made of each printed."""
    for i, (h, text) in enumerate(history):
        edition = {"edition": h.edition, "changed": list(h.changed), "text": text}
        try:  # one edition a request: each a body of its own
            found = client.call("PUT", f"/api/races/{race_id}/history",
                                json={"editions": [edition], "replace": i == 0})  # fmt: skip
        except CoursewatchError as exc:
            sent = ", ".join(e.edition for e, _ in history[:i]) or "none"
            raise CoursewatchError(
                f"edition {h.edition}: {exc}; race HQ now holds {sent} of this history: fix "
                f"it and send the history again (coursewatch race history {race_id} "
                f"'{race_file}')"
            ) from None
    for e in found["editions"]:  # the whole history as race HQ now has it
        changed = f", changed into {', '.join(e['changed'])}" if e["changed"] else ""
        click.echo(f"{e['edition']}: {e['runners']} runners, {e['stations_timed']} stations "
                   f"timed{changed}; {e['refused_count']} rows refused")  # fmt: skip
        for line in e["refused"] + e["notes"]:
            click.echo(f"  {line}")
