"""Request head checks that need no socket: Host, Content-Length, Transfer-Encoding, targets."""

from __future__ import annotations

import pytest

from shadowmesh.proxy.request import BadRequest, Request

Fields = list[tuple[bytes, bytes]]


def request(fields: Fields, url: bytes = b"/", method: bytes = b"GET") -> Request:
    return Request(method, url, fields, "1.1", True, False, "1.2.3.4:5", "1.2.3.4")


@pytest.mark.parametrize(("fields", "url", "method", "status"), [
    ([(b"Host", b"svc"), (b"Host", b"evil")], b"/", b"GET", 400),
    ([(b"Host", b"svc"), (b"host", b"svc")], b"/", b"GET", 400),
    ([], b"/", b"GET", 400),
    ([(b"Host", b"")], b"/", b"GET", 400),
    ([(b"Host", b"evil@svc")], b"/", b"GET", 400),
    ([(b"Host", b"svc/x")], b"/", b"GET", 400),
    ([(b"Host", b"svc x")], b"/", b"GET", 400),
    ([(b"Host", b"svc:8o")], b"/", b"GET", 400),
    ([(b"Host", b"svc:\xb2".decode("latin-1").encode("latin-1"))], b"/", b"GET", 400),
    ([(b"Host", b"svc")], b"*", b"GET", 400),
    ([(b"Host", b"svc")], b"http://u@svc/", b"GET", 400),
    ([(b"Host", b"svc"), (b"Content-Length", b"1 2")], b"/", b"POST", 400),
    ([(b"Host", b"svc"), (b"Content-Length", b"\xb2")], b"/", b"POST", 400),
    ([(b"Host", b"svc"), (b"Transfer-Encoding", b"gzip, chunked")], b"/", b"POST", 501),
    ([(b"Host", b"svc"), (b"Transfer-Encoding", b"identity")], b"/", b"POST", 501),
])
def test_refused(fields: Fields, url: bytes, method: bytes, status: int) -> None:
    with pytest.raises(BadRequest) as info:
        request(fields, url, method)
    assert info.value.status == status


@pytest.mark.parametrize(("fields", "url", "method", "host", "length", "chunked"), [
    ([(b"Host", b"svc")], b"/", b"GET", "svc", None, False),
    ([(b"Host", b"SVC:8000")], b"/", b"GET", "svc", None, False),
    ([(b"Host", b"[::1]:8000")], b"/", b"GET", "[::1]", None, False),
    ([(b"Host", b"svc"), (b"Content-Length", b"5 ")], b"/", b"POST", "svc", 5, False),
    ([(b"Host", b"svc"), (b"Content-Length", b"5\t")], b"/", b"POST", "svc", 5, False),
    ([(b"Host", b"svc"), (b"Transfer-Encoding", b"chunked")], b"/", b"POST", "svc", None, True),
    ([(b"Host", b"svc"), (b"Transfer-Encoding", b"Chunked ")], b"/", b"POST", "svc", None, True),
    ([(b"Host", b"other")], b"http://svc:8000/x", b"GET", "svc", None, False),
    ([(b"Host", b"svc")], b"*", b"OPTIONS", "svc", None, False),
])
def test_accepted(fields: Fields, url: bytes, method: bytes, host: str, length: int | None,
                  chunked: bool) -> None:
    req = request(fields, url, method)
    assert (req.host, req.content_length, req.chunked) == (host, length, chunked)


def test_cookie_fields_are_joined_as_cookie_pairs() -> None:
    req = request([(b"Host", b"svc"), (b"Cookie", b"a=1"), (b"Cookie", b"user=u")])
    assert req.hmap["cookie"] == "a=1; user=u"
