"""The request-line check that runs before llhttp (which is lenient about these)."""

from __future__ import annotations

import pytest

from shadowmesh.proxy.request_line import request_line_error, simple_line_end

CASES = [
    (b"GET / HTTP/1.1", None),
    (b"GET / HTTP/1.1\r", None),
    (b"POST /a?b=c HTTP/1.0\r", None),
    (b"GET http://svc/x HTTP/1.1\r", None),
    (b"OPTIONS * HTTP/1.1\r", None),
    (b"GET / HTTP/2.0\r", (505, "unsupported HTTP version")),
    (b"GET / HTTP/3.0", (505, "unsupported HTTP version")),
    (b"GET / HTTP/1.2", (505, "unsupported HTTP version")),
    (b"GET / HTTP/0.9", (505, "unsupported HTTP version")),
    (b"PRI * HTTP/2.0\r", (505, "unsupported HTTP version")),
    (b"GET /\r", (400, "HTTP/0.9 request")),
    (b"GET /", (400, "HTTP/0.9 request")),
    (b"GET  / HTTP/1.1\r", (400, "invalid whitespace in request line")),
    (b"GET /  HTTP/1.1\r", (400, "invalid whitespace in request line")),
    (b" GET / HTTP/1.1\r", (400, "invalid whitespace in request line")),
    (b"GET / HTTP/1.1 \r", (400, "invalid whitespace in request line")),
    (b"GET /a b HTTP/1.1\r", (400, "invalid request line")),
    (b"GET\r", (400, "invalid request line")),
    (b"\r", (400, "invalid whitespace in request line")),
    (b"GET / http/1.1\r", (400, "invalid HTTP version")),
    (b"GET / HTTP/1\r", (400, "invalid HTTP version")),
    (b"GET / HTTP/1.1.1\r", (400, "invalid HTTP version")),
    (b"GET / HTTP/x.y\r", (400, "invalid HTTP version")),
    (b"GET / HTTP/1.1\t\r", (400, "invalid HTTP version")),
]


@pytest.mark.parametrize(("line", "expected"), CASES)
def test_request_line(line: bytes, expected: tuple[int, str] | None) -> None:
    assert request_line_error(line) == expected


@pytest.mark.parametrize(("line", "expected"), CASES)
def test_simple_line_end_accepts_only_what_the_full_check_accepts(
        line: bytes, expected: tuple[int, str] | None) -> None:
    # The one-pass scan may send a valid line to the full check (bare LF, a long line), but
    # it must never accept a line the full check refuses.
    data = line + b"\nHost: a\r\n\r\n"
    end = simple_line_end(data)
    if expected is not None:
        assert end == -1
    elif line.endswith(b"\r"):
        assert end == len(line)


@pytest.mark.parametrize("data", [
    b"GET /x HTTP/1.1\r\n",
    b"DELETE /items/7 HTTP/1.0\r\nHost: a\r\n\r\n",
    b"GET /" + b"a" * 240 + b" HTTP/1.1\r\n",
])
def test_simple_line_end_finds_the_line_feed(data: bytes) -> None:
    assert simple_line_end(data) == data.index(b"\n")


@pytest.mark.parametrize("data", [
    b"",
    b"GET / HTTP/1.1",  # no line end yet
    b"\r\nGET / HTTP/1.1\r\n",  # empty line first: the full check skips it
    b"GET / HTTP/1.1\n",  # bare LF: the full check decides
    b"GET  HTTP/1.1\r\n",
    b"GET /" + b"a" * 300 + b" HTTP/1.1\r\n",  # past the scan limit
])
def test_simple_line_end_leaves_the_rest_to_the_full_check(data: bytes) -> None:
    assert simple_line_end(data) == -1
