"""An ASGI middleware in front of everything: the body size limit and the last-resort 500.

A body larger than the limit is refused with 413 before it is read (from Content-Length) or as
soon as it goes past the limit (chunked bodies). Uploads (``.../upload`` and race creation) get
the larger ``max_upload_bytes``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coursewatch.web.errors import error_body

log = logging.getLogger("coursewatch.web")


def body_limit(scope: Scope, max_body_bytes: int, max_upload_bytes: int) -> int:
    """The largest body a request may send: uploads and race creation get the larger one."""
    path: str = scope["path"]
    big = path.endswith("/upload") or (path == "/api/races" and scope["method"] == "POST")
    return max_upload_bytes if big else max_body_bytes


class BodyTooLarge(Exception):
    pass


NOSNIFF = (b"x-content-type-options", b"nosniff")


class Guard:
    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    def limit(self, scope: Scope) -> int:
        return body_limit(scope, self.max_body_bytes, self.max_upload_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and (len(length) > 15 or int(length) > limit):
            size = int(length) if len(length) <= 15 else 10**15  # 5,000 digits: not an int
            await _send_error(send, 413, "body_too_large", _too_large(size, limit))
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return msg

        async def tracked(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True  # a browser reads every answer as the type it says it is
                msg = {**msg, "headers": [*msg.get("headers", []), NOSNIFF]}
            await send(msg)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if not started:
                await _send_error(send, 413, "body_too_large", _too_large(seen, limit))
        except Exception as exc:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            if not started:
                message = f"the server failed on this request ({type(exc).__name__})"
                await _send_error(send, 500, "internal", message)


def _too_large(size: int, limit: int) -> str:
    return f"the body is {size} bytes or more, over the limit of {limit} bytes"


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    hints = {
        413: "send smaller batches, or raise COURSEWATCH_MAX_BODY_BYTES / MAX_UPLOAD_BYTES",
        500: "nothing acknowledged was lost; retry, and report it if it persists",
    }
    body: Any = error_body(status, code, message, "body" if status == 413 else "", hints[status])
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
