"""``coursewatch worker``: a matcher worker of a race HQ on several machines."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path

import click

from coursewatch.cli.serve import _settings, prepare_process
from coursewatch.errors import CoursewatchError
from coursewatch.live.worker import Took, Worker, run_worker


def register(main: click.Group) -> None:
    main.add_command(worker)


def _said(took: Took) -> None:
    click.echo(f"{time.strftime('%H:%M:%S')} took partitions "
               f"{', '.join(map(str, took.partitions))}: {took.runners} "
               f"runners resumed from the store ({took.replayed_fixes} fixes played again), "
               f"{took.claimed} entries claimed, in {took.seconds:.2f} s")  # fmt: skip


async def _run(w: Worker) -> None:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)

    def ready() -> None:
        click.echo(f"worker {w.name}: bus {w.server.settings.bus.split('@')[-1]}, store "
                   f"{w.server.store_name}, {w.partitions} partitions shared with the other "
                   "workers")  # fmt: skip

    with contextlib.suppress(asyncio.CancelledError):  # a signal: stopped cleanly
        await run_worker(w, ready)


@click.command()
@click.option("--bus", help="Redis URL of the bus (redis://host:port/0); or COURSEWATCH_BUS.")
@click.option("--store", help="PostgreSQL URL of the store; or COURSEWATCH_STORE.")
@click.option("--db", "db_path", type=click.Path(path_type=Path), help="SQLite file instead.")
@click.option("--name", help="This worker's name (default: host, process id and a tag).")
def worker(bus: str | None, store: str | None, db_path: Path | None, name: str | None) -> None:
    """Match runners for race HQ on several machines: with `serve --bus`, each worker takes a
    share of the runners, and the others take over those of one that stops or dies."""
    settings = _settings(bus=bus, store=store, db_path=db_path)
    if not settings.bus:
        raise CoursewatchError("a worker needs the bus: give --bus redis://host:port/0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("coursewatch.worker").setLevel(logging.WARNING)  # (its own lines: echoed)
    prepare_process()
    w = Worker(settings, name, on_took=_said)
    asyncio.run(_run(w))
