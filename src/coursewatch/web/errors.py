"""The one JSON error shape of the HTTP API, and the handlers that make every error use it.

::

    {"error": {"status": 400, "code": "invalid_json", "message": "what is wrong",
               "where": "body", "hint": "what to do"}}

Routes raise :class:`ApiError`; library errors (:class:`coursewatch.errors.CoursewatchError`),
Starlette's HTTP errors and anything unexpected are turned into the same shape here.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from coursewatch.errors import CoursewatchError, InputError
from coursewatch.live import NotFound
from coursewatch.store import StoreError, StoreUnavailable

log = logging.getLogger("coursewatch.web")
RETRY_AFTER_S = 5  # the database is away: how long a tracker waits before sending again


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, where: str = "", hint: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.where = where
        self.hint = hint


def error_body(status: int, code: str, message: str, where: str = "", hint: str = "") -> Any:
    return {
        "error": {"status": status, "code": code, "message": message, "where": where, "hint": hint}
    }


def error_response(
    status: int, code: str, message: str, where: str = "", hint: str = ""
) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(status, code, message, where, hint), status, headers=headers)


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.where, exc.hint)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(
            404,
            "not_found",
            f"no such endpoint: {request.url.path}",
            "path",
            "see the API description at /api/openapi.json",
        )
    if exc.status_code == 405:
        return error_response(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed on {request.url.path}",
            "method",
            "see /api/openapi.json for the methods of each endpoint",
        )
    return error_response(exc.status_code, "http_error", str(exc.detail), "", "")


async def on_library_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", str(exc), "path", "check the id in the URL")
    if isinstance(exc, StoreError):
        return error_response(409, "conflict", str(exc), "body", "")
    if isinstance(exc, StoreUnavailable):  # nothing was written: the tracker sends it again
        response = error_response(503, "store_unavailable", str(exc), "", "send again in a moment")
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response
    if isinstance(exc, InputError):
        return error_response(
            422, "invalid_input", exc.detail, exc.path or "body", "fix the input and send it again"
        )
    return error_response(400, "error", str(exc), "", "")


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(
        500,
        "internal",
        f"the server failed on this request ({type(exc).__name__})",
        "",
        "nothing was lost that was acknowledged; retry, and report it if it persists",
    )


HANDLERS: dict[Any, Any] = {
    ApiError: on_api_error,
    HTTPException: on_http_error,
    CoursewatchError: on_library_error,
    Exception: on_unexpected,
}
