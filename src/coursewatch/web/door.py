"""Load shedding in the HTTP protocol itself: at capacity, an ingest request is refused from
its request line and headers, before any of the application's work.

Under 5x overload four requests in five are refused. Through the ASGI stack each refusal took
a task, five middleware layers, a body read and two socket writes from the one core that also
serves the accepted fifth. Here it is one write (the gate's own 503, made once, behind the
status line and the server's headers), and the parser drops the rest of its body.

The decision is the gate's (:meth:`~coursewatch.web.admission.Gate.full`); what the door lets
in is counted (:meth:`~coursewatch.web.admission.Gate.let_in`) until the gate sees it, and is
still admitted, or refused after waiting, by the gate itself.

The protocol is uvicorn's httptools one with its task start wrapped (``uvicorn>=0.45``).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from starlette.types import Scope
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from coursewatch.web.admission import Gate, is_ingest, overloaded_answer


def shedding_protocol(gate: Gate, all_ingest: bool = False) -> type[HttpToolsProtocol]:
    """uvicorn's ``http`` protocol for an app served behind ``gate`` (``all_ingest``: every
    request is ingest, the OsmAnd port)."""

    class SheddingProtocol(HttpToolsProtocol):
        refused: RequestResponseCycle | None = None  # answered, its body still arriving
        refused_timer: asyncio.TimerHandle | None = None

        def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
            scope = cast(Scope, cycle.scope)
            if app is self.app and (all_ingest or is_ingest(scope)):
                if gate.full() and self._may_refuse(cycle):
                    gate.stats["shed"] += 1
                    gate.stats["shed_at_door"] += 1
                    refuse_now(self, cycle)
                    self.refused = cycle
                    # a body that never comes must not hold the connection: as long as the
                    # gate would wait for it
                    self.refused_timer = self.loop.call_later(
                        gate.limits.body_s, self._drop_refused, cycle
                    )
                    return
                gate.let_in(scope)
            # a keep-alive timer armed when a refused request ended must not cut this one
            self._unset_keepalive_if_required()
            super()._start_asgi_task(cycle, app)

        def _may_refuse(self, cycle: RequestResponseCycle) -> bool:
            """Only a request read just now, whose body is on its way, and only while the
            client reads its answers; anything else goes the gate's way (which waits for
            the client to read, and answers pipelined requests in turn)."""
            return (
                cycle is self.cycle
                and cycle.more_body
                and not self.pipeline
                and not self.flow.write_paused
                and not cycle.waiting_for_100_continue
                and cycle.scope["method"] != "HEAD"
            )

        def on_message_complete(self) -> None:
            cycle = self.refused
            if cycle is None or cycle is not self.cycle:
                super().on_message_complete()
                return
            self.refused = None  # its body is all in, and dropped: the next request may come
            if self.refused_timer is not None:
                self.refused_timer.cancel()
            if cycle.keep_alive:
                cycle.on_response()
            else:
                self.transport.close()

        def _drop_refused(self, cycle: RequestResponseCycle) -> None:
            if self.refused is cycle:
                gate.stats["body_too_slow"] += 1
                self.transport.close()

    return SheddingProtocol


def refuse_now(protocol: HttpToolsProtocol, cycle: RequestResponseCycle) -> None:
    """Answer the cycle's request 503 at once, as the gate would; the parser drops its body
    (the response is complete) and :meth:`on_message_complete` ends the request."""
    start, body = overloaded_answer()
    head = [STATUS_LINE[503]]
    for name, value in [*cycle.default_headers, *start["headers"]]:
        head += [name, b": ", value, b"\r\n"]
    if not cycle.keep_alive:
        head.append(b"connection: close\r\n")
    protocol.transport.write(b"".join([*head, b"\r\n", body["body"]]))
    cycle.response_complete = True
