"""Who may do what: the admin token, per-race ingest tokens, public races.

A token comes as ``Authorization: Bearer <token>``, as HTTP Basic auth (the password; what the
OwnTracks app sends) or as ``?token=<token>`` (for clients that can only set a URL). An event
stream also takes it from the cookie ``POST /api/session`` sets: a browser's EventSource sends
no header, and a token in its address would sit in every proxy's access log.

* admin: everything; the token is the ``admin_token`` setting, or generated once and kept.
* ingest: a race's ingest token posts fixes to that race. OsmAnd / Traccar Client cannot send a
  token: there the registered device id is the credential, as in Traccar itself.
* read: race data is readable with the admin token, the race's ingest token, or by anyone when
  the race is public; public views never show device ids or tokens.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from coursewatch.live import LiveRace, Server
from coursewatch.live.access import same_secret
from coursewatch.web.errors import ApiError, error_response


def bearer_of(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header (None: no such header)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value else None


def token_of(request: Request) -> str | None:
    bearer = bearer_of(request)
    if bearer is not None:
        return bearer
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            _, _, password = base64.b64decode(value).decode().partition(":")
        except (binascii.Error, ValueError):  # not base64, not ASCII, not UTF-8: no token
            return None
        return password or None
    token = request.query_params.get("token")
    # an event stream only, and not one a page in a frame opens (?public: the public's view)
    stream = request.url.path.endswith("/events") and "public" not in request.query_params
    return request.cookies.get(STREAM_COOKIE) if token is None and stream else token


STREAM_COOKIE = "coursewatch_stream"


async def session(request: Request) -> Response:
    """``POST``: keep the token of the request (its ``Authorization: Bearer`` header, never
    the address or a form: no other site can plant one) in an HttpOnly, SameSite=Strict cookie
    that only the event streams read; ``DELETE``: forget it (signed out). Refused from another
    site's page (``Sec-Fetch-Site``)."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise ApiError(403, "forbidden", "a session is set by race HQ's own pages only",
                       "Sec-Fetch-Site", "open the race's page on race HQ's address")  # fmt: skip
    response = JSONResponse({"stream_cookie": request.method == "POST"})
    if request.method == "DELETE":
        response.delete_cookie(STREAM_COOKIE, path="/api/races")
        return response
    token, server = bearer_of(request) or None, server_of(request)
    known = token is not None and (
        same_secret(token, server.admin_token)
        or server.race_by_token(token) is not None
        or server.runner_by_token(token) is not None
    )
    if token is None or not known:  # (and the one kept before is forgotten: not this one)
        hint = "send Authorization: Bearer <token>: race HQ's, a race's or a runner's"
        refused = error_response(401, "unauthorized", "the token is not valid", "Authorization",
                                 hint)  # fmt: skip
        refused.delete_cookie(STREAM_COOKIE, path="/api/races")
        return refused
    https = "https" in (request.url.scheme, request.headers.get("x-forwarded-proto", ""))
    response.set_cookie(STREAM_COOKIE, token, max_age=7 * 86_400, path="/api/races",
                        httponly=True, samesite="strict", secure=https)  # fmt: skip
    return response


def server_of(request: Request) -> Server:
    server: Server = request.app.state.server
    return server


def is_admin(request: Request) -> bool:
    token = token_of(request)
    return token is not None and same_secret(token, server_of(request).admin_token)


def require_admin(request: Request) -> None:
    if token_of(request) is None:
        raise ApiError(
            401,
            "unauthorized",
            "this needs the admin token",
            "Authorization",
            "send Authorization: Bearer <admin token> (printed by `coursewatch serve`)",
        )
    if is_admin(request):
        return
    token = token_of(request) or ""
    server = server_of(request)
    if server.race_by_token(token) or server.runner_by_token(token):  # known, not for this
        raise ApiError(
            403,
            "forbidden",
            "an ingest token cannot do this: it needs the admin token",
            "Authorization",
            "use the admin token printed by `coursewatch serve`",
        )
    raise ApiError(
        401,
        "unauthorized",
        "the token is not valid",
        "Authorization",
        "use the admin token printed by `coursewatch serve`",
    )


def has_race_token(request: Request, race: LiveRace) -> bool:
    token = token_of(request)
    return token is not None and same_secret(token, race.record.ingest_token)


def runner_of_token(request: Request, race: LiveRace) -> str | None:
    """The bib whose own token the request carries, for this race (None: it carries none)."""
    token = token_of(request)
    found = server_of(request).runner_by_token(token) if token else None
    return found[1] if found is not None and found[0] is race else None


def reader_check(request: Request, race: LiveRace) -> Callable[[LiveRace], bool] | None:
    """For a reader by token, whether that token still opens the race as it is then (a
    runner's own token is replaced by a new one); None: the request carries no valid one."""
    token = token_of(request)
    if token is None:
        return None
    if has_race_token(request, race):
        return lambda now: same_secret(token, now.record.ingest_token)
    bib = runner_of_token(request, race)
    if bib is None:
        return None
    return lambda now: same_secret(token, now.runner_tokens.get(bib, ""))


def require_read(request: Request, race: LiveRace) -> bool:
    """Allow reading the race; returns True when the caller is admin (sees everything). Anyone
    else reads it through the race's public view (live/privacy.py)."""
    if is_admin(request):
        return True
    if race.record.public or has_race_token(request, race) or runner_of_token(request, race):
        return False
    given = token_of(request) is not None  # (a mistyped token read "the race is not public")
    raise ApiError(
        401,
        "unauthorized",
        f"the token given does not open race {race.id!r}, which is not public"
        if given
        else f"race {race.id!r} is not public",
        "Authorization",
        "send the admin token or the race's ingest token, or make the race public",
    )


def require_ingest(request: Request, race: LiveRace) -> str | None:
    """Allow posting fixes to the race; returns the one bib the caller may post for when it
    carries a runner's own token (None: any runner)."""
    if is_admin(request) or has_race_token(request, race):
        return None
    bib = runner_of_token(request, race)
    if bib is not None:
        return bib
    raise ApiError(
        401,
        "unauthorized",
        f"posting fixes to race {race.id!r} needs its ingest token",
        "Authorization",
        "send Authorization: Bearer <ingest token> or ?token=... (GET /api/races/{race} as admin "
        "shows it)",
    )


def ingest_scope(request: Request) -> tuple[str | None, str | None]:
    """For endpoints without a race in the URL: the race the token opens (None: admin, all),
    and the one bib it may post for (a runner's own token; None: any)."""
    if is_admin(request):
        return None, None
    token = token_of(request)
    server = server_of(request)
    race = server.race_by_token(token) if token else None
    if race is None and token:
        mine = server.runner_by_token(token)
        if mine is not None:
            return mine[0].id, mine[1]
    if race is None:
        raise ApiError(
            401,
            "unauthorized",
            "posting fixes needs a race's ingest token",
            "Authorization",
            "give the race's ingest token as the password (OwnTracks) or ?token=...",
        )
    return race.id, None
