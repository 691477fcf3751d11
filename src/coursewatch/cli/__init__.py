"""The ``coursewatch`` command: parse arguments, call the library, print. Nothing else.

Each group of commands lives in its own module here and is registered on :data:`main`.
Library errors are caught once, in :class:`Command`, and printed as one line
``error: <file>: <what is wrong and what to do>`` with exit code 1 — never a traceback.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import click

from coursewatch import __version__, jitcache
from coursewatch.errors import CoursewatchError


class Group(click.Group):
    """A click group whose commands turn CoursewatchError into one line and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CoursewatchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


COMPILING = {"analyze", "serve", "demo", "worker", "replay"}  # (they follow runners)
SAY_COMPILING_AFTER_S = 2.0


@click.group(cls=Group)
@click.version_option(__version__, prog_name="coursewatch")
@click.pass_context
def main(ctx: click.Context) -> None:
    """coursewatch: follow runners along a trail course and catch wrong turns in metres."""
    path = "analyze" if ctx.invoked_subcommand == "analyze" else "live"
    if ctx.invoked_subcommand in COMPILING and "--help" not in sys.argv and jitcache.is_cold(path):
        # said once the command is still at it: one that refuses its input at once (a file
        # of another race) compiles nothing, and said so read as the cause of its error
        say = threading.Timer(SAY_COMPILING_AFTER_S, click.echo, ("compiling the course engine "
                              "for this machine: about a minute, the first time only",),
                              {"err": True})  # fmt: skip
        say.daemon = True
        say.start()
        ctx.call_on_close(say.cancel)


def _register() -> None:
    from coursewatch.cli import analyze, eta, info, manage, replay, serve, settings, setup, worker

    info.register(main)
    analyze.register(main)
    eta.register(main)
    serve.register(main)
    setup.register(main)
    manage.register(main)
    replay.register(main)
    settings.register(main)
    worker.register(main)


_register()
