"""Shared fixtures: where the real test data lives."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data folder (courses/, tracks/): $COURSEWATCH_DATA_DIR or ../shared/data."""
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    path = Path(os.environ.get("COURSEWATCH_DATA_DIR", str(default))).resolve()
    if not path.is_dir():
        message = f"real test data not found at {path}: set COURSEWATCH_DATA_DIR"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


# Debian's Chromium, kept off the network: no background services, no component updates
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@pytest.fixture(scope="session")
def chromium() -> dict[str, Any]:
    """Playwright launch options for Debian's chromium (scripts/test.sh installs it).

    Skips when it is missing, except under CI=true, where that is a failure.
    """
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        message = "Debian's chromium is not installed: run scripts/test.sh (it installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return {"executable_path": path, "args": list(CHROMIUM_ARGS), "headless": True}


@pytest.fixture
def anyio_backend() -> str:
    """The async tests run on asyncio (the server's loop)."""
    return "asyncio"


@pytest.fixture(autouse=True)
def _dump_tasks_when_stuck() -> Iterator[None]:
    """A test stuck for $COURSEWATCH_STUCK_S seconds writes every asyncio task's stack to
    $COURSEWATCH_STUCK_FILE (pytest holds the test's own output until it ends)."""
    import asyncio
    import threading

    limit = float(os.environ.get("COURSEWATCH_STUCK_S", "0"))
    if not limit:
        yield
        return
    import weakref

    loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
    real_init = asyncio.BaseEventLoop.__init__

    def show(loop: asyncio.AbstractEventLoop) -> None:
        with open(os.environ.get("COURSEWATCH_STUCK_FILE", "stuck.txt"), "a") as out:
            for task in asyncio.all_tasks(loop):
                task.print_stack(file=out)

    def dump() -> None:
        for loop in list(loops):
            if not loop.is_closed():
                loop.call_soon_threadsafe(show, loop)

    def init(self: asyncio.BaseEventLoop) -> None:
        real_init(self)
        loops.add(self)

    timer = threading.Timer(limit, dump)
    timer.daemon = True
    asyncio.BaseEventLoop.__init__ = init  # type: ignore[method-assign]
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        asyncio.BaseEventLoop.__init__ = real_init  # type: ignore[method-assign]


def _postgres() -> Iterator[Any]:
    """A started PostgreSQL (sim/services.py); skips when the package is missing, except
    under CI=true (a failure)."""
    from coursewatch.sim.services import ServiceMissing, postgres

    try:
        with postgres() as pg:
            yield pg
    except ServiceMissing as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server of the test run's own, on loopback (scripts/test.sh installs the
    package): its URL."""
    for pg in _postgres():
        yield pg.url


@pytest.fixture(params=["sqlite", "postgresql"])
def new_store(request: pytest.FixtureRequest) -> Callable[[], str]:
    """Store settings of a test run against each store, one per call: "" (the SQLite file of
    the folder the test gives), then new databases on the test run's PostgreSQL."""
    if request.param == "sqlite":
        return lambda: ""
    from coursewatch.sim.services import fresh_database

    server = request.getfixturevalue("postgres_server")
    return lambda: fresh_database(server)


@pytest.fixture
def store_url(new_store: Callable[[], str]) -> str:
    """The store setting of a test run against each store (see :func:`new_store`)."""
    return new_store()


@pytest.fixture
def own_postgres() -> Iterator[Any]:
    """A PostgreSQL server of the test's own (it may stop and start it)."""
    yield from _postgres()


@pytest.fixture
def ntfy() -> Iterator[Any]:
    """A local ntfy-compatible server (coursewatch.sim.sinks.NtfySink) keeping every message."""
    from coursewatch.sim.hq import free_port
    from coursewatch.sim.sinks import NtfySink

    sink = NtfySink()
    sink.start(free_port())
    yield sink
    sink.stop()
