"""``coursewatch course info`` and ``coursewatch track info``."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    main.add_command(course)
    main.add_command(track)


@click.group()
def course() -> None:
    """Course files: GPX, KML/KMZ, GeoJSON, FIT, TCX."""


@click.group()
def track() -> None:
    """Recordings and ping logs: GPX, FIT, TCX, GeoJSON, KML, inReach JSON."""
