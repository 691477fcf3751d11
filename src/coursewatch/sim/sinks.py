"""Local receivers of what race HQ sends out, for tests and benchmarks: an ntfy-compatible
HTTP server that keeps every message it is given (and when), on 127.0.0.1; webhook calls
too (their delivery id)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def serve_in_thread(app: Any, port: int) -> uvicorn.Server:
    """A uvicorn server for ``app`` on 127.0.0.1:``port`` in a daemon thread, started."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    return server


@dataclass
class NtfySink:
    """An ntfy server as Apprise's ``ntfy://127.0.0.1:PORT/<topic>`` posts to it: each
    message (topic, title, body, sequence id) kept with the time it came; :meth:`shown`: what
    a subscriber sees (ntfy 2.16+: a message replaces the one with its sequence id)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    delay_s: float = 0.0  # answer this late (a slow channel)
    fail: bool = False  # answer 500
    url: str = ""
    _server: uvicorn.Server | None = None

    def start(self, port: int) -> str:
        app = Starlette(routes=[Route("/{path:path}", self._take, methods=["POST", "PUT"])])
        self._server = serve_in_thread(app, port)
        self.url = f"127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True

    def shown(self) -> list[dict[str, Any]]:
        """The messages as a subscriber's phone shows them: one with the sequence id of an
        earlier one of its topic takes that one's place."""
        kept: dict[tuple[str, Any], dict[str, Any]] = {}
        for k, m in enumerate(self.messages):
            kept[(m["topic"], m["sequence"] or k)] = m
        return list(kept.values())

    async def _take(self, request: Request) -> Response:
        import asyncio

        body = await request.body()
        try:
            obj = json.loads(body)
        except ValueError:
            obj = {"message": body.decode("utf-8", "replace")}
        topic = obj.get("topic") or request.path_params["path"]
        title = obj.get("title") or request.headers.get("x-title", "")
        delivery = request.headers.get("x-coursewatch-delivery")  # a webhook call
        priority = obj.get("priority") or request.headers.get("x-priority")
        sequence = obj.get("sequence_id") or request.headers.get("x-sequence-id")
        self.messages.append({"topic": topic, "title": title, "message": obj.get("message", ""),
                              "at": time.time(), "perf": time.perf_counter(),
                              "delivery": delivery, "priority": priority,
                              "sequence": sequence})  # fmt: skip
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            return JSONResponse({"error": "down"}, status_code=500)
        return JSONResponse({"id": str(len(self.messages)), "event": "message", "topic": topic})
