"""The request bytes (no I/O), then one connection against scripted servers on 127.0.0.1:
framing, byte counts, error kinds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest
import uvloop

from shadowmesh.loadgen.client import (
    USER_AGENT,
    Connection,
    ErrorKind,
    ExchangeError,
    Response,
    build_request,
)
from shadowmesh.loadgen.config import LoadConfig

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]
GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
HEAD = b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n"
OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"


# -- the request bytes ----------------------------------------------------------------


def test_plain_get() -> None:
    raw = build_request(LoadConfig("http://127.0.0.1:8000/get?x=1"))
    assert raw == (
        b"GET /get?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
        + f"User-Agent: {USER_AGENT}\r\n\r\n".encode()
    )


def test_host_header_replaces_the_authority_in_place() -> None:
    config = LoadConfig(
        "http://127.0.0.1:15001/headers",
        headers=(("host", "httpbin:8000"), ("X-Shadow", "1"), ("User-Agent", "fortio")),
    )
    lines = build_request(config).decode().split("\r\n")
    assert lines[:5] == [
        "GET /headers HTTP/1.1", "host: httpbin:8000", "User-Agent: fortio", "X-Shadow: 1", "",
    ]  # fmt: skip


def test_forward_proxy_gets_the_absolute_url() -> None:
    config = LoadConfig("http://httpbin:8000/status/418", proxy="http://127.0.0.1:15001")
    head = build_request(config).decode()
    assert head.startswith("GET http://httpbin:8000/status/418 HTTP/1.1\r\nHost: httpbin:8000\r\n")


def test_payload_makes_a_post_with_its_length() -> None:
    raw = build_request(LoadConfig("http://h/post", payload=b"hello"))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /post HTTP/1.1\r\n")
    assert b"\r\nContent-Type: application/octet-stream" in head
    assert head.endswith(b"\r\nContent-Length: 5")
    assert body == b"hello"


def test_payload_keeps_a_given_content_type() -> None:
    config = LoadConfig(
        "http://h/put", method="PUT", payload=b"{}", headers=(("Content-Type", "application/json"),)
    )
    head = build_request(config).split(b"\r\n\r\n")[0].decode()
    assert head.startswith("PUT /put HTTP/1.1")
    assert head.count("Content-Type") == 1 and "Content-Length: 2" in head


def test_default_port_is_not_in_host() -> None:
    assert b"\r\nHost: httpbin\r\n" in build_request(LoadConfig("http://httpbin:80/"))


# -- one connection, scripted servers -------------------------------------------------


def replying(*answers: bytes, close_after: bool = False) -> Handler:
    """Answer the n-th request of each connection with answers[n] (the last one repeats)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        for n in range(100):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answers[min(n, len(answers) - 1)])
            await writer.drain()
            if close_after:
                return

    return handle


async def serve(handler: Handler, body: Callable[[int], Awaitable[None]]) -> int:
    """Run `body(port)` against a server calling `handler`; return connections accepted."""
    accepted = 0

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await handler(reader, writer, accepted)
        writer.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    try:
        await asyncio.wait_for(body(server.sockets[0].getsockname()[1]), timeout=10)
    finally:
        server.close()
        await server.wait_closed()
    return accepted


def exchange(
    handler: Handler, requests: list[bytes], timeout: float = 2.0
) -> tuple[list[Response | ErrorKind], int, int]:
    """Send `requests` in turn on one Connection: (outcomes, sockets opened, accepted)."""
    outcomes: list[Response | ErrorKind] = []
    opened = 0

    async def body(port: int) -> None:
        nonlocal opened
        conn = Connection("127.0.0.1", port)
        for raw in requests:
            try:
                outcomes.append(await conn.request(raw, timeout, raw.startswith(b"HEAD ")))
            except ExchangeError as exc:
                outcomes.append(exc.kind)
        opened = conn.sockets_opened
        conn.close()

    accepted = uvloop.run(serve(handler, body))
    return outcomes, opened, accepted


def test_keep_alive_answers_share_one_socket_with_exact_byte_counts() -> None:
    outcomes, opened, accepted = exchange(replying(OK_HEAD + b"hello"), [GET] * 3)
    assert outcomes == [Response(200, len(OK_HEAD), len(OK_HEAD) + 5, True)] * 3
    assert (opened, accepted) == (1, 1)


def test_chunked_body() -> None:
    head = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = head + b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    outcomes, opened, _ = exchange(replying(answer), [GET, GET])
    assert outcomes == [Response(201, len(head), len(answer), True)] * 2
    assert opened == 1


def test_body_delimited_by_close_then_reconnects() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end"
    outcomes, opened, accepted = exchange(replying(answer, close_after=True), [GET, GET])
    assert [o.status if isinstance(o, Response) else o for o in outcomes] == [200, 200]
    assert isinstance(outcomes[0], Response) and outcomes[0].total_bytes == len(answer)
    assert (opened, accepted) == (2, 2)


def test_connection_close_header_is_honoured() -> None:
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    outcomes, opened, _ = exchange(replying(answer, close_after=True), [GET, GET])
    assert [o.keep_alive for o in outcomes if isinstance(o, Response)] == [False, False]
    assert opened == 2


def test_head_answer_has_no_body_whatever_its_length() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
    outcomes, opened, _ = exchange(replying(head), [HEAD, HEAD])
    assert outcomes == [Response(200, len(head), len(head), True)] * 2
    assert opened == 1


def test_interim_100_continue_is_skipped() -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\n" + OK_HEAD + b"hello"
    outcomes, _, _ = exchange(replying(answer), [GET])
    assert outcomes == [Response(200, len(answer) - 5, len(answer), True)]


def test_no_content_needs_no_length() -> None:
    answer = b"HTTP/1.1 204 No Content\r\n\r\n"
    outcomes, opened, _ = exchange(replying(answer), [GET, GET])
    assert outcomes == [Response(204, len(answer), len(answer), True)] * 2
    assert opened == 1


def test_answer_split_across_many_segments() -> None:
    answer = OK_HEAD + b"hello"

    async def dribble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        for i in range(len(answer)):
            writer.write(answer[i : i + 1])
            await writer.drain()
            await asyncio.sleep(0.001)

    outcomes, _, _ = exchange(dribble, [GET])
    assert outcomes == [Response(200, len(OK_HEAD), len(answer), True)]


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (b"SMTP ready\r\n\r\n", ErrorKind.PARSE),
        (b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n", ErrorKind.PARSE),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", ErrorKind.RESET),
        (b"", ErrorKind.RESET),  # closed without a word
    ],
)
def test_broken_answers(answer: bytes, kind: ErrorKind) -> None:
    outcomes, _, _ = exchange(replying(answer, close_after=True), [GET])
    assert outcomes == [kind]


def test_slow_answer_times_out_and_the_socket_is_not_reused() -> None:
    async def slow_first(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if n == 1:
            await asyncio.sleep(0.5)  # the answer comes after the client gave up
        writer.write(OK_HEAD + b"hello")
        await writer.drain()
        await reader.read()

    outcomes, opened, accepted = exchange(slow_first, [GET, GET], timeout=0.2)
    assert outcomes[0] == ErrorKind.TIMEOUT
    assert isinstance(outcomes[1], Response) and outcomes[1].status == 200
    assert (opened, accepted) == (2, 2)


def test_stale_keep_alive_socket_is_retried_once() -> None:
    # the server answers the first request of a connection and drops the second unanswered,
    # as a server closing an idle keep-alive connection does
    async def one_per_conn(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(OK_HEAD + b"hello")
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")

    outcomes, opened, accepted = exchange(one_per_conn, [GET, GET])
    assert [o.status for o in outcomes if isinstance(o, Response)] == [200, 200]
    assert (opened, accepted) == (2, 2)


def test_refused_connection() -> None:
    async def body() -> ErrorKind:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        try:
            await Connection("127.0.0.1", port).request(GET, 1.0)
        except ExchangeError as exc:
            return exc.kind
        raise AssertionError("connected to a closed port")

    assert uvloop.run(body()) is ErrorKind.CONNECT_REFUSED
