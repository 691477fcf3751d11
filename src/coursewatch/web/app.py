"""The ASGI app: :func:`create_app` for the main port, :func:`osmand_app` for Traccar's port.

Both share one :class:`coursewatch.live.server.Server`; the app's lifespan starts and stops it.
"""

from __future__ import annotations

import contextlib
import resource
import weakref
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp

from coursewatch.live import Server
from coursewatch.web import ingest
from coursewatch.web.admission import Admission, Gate, Limits
from coursewatch.web.errors import HANDLERS
from coursewatch.web.guard import Guard
from coursewatch.web.routes import ENDPOINTS


def _routes() -> list[Route]:
    from coursewatch.web.dashboard import ROUTES as DASHBOARD  # pages, Leaflet, two read views

    return [Route(ep.path, ep.handler, methods=list(ep.methods)) for ep in ENDPOINTS] + DASHBOARD


def create_app(server: Server, manage: bool = True) -> Starlette:
    """The main app. With ``manage`` the app starts and stops ``server`` in its lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage:
            await server.start()
        try:
            yield
        finally:
            if manage:
                await server.stop()

    return _app(server, _routes(), lifespan)


def osmand_app(server: Server) -> Starlette:
    """The OsmAnd protocol at ``/`` on a port of its own (Traccar's 5055), like Traccar."""
    return _app(server, [Route("/", ingest.osmand, methods=["GET", "POST"])], None, True)


_GATES: weakref.WeakKeyDictionary[Server, Gate] = weakref.WeakKeyDictionary()
FDS_KEPT = 200  # file descriptors kept for the database, ingest and webhooks, not streams


def gate_of(server: Server) -> Gate:
    """The admission counters of a server, shared by its apps (main port, OsmAnd port)."""
    gate = _GATES.get(server)
    if gate is None:
        s = server.settings
        fds = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        sse_max = s.sse_max if fds == resource.RLIM_INFINITY else min(s.sse_max, fds - FDS_KEPT)
        limits = Limits(s.ingest_rate_per_ip, s.ingest_concurrency, s.ingest_queue,
                        s.ingest_wait_s, max(1, sse_max), s.sse_max_per_ip,
                        body_s=s.ingest_body_s, body_bytes=s.max_body_bytes,
                        upload_bytes=s.max_upload_bytes)  # fmt: skip
        gate = _GATES[server] = Gate(limits)
    return gate


def _app(
    server: Server, routes: list[Route], lifespan: object, all_ingest: bool = False
) -> Starlette:
    s = server.settings
    handlers = {k: v for k, v in HANDLERS.items() if k is not Exception}
    middleware = [
        Middleware(Admission, gate=gate_of(server), all_ingest=all_ingest),
        Middleware(Guard, max_body_bytes=s.max_body_bytes, max_upload_bytes=s.max_upload_bytes),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=handlers,
        lifespan=lifespan,  # type: ignore[arg-type]
    )
    app.state.server = server
    return app


__all__ = ["ASGIApp", "create_app", "gate_of", "osmand_app"]
