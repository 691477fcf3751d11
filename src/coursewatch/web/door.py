"""Load shedding in the HTTP protocol itself: at capacity, an ingest request is refused from
its request line and headers, before any of the application's work.

Under 5x overload four requests in five are refused. Through the ASGI stack each refusal took
a task, five middleware layers, a body read and two socket writes from the one core that also
serves the accepted fifth. Here it is one write of bytes made once, and the parser drops the
rest of its body. The decision is the gate's (:meth:`~coursewatch.web.admission.Gate.full`);
what the door lets in is counted (:meth:`~coursewatch.web.admission.Gate.let_in`) until the
gate sees it, and is still admitted, or refused after waiting, by the gate itself.

The protocol is uvicorn's httptools one with its task start wrapped (``uvicorn>=0.45``).
"""

from __future__ import annotations

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
        def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
            scope = cast(Scope, cycle.scope)
            if all_ingest or is_ingest(scope):
                if gate.full():
                    gate.stats["shed"] += 1
                    gate.stats["shed_at_door"] += 1
                    refuse_now(self, cycle)
                    return
                gate.let_in(scope)
            super()._start_asgi_task(cycle, app)

    return SheddingProtocol


def refuse_now(protocol: HttpToolsProtocol, cycle: RequestResponseCycle) -> None:
    """Answer the cycle's request 503 at once, as the gate would; the parser drops its body."""
    start, body = overloaded_answer()
    head = [STATUS_LINE[503]]
    for name, value in [*cycle.default_headers, *start["headers"]]:
        head += [name, b": ", value, b"\r\n"]
    if not cycle.keep_alive:
        head.append(b"connection: close\r\n")
    protocol.transport.write(b"".join([*head, b"\r\n", body["body"]]))
    cycle.response_complete = True
    if not cycle.keep_alive:
        protocol.transport.close()
    cycle.on_response()
