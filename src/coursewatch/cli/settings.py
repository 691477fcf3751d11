"""``coursewatch settings``: every setting, its value now, where it came from, what it does."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from coursewatch.settings import describe, docs_page, load_settings


def register(main: click.Group) -> None:
    main.add_command(settings)


@click.command()
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "docs"]), default="text",
    show_default=True, help="docs: the page docs/settings.md (defaults, not values now).",
)  # fmt: skip
def settings(fmt: str) -> None:
    """Show every setting (COURSEWATCH_* environment variables), its value and its source."""
    load_settings()  # a value that cannot be used is an error here too, not only at start
    if fmt == "docs":
        click.echo(docs_page(), nl=False)
        return
    values = describe()
    if fmt == "json":
        rows = [{"name": v.setting.name, "env": v.setting.env, "value": v.shown,
                 "source": v.source, "help": v.setting.help} for v in values]  # fmt: skip
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("setting", "value", "source", "what it does", show_lines=False)
    for v in values:
        table.add_row(v.setting.name, v.shown, v.source, v.setting.help)
    Console().print(table)
