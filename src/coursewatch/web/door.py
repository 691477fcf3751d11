"""Load shedding in the HTTP protocol itself: at capacity, an ingest request is refused from
its request line and headers, before any of the application's work.

Under 5x overload four requests in five are refused. Through the ASGI stack each refusal took
a task, five middleware layers, a body read and two socket writes from the one core that also
serves the accepted fifth. Here it is one write (the gate's own 503, made once, behind the
status line and the server's headers), and the parser drops the rest of its body.

A request that comes whole in one read (its line, headers and body, nothing behind it), on a
connection between requests, is refused from its bytes before the parser sees it
(:func:`whole_ingest_post`): no scope, cycle or event of its own. On a server busy with the
accepted fifth, timed once around ``data_received``, a refusal through the parser took about
60 µs of the core and one before it 34 µs (``benchmarks/door.py``, an idle server: 18 µs
either way).

The decision is the gate's (:meth:`~coursewatch.web.admission.Gate.full`); what the door lets
in is counted (:meth:`~coursewatch.web.admission.Gate.let_in`) until the gate sees it, and is
still admitted, or refused after waiting, by the gate itself.

The protocol is uvicorn's httptools one with its task start wrapped (``uvicorn>=0.45``).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, cast

from starlette.types import Scope
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from coursewatch.web.admission import Gate, ingest_request, is_ingest, overloaded_answer


def shedding_protocol(gate: Gate, all_ingest: bool = False) -> type[HttpToolsProtocol]:
    """uvicorn's ``http`` protocol for an app served behind ``gate`` (``all_ingest``: every
    request is ingest, the OsmAnd port)."""
    return type("SheddingProtocol", (SheddingProtocol,), {"gate": gate, "all_ingest": all_ingest})


class SheddingProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the door; :func:`shedding_protocol` gives it its
    gate."""

    gate: Gate
    all_ingest = False  # every request is ingest (the OsmAnd port)
    refused: RequestResponseCycle | None = None  # answered, its body still arriving
    refused_timer: asyncio.TimerHandle | None = None
    between = True  # the parser is between two requests

    def data_received(self, data: bytes) -> None:
        if self._idle() and self.gate.full() and whole_ingest_post(data, self.all_ingest):
            self.gate.stats["shed"] += 1
            self.gate.stats["shed_at_door"] += 1
            self.gate.stats["shed_unparsed"] += 1
            self.transport.write(refusal(self.server_state.default_headers, True))
            self.server_state.total_requests += 1
            self._unset_keepalive_if_required()  # (as a response completed: armed again)
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )
            return
        super().data_received(data)

    def _idle(self) -> bool:
        """Between requests, every one answered, the client reading its answers."""
        cycle = self.cycle
        return (
            self.between
            and (cycle is None or cycle.response_complete)
            and not self.pipeline
            and not self.flow.write_paused
        )

    def on_message_begin(self) -> None:
        self.between = False
        super().on_message_begin()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        scope = cast(Scope, cycle.scope)
        if app is self.app and (self.all_ingest or is_ingest(scope)):
            if self.gate.full() and self._may_refuse(cycle):
                self.gate.stats["shed"] += 1
                self.gate.stats["shed_at_door"] += 1
                refuse_now(self, cycle)
                self.refused = cycle
                # a body that never comes must not hold the connection: as long as the
                # gate would wait for it
                self.refused_timer = self.loop.call_later(
                    self.gate.limits.body_s, self._drop_refused, cycle
                )
                return
            self.gate.let_in(scope)
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
        self.between = True
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
            self.gate.stats["body_too_slow"] += 1
            self.transport.close()


def refuse_now(protocol: HttpToolsProtocol, cycle: RequestResponseCycle) -> None:
    """Answer the cycle's request 503 at once, as the gate would; the parser drops its body
    (the response is complete) and :meth:`on_message_complete` ends the request."""
    protocol.transport.write(refusal(cycle.default_headers, cycle.keep_alive))
    cycle.response_complete = True


def refusal(default_headers: list[tuple[bytes, bytes]], keep_alive: bool) -> bytes:
    """The gate's 503 as bytes, behind the status line and the server's headers."""
    start, body = overloaded_answer()
    head = [STATUS_LINE[503]]
    for name, value in [*default_headers, *start["headers"]]:
        head += [name, b": ", value, b"\r\n"]
    if not keep_alive:
        head.append(b"connection: close\r\n")
    return b"".join([*head, b"\r\n", body["body"]])


NOT_PLAIN = (b"\r\ntransfer-encoding:", b"\r\nexpect:", b"\r\nupgrade:")
# RFC 9112 strictly, as the parser reads it: a target of URL bytes (no fragment), and header
# lines each a token, a colon and a value of visible bytes, spaces and tabs; anything looser
# (a bare LF or CR, folding, a space before the colon) is the parser's to refuse (400)
TARGET = re.compile(rb"/[A-Za-z0-9\-._~%!$&'()*+,;=:@/?]*")
HEADERS = re.compile(rb"(?:\r\n[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*)*\r\n")


def whole_ingest_post(data: bytes, all_ingest: bool = False) -> bool:
    r"""Whether ``data`` is one whole ingest request and nothing more: ``POST`` in HTTP/1.1 to
    an ingest path, a ``Content-Length`` body all here, no other framing (chunks, ``Expect``,
    ``Upgrade``, a ``Connection`` but keep-alive), every byte of the head as the parser
    would take it. Anything else goes through the parser, which refuses it too (or answers
    400).

    >>> whole_ingest_post(b"POST /api/races/r/fixes HTTP/1.1\r\nHost: x\r\n"
    ...                   b"Content-Length: 2\r\n\r\n{}")
    True
    >>> whole_ingest_post(b"POST /api/races/r/fixes HTTP/1.1\r\nContent-Length: 2\r\n\r\n{")
    False
    >>> whole_ingest_post(b"POST /api/races/r/fixes HTTP/1.1\r\nContent-Length : 2\r\n\r\n{}")
    False
    """
    head_end, line_end = data.find(b"\r\n\r\n"), data.find(b"\r\n")
    if head_end < 0 or not data.startswith(b"POST /"):
        return False
    line = data[:line_end].split(b" ")
    if len(line) != 3 or line[2] != b"HTTP/1.1" or not TARGET.fullmatch(line[1]):
        return False
    path = line[1].partition(b"?")[0].decode("ascii")  # (TARGET: ASCII only)
    if not (all_ingest or ingest_request("POST", path)):
        return False
    head = data[line_end : head_end + 2]  # each header behind a CRLF, and one after
    if not HEADERS.fullmatch(head):
        return False
    head = head.lower()
    if any(name in head for name in NOT_PLAIN) or _value(head, b"connection") not in (
        None, b"keep-alive",
    ):  # fmt: skip
        return False
    length = _value(head, b"content-length")
    return length is not None and length.isdigit() and head_end + 4 + int(length) == len(data)


def _value(head: bytes, name: bytes) -> bytes | None:
    """The value of the one header ``name`` (lower case) in ``head``; None: not there, or more
    than once (b"": two of them, never taken)."""
    key = b"\r\n" + name + b":"
    at = head.find(key)
    if at < 0:
        return None
    if head.find(key, at + 1) >= 0:
        return b""
    return head[at + len(key) : head.find(b"\r\n", at + 2)].strip(b" \t")
