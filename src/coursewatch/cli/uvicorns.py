"""The uvicorn servers of ``coursewatch serve``: the API's, which handles the signals, and a
quiet second one (the OsmAnd port) in the same process."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn


class SignalServer(uvicorn.Server):
    """The server that handles the signals. uvicorn raises a SIGTERM (systemd, docker stop)
    again once it has served, to the default handler, which ends the process there: race HQ's
    stop (every runner's state stored) never ran. Ended by a signal, it returns instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            getattr(self, "_captured_signals", []).clear()  # (handled: by returning)


class QuietServer(uvicorn.Server):
    """A second uvicorn server in the same process: the first one handles the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
