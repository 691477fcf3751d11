"""Refusals in the HTTP protocol (web/door.py), on a real uvicorn server and raw sockets: the
503 is the gate's, the refused body is dropped (never read as a request), the connection
stays usable, and what the door lets in is counted until the gate sees it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from coursewatch.sim.hq import free_port
from coursewatch.web.admission import Admission, Gate, Limits
from coursewatch.web.door import shedding_protocol

pytestmark = pytest.mark.anyio


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers 200 with the body it read."""
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def served() -> AsyncIterator[tuple[int, Gate]]:
    gate = Gate(Limits(concurrency=1, queue=0))
    port = free_port()
    config = uvicorn.Config(Admission(echo, gate), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="off", timeout_keep_alive=1,
                            http=shedding_protocol(gate))  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield port, gate
    server.should_exit = True
    await task


def request(path: str, body: bytes, version: str = "1.1") -> bytes:
    return (f"POST {path} HTTP/{version}\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body  # fmt: skip


async def answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers, body


async def test_at_capacity_an_ingest_request_is_refused_from_its_headers(
    served: tuple[int, Gate],
) -> None:
    port, gate = served
    gate.working = 1  # the one place is taken
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b'{"fixes": []}' + b"GET /evil HTTP/1.1\r\nHost: x\r\n\r\n"
    writer.write(request("/api/races/r/fixes", body)[: -len(body)] + body[:5])
    status, headers, got = await answer(reader)
    assert status == 503 and headers["retry-after"] == "2"
    error = json.loads(got)["error"]
    assert error["code"] == "overloaded" and "retry" in error["hint"]
    writer.write(body[5:])  # the rest of the refused body, late: dropped, never a request
    gate.working = 0
    writer.write(request("/api/races/r/fixes", b"next"))  # the connection still works
    status, _, got = await answer(reader)
    assert (status, got) == (200, b"next")
    assert gate.stats["shed_at_door"] == 1 and gate.stats["shed"] == 1
    assert gate.passed == 0  # let in, then seen by the gate
    writer.close()


async def test_an_idle_connection_after_a_late_refused_body_is_closed(
    served: tuple[int, Gate],
) -> None:
    """The keep-alive timer starts when the refused body is all in, not at its headers."""
    port, gate = served
    gate.working = 1
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    whole = request("/api/races/r/fixes", b"x" * 100)
    writer.write(whole[:-50])
    assert (await answer(reader))[0] == 503
    await asyncio.sleep(0.2)
    writer.write(whole[-50:])
    assert await asyncio.wait_for(reader.read(), 3.0) == b""  # closed after 1 s idle
    writer.close()


async def test_hundreds_of_pipelined_requests_are_each_refused(served: tuple[int, Gate]) -> None:
    port, gate = served
    gate.working = 1
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request("/ingest/x", b"") * 500)
    assert [(await answer(reader))[0] for _ in range(500)] == [503] * 500
    assert gate.stats["shed_at_door"] == 500  # each ended before the next was read: no queue
    gate.working = 0
    writer.write(request("/ingest/x", b"ok"))
    assert (await answer(reader))[::2] == (200, b"ok")
    writer.close()


async def test_head_and_expect_continue_go_the_gate_s_way(served: tuple[int, Gate]) -> None:
    port, gate = served
    gate.working = 1
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"HEAD /ingest/x HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")  # no body after it
    assert head.startswith(b"HTTP/1.1 503")
    writer.write(b"POST /ingest/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                 b"Expect: 100-continue\r\n\r\n")  # fmt: skip
    status, _, _ = await answer(reader)  # refused by the gate, which reads no body
    assert status in (100, 503)
    writer.close()
    assert gate.stats["shed_at_door"] == 0


async def test_other_routes_pass_the_door_at_capacity(served: tuple[int, Gate]) -> None:
    port, gate = served
    gate.working = 1
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request("/api/races/r/runners", b"x"))  # not ingest: the gate does not count it
    assert (await answer(reader))[0] == 200
    writer.close()


async def test_http_1_0_is_refused_and_closed(served: tuple[int, Gate]) -> None:
    port, gate = served
    gate.working = 1
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request("/api/races/r/fixes", b"{}", version="1.0"))
    status, headers, _ = await answer(reader)
    assert status == 503 and headers["connection"] == "close"
    assert await reader.read() == b""  # closed by the server
    writer.close()


async def test_requests_let_in_are_counted_until_the_gate_sees_them() -> None:
    """All the requests of one read from the network pass the door before the first reaches
    the gate: the door counts them, so a burst is refused at the door, not after its bodies
    were read."""
    gate = Gate(Limits(concurrency=1, queue=1))
    scopes: list[Scope] = [{"path": "/ingest/x", "method": "POST"} for _ in range(2)]
    assert not gate.full()
    gate.let_in(scopes[0])
    assert not gate.full()  # one working, one waiting: room for one more
    gate.let_in(scopes[1])
    assert gate.full() and gate.passed == 2

    async def ok(scope: Scope, receive: Receive, send: Send) -> None:
        assert gate.working == 1 and gate.full()  # the other holds the one waiting place

    async def nothing() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    await gate.ingest(ok, {**scopes[0], "client": ("127.0.0.1", 1), "headers": []},
                      nothing, lambda m: asyncio.sleep(0))  # type: ignore[arg-type]  # fmt: skip
    assert gate.passed == 1 and gate.working == 0


async def test_a_refused_body_that_never_comes_does_not_hold_the_connection() -> None:
    gate = Gate(Limits(concurrency=1, queue=0, body_s=0.3))
    gate.working = 1
    port = free_port()
    config = uvicorn.Config(Admission(echo, gate), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="off",
                            http=shedding_protocol(gate))  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request("/ingest/x", b"x" * 100)[:-100])  # the headers, then nothing
    assert (await answer(reader))[0] == 503
    assert await asyncio.wait_for(reader.read(), 3.0) == b""  # closed after body_s
    assert gate.stats["body_too_slow"] == 1
    writer.close()
    server.should_exit = True
    await task


async def test_a_whole_request_between_requests_is_refused_before_the_parser(
    served: tuple[int, Gate],
) -> None:
    """One read holding one whole request is answered from its bytes; the connection stays
    open while the client keeps sending, closes a keep-alive (1 s) after the last answer, and
    serves the next request when the gate has room."""
    port, gate = served
    gate.working = 1
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(3):  # 1.8 s: past the keep-alive, were its timer not unset each time
        writer.write(request("/api/races/r/fixes?x=1", b'{"fixes": []}'))
        status, headers, got = await answer(reader)
        assert status == 503 and headers["retry-after"] == "2"
        assert json.loads(got)["error"]["code"] == "overloaded"
        await asyncio.sleep(0.6)
    assert await asyncio.wait_for(reader.read(), 3.0) == b""  # armed again by the last
    assert gate.stats["shed_unparsed"] == gate.stats["shed_at_door"] == 3
    writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request("/ingest/osmand", b""))
    assert (await answer(reader))[0] == 503
    gate.working = 0
    writer.write(request("/api/races/r/fixes", b"next"))
    assert (await answer(reader))[::2] == (200, b"next")
    assert gate.stats["shed_unparsed"] == 4
    writer.close()


async def test_a_refused_body_that_is_itself_a_whole_request_is_dropped(
    served: tuple[int, Gate],
) -> None:
    """Refused from its headers, a request's body arriving later is its body, never a request,
    whatever it looks like."""
    port, gate = served
    gate.working = 1
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    inner = request("/ingest/x", b"")
    writer.write(request("/api/races/r/fixes", inner)[: -len(inner)])
    assert (await answer(reader))[0] == 503
    writer.write(inner)
    with pytest.raises(TimeoutError):  # no second answer
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 0.5)
    assert gate.stats["shed_at_door"] == 1 and gate.stats["shed_unparsed"] == 0
    writer.close()


TE = b"Transfer-Encoding: chunked\r\n"
LENIENT = [  # (what goes after the request line, the answer, whether the connection closes)
    (TE + b"Host: x\r\n\r\n" + b'd\r\n{"fixes": []}\r\n0\r\n\r\n', 503, False),
    (TE + b'Content-Length: 13\r\n\r\n{"fixes": []}', 400, True),
    (b'Expect: 100-continue\r\nContent-Length: 13\r\n\r\n{"fixes": []}', 503, False),
    (b'Connection: close\r\nContent-Length: 13\r\n\r\n{"fixes": []}', 503, True),
    (b'Content-Length: 13\r\nContent-Length: 13\r\n\r\n{"fixes": []}', 400, True),
    (b"Transfer-Encoding : chunked\r\nContent-Length: 2\r\n\r\n{}", 400, True),
    (b"Host: x\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n{}", 400, True),
    (b"X: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n{}", 400, True),
    (b"Content-Length: 0\r\n\nGET /x HTTP/1.1\r\nHost: y\r\n\r\n", 400, True),
]


@pytest.mark.parametrize(
    ("rest", "status", "closed"),
    LENIENT,
    ids=["chunked", "chunked-and-length", "expect", "connection-close", "two-lengths",
         "space-before-colon", "bare-lf", "folded", "lf-after-crlf"],
)  # fmt: skip
async def test_any_other_framing_goes_through_the_parser(
    served: tuple[int, Gate], rest: bytes, status: int, closed: bool
) -> None:
    port, gate = served
    gate.working = 1
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /api/races/r/fixes HTTP/1.1\r\n" + rest)
    got = (await answer(reader))[0]
    if got == 100:  # (Expect: 100-continue: the gate's way reads the body first)
        got = (await answer(reader))[0]
    assert got == status
    if closed:
        assert await asyncio.wait_for(reader.read(), 3.0) == b""
    assert gate.stats["shed_unparsed"] == 0
    writer.close()


async def test_a_request_behind_a_whole_one_goes_through_the_parser(
    served: tuple[int, Gate],
) -> None:
    port, gate = served
    gate.working = 1
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request("/api/races/r/fixes", b"{}") * 2)
    assert [(await answer(reader))[0] for _ in range(2)] == [503, 503]  # each, in turn
    assert gate.stats["shed_unparsed"] == 0
    writer.close()
