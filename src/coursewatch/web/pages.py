"""The few non-API responses: a minimal index page, health, the OpenAPI document."""

from __future__ import annotations

import html
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from coursewatch import __version__
from coursewatch.web.auth import is_admin, server_of


async def index(request: Request) -> Response:
    server = server_of(request)
    admin = is_admin(request)
    # the newest race first, each with its start (a rehearsal beside the real race)
    races = sorted(server.races(), key=lambda r: -r.record.start_ts)
    items = "".join(
        f'<li><a href="/api/races/{html.escape(r.id)}">{html.escape(r.record.name)}</a> '
        f"({r.race.start:%a %d %b %Y %H:%M}, {len(r.runners)} runners) · "
        f'<a href="/api/races/{html.escape(r.id)}/runners">runners</a> · '
        f'<a href="/api/races/{html.escape(r.id)}/incidents">incidents</a> · '
        f'<a href="/api/races/{html.escape(r.id)}/course.geojson">course</a></li>'
        for r in races
        if admin or r.record.public
    )
    page = resources.files("coursewatch.web").joinpath("static/index.html").read_text("utf-8")
    page = page.replace("{{races}}", items or "<li>No public race yet.</li>")
    return HTMLResponse(page.replace("{{version}}", __version__))


async def health(request: Request) -> Response:
    server = server_of(request)
    return JSONResponse({"ok": True, "version": __version__, "races": len(server.races())})


async def openapi(request: Request) -> Response:
    from coursewatch.web.openapi import document

    return JSONResponse(document())
