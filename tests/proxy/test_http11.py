"""Header handling on the hot path: pure functions, table-driven."""

from __future__ import annotations

import pytest

from shadowmesh.proxy.http11 import (
    forwardable_request_headers,
    forwardable_response_headers,
    head_fields,
    passthrough_head,
)

OK = b"HTTP/1.1 200 OK\r\n"


@pytest.mark.parametrize(
    ("head", "passable"),
    [
        (OK + b"Content-Length: 5\r\n\r\n", True),
        (OK + b"content-length: 5\r\nConnection: keep-alive\r\n\r\n", True),
        (OK + b"Content-Length: 5\r\nConnection: close\r\n\r\n", False),
        (OK + b"Content-Length: 5\r\nConnection: keep-alive, x-secret\r\n\r\n", False),
        (OK + b"Content-Length: 5\r\nKeep-Alive: timeout=5\r\n\r\n", False),
        (OK + b"Transfer-Encoding: chunked\r\n\r\n", False),
        (OK + b"Content-Length: 5\r\nTrailer: x\r\n\r\n", False),
        (OK + b"Content-Length: 5\r\nUpgrade: h2c\r\n\r\n", False),
        (OK + b"\r\n", False),  # close-delimited body: must be reframed
        (b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", False),
        (OK + b"Connection: Keep-Alive \r\nX-A: 1\r\nCONTENT-LENGTH: 5\r\n\r\n", True),
        (OK + b"Content-Length: 5\r\nConnection:\tkeep-alive\r\n\r\n", True),
        (OK + b"Content-Length: 5\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
         False),
        (OK + b"Content-Length: 5\r\nConnection: keep-alive\r\nConnection: keep-alive\r\n\r\n",
         False),
        (OK + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\n", False),
        (OK + b"Content-Length: 5\r\nTE: trailers\r\n\r\n", False),
        (OK + b"Content-Length: 5\r\nProxy-Connection: keep-alive\r\n\r\n", False),
        (OK + b"Content-Length: 5\r\nConnection: keep-alive-ish\r\n\r\n", False),
        # names that only start like a hop-by-hop field pass
        (OK + b"Content-Length: 5\r\nTE-X: 1\r\nUpgrade-Insecure: 1\r\nTrailers: 1\r\n\r\n",
         True),
        (OK + b"X-Content-Length: 5\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\nContent-Length: 5\n\n", False),  # bare LF: take the slow path
        # one bare LF hides the next field from a CRLF-only scan: take the slow path too
        (OK + b"Content-Length: 5\nTransfer-Encoding: chunked\r\n\r\n", False),
        (OK + b"Content-Length: 5\r\n", False),  # not a whole head
        (OK + b"Content-Type: text/plain\r\nContent-Length: 5\r\nCache-Control: no\r\n\r\n",
         True),
        (OK + b"Content-Length: 5\r\nTRANSFER-ENCODING: chunked\r\n\r\n", False),
        (OK + b"Content-Length: 5\r\nconnection:  keep-alive\t\r\n\r\n", True),
        (OK + b"Content-Length: 5\r\nConnection: upgrade\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\n\r\n", False),
    ],
)
def test_passthrough_head(head: bytes, passable: bool) -> None:
    assert passthrough_head(head) is passable


def test_request_headers_drop_hop_by_hop_host_and_xff() -> None:
    headers = [
        (b"Host", b"a"), (b"Connection", b"keep-alive, X-Private"), (b"X-Private", b"1"),
        (b"X-Forwarded-For", b"1.2.3.4"), (b"Accept", b"*/*"), (b"TE", b"trailers"),
        (b"Upgrade", b"websocket"),
    ]
    assert forwardable_request_headers(headers, keep_upgrade=False) == [(b"Accept", b"*/*")]
    assert (b"Upgrade", b"websocket") in forwardable_request_headers(headers, keep_upgrade=True)


def test_response_headers_report_framing() -> None:
    out, length, chunked = forwardable_response_headers(
        [(b"Content-Length", b"7"), (b"Connection", b"close, X-A"), (b"X-A", b"1"),
         (b"Server", b"s")], keep_upgrade=False)
    assert out == [(b"Server", b"s")] and length == b"7" and not chunked
    _, length, chunked = forwardable_response_headers(
        [(b"Transfer-Encoding", b"chunked")], keep_upgrade=False)
    assert length is None and chunked


@pytest.mark.parametrize(
    ("head", "fields"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A:  b \r\n\r\n",
         [(b"Content-Length", b"2"), (b"X-A", b"b")]),
        (b"HTTP/1.1 204 No Content\r\n\r\n", []),
        # bare LF line ends, as some servers send
        (b"HTTP/1.1 200 OK\nServer: x\nContent-Length: 0\n\n",
         [(b"Server", b"x"), (b"Content-Length", b"0")]),
        # obsolete line folding is joined with a space
        (b"HTTP/1.1 200 OK\r\nX-Long: one\r\n\ttwo\r\nX-B: c\r\n\r\n",
         [(b"X-Long", b"one two"), (b"X-B", b"c")]),
        # an empty value and a value holding colons
        (b"HTTP/1.1 200 OK\r\nX-Empty:\r\nLocation: http://h:80/p\r\n\r\n",
         [(b"X-Empty", b""), (b"Location", b"http://h:80/p")]),
        # repeated fields stay separate, in order
        (b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n",
         [(b"Set-Cookie", b"a=1"), (b"Set-Cookie", b"b=2")]),
    ],
)
def test_head_fields(head: bytes, fields: list[tuple[bytes, bytes]]) -> None:
    assert head_fields(head) == fields
