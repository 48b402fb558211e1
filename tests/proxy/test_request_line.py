"""The request-line check that runs before llhttp (which is lenient about these)."""

from __future__ import annotations

import pytest

from shadowmesh.proxy.request_line import request_line_error

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
