"""The hostile-client table: raw bytes a client sends, what it must get back, and what the
backend behind the proxy must and must not receive.

`statuses` are the final answers in order (interim 1xx are skipped; 101 counts). `closed`:
must the proxy close the connection afterwards (None: either). `forwarded`: how many requests
the backend must receive (None: not checked). `must` / `must_not`: byte strings that must /
must not appear in what the backend received (compared lower-cased). After every vector a
fresh client asks for `/sentinel-N` and must get its own answer: the proxy is alive and the
pooled upstream connection (there is one) is not out of step.
"""

from __future__ import annotations

from dataclasses import dataclass

H = b"Host: svc\r\n"
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: svc\r\n\r\n"
BIG_EXT = b";" + b"e" * (2 * 1024 * 1024)


@dataclass(frozen=True)
class Vector:
    name: str
    send: bytes | tuple[bytes, ...]
    statuses: tuple[int, ...]
    closed: bool | None = None
    forwarded: int | None = None
    must: tuple[bytes, ...] = ()
    must_not: tuple[bytes, ...] = ()
    head: bool = False
    bodies: tuple[bytes, ...] | None = None
    xfail: str | None = None

    @property
    def pieces(self) -> tuple[bytes, ...]:
        return self.send if isinstance(self.send, tuple) else (self.send,)


def get(target: bytes = b"/", extra: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    return b"GET " + target + b" " + version + b"\r\n" + H + extra + b"\r\n"


def post(body: bytes, extra: bytes = b"", target: bytes = b"/p") -> bytes:
    return (b"POST " + target + b" HTTP/1.1\r\n" + H + extra
            + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def chunked(chunks: bytes, extra: bytes = b"", te: bytes = b"chunked",
            target: bytes = b"/c") -> bytes:
    return (b"POST " + target + b" HTTP/1.1\r\n" + H + extra
            + b"Transfer-Encoding: " + te + b"\r\n\r\n" + chunks)


def bad(name: str, data: bytes | tuple[bytes, ...], status: int = 400, **kw: object) -> Vector:
    """Refused before routing: one answer, closed, nothing forwarded."""
    kw.setdefault("forwarded", 0)
    return Vector(name, data, (status,), closed=True, **kw)  # type: ignore[arg-type]


def ok(name: str, data: bytes | tuple[bytes, ...], n: int = 1, **kw: object) -> Vector:
    """Served: n answers of 200, connection kept, n requests forwarded."""
    kw.setdefault("closed", False)
    return Vector(name, data, (200,) * n, forwarded=n, **kw)  # type: ignore[arg-type]


UPSTREAM_2 = "upstream side: defect 2 (upgrade with a body desyncs the upstream)"
UPSTREAM_3 = "upstream side: defect 3 (arbitrary upgrades tunnelled)"

VECTORS: list[Vector] = [
    # -- valid forms, served ------------------------------------------------------------
    ok("plain-get", get(), bodies=(b"seen /",)),
    ok("query-string", get(b"/q?a=1&b=%20"), bodies=(b"seen /q?a=1&b=%20",)),
    ok("percent-encoded-path", get(b"/a%2Fb%00c"), bodies=(b"seen /a%2Fb%00c",)),
    ok("http10-keep-alive", get(extra=b"Connection: keep-alive\r\n", version=b"HTTP/1.0")),
    Vector("http10-closes", get(version=b"HTTP/1.0"), (200,), closed=True, forwarded=1),
    Vector("connection-close", get(extra=b"Connection: close\r\n"), (200,), closed=True,
           forwarded=1),
    ok("head", b"HEAD /h HTTP/1.1\r\n" + H + b"\r\n", head=True),
    ok("put", b"PUT /u HTTP/1.1\r\n" + H + b"Content-Length: 2\r\n\r\nhi", must=(b"hi",)),
    ok("delete", b"DELETE /d HTTP/1.1\r\n" + H + b"\r\n"),
    ok("patch", b"PATCH /x HTTP/1.1\r\n" + H + b"Content-Length: 1\r\n\r\nz"),
    ok("options-path", b"OPTIONS /o HTTP/1.1\r\n" + H + b"\r\n"),
    ok("post-content-length", post(b"hello"), must=(b"\r\n\r\nhello",)),
    ok("post-empty-body", post(b"")),
    ok("post-chunked", chunked(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
       must=(b"hello", b" world")),
    ok("chunked-uppercase-hex", chunked(b"A\r\n0123456789\r\n0\r\n\r\n"), must=(b"0123456789",)),
    ok("chunked-many-small", chunked(b"1\r\na\r\n" * 200 + b"0\r\n\r\n")),
    ok("chunked-small-extension-not-forwarded",
       chunked(b"5;name=value\r\nhello\r\n0;last\r\n\r\n"), must_not=(b"name=value", b"last")),
    ok("te-chunked-trailing-tab", chunked(b"2\r\nok\r\n0\r\n\r\n", te=b"chunked\t"),
       must=(b"ok",)),
    ok("te-chunked-trailing-space", chunked(b"2\r\nok\r\n0\r\n\r\n", te=b"chunked "),
       must=(b"ok",)),
    ok("te-chunked-uppercase", chunked(b"2\r\nok\r\n0\r\n\r\n", te=b"CHUNKED")),
    ok("te-leading-tab", chunked(b"2\r\nok\r\n0\r\n\r\n", te=b"\tchunked")),
    ok("content-length-surrounding-space",
       b"POST /p HTTP/1.1\r\n" + H + b"Content-Length:  5 \r\n\r\nhello", must=(b"hello",)),
    ok("content-length-tabs",
       b"POST /p HTTP/1.1\r\n" + H + b"Content-Length:\t5\t\r\n\r\nhello", must=(b"hello",)),
    ok("content-length-leading-zeros",
       b"POST /p HTTP/1.1\r\n" + H + b"Content-Length: 0005\r\n\r\nhello", must=(b"hello",)),
    ok("leading-empty-line", b"\r\n" + get()),
    ok("header-name-uppercase", b"GET / HTTP/1.1\r\nHOST: svc\r\n\r\n"),
    ok("obs-text-value", get(extra=b"X-Latin: caf\xe9\r\n"), must=(b"caf\xe9",)),
    ok("empty-value", get(extra=b"X-Empty:\r\n")),
    ok("host-with-port", b"GET / HTTP/1.1\r\nHost: svc:8000\r\n\r\n"),
    ok("absolute-form", b"GET http://svc/abs HTTP/1.1\r\nHost: other\r\n\r\n",
       bodies=(b"seen /abs",), must_not=(b"other",)),
    ok("absolute-form-port", b"GET http://svc:8000/abs?x=1 HTTP/1.1\r\nHost: svc\r\n\r\n",
       bodies=(b"seen /abs?x=1",)),
    ok("expect-100-continue",
       b"POST /e HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
       must=(b"abc",), must_not=(b"expect:",)),
    ok("cookies-twice", get(extra=b"Cookie: a=1\r\nCookie: b=2\r\n")),
    ok("xff-appended", get(extra=b"X-Forwarded-For: 1.2.3.4\r\n"), must=(b"1.2.3.4, 127.0.0.1",)),
    ok("connection-named-field-dropped",
       get(extra=b"Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\n"),
       must_not=(b"x-secret",)),
    ok("hop-by-hop-dropped",
       get(extra=b"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n"),
       must_not=(b"keep-alive:", b"proxy-connection", b"te: trailers")),
    ok("upgrade-without-connection-is-not-an-upgrade", get(extra=b"Upgrade: websocket\r\n"),
       must_not=(b"upgrade",)),
    ok("long-header-under-limit", get(extra=b"X-Big: " + b"b" * (50 * 1024) + b"\r\n")),
    ok("99-fields-plus-host", get(extra=b"".join(b"X-F%d: v\r\n" % i for i in range(99)))),
    ok("body-on-get", b"GET /g HTTP/1.1\r\n" + H + b"Content-Length: 4\r\n\r\nbody",
       must=(b"body",)),
    # -- pipelining -----------------------------------------------------------------------
    ok("pipelined-three", get(b"/1") + get(b"/2") + get(b"/3"), n=3,
       bodies=(b"seen /1", b"seen /2", b"seen /3")),
    ok("pipelined-post-then-get", post(b"abc", target=b"/a") + get(b"/b"), n=2,
       bodies=(b"seen /a", b"seen /b")),
    ok("pipelined-chunked-then-get", chunked(b"3\r\nabc\r\n0\r\n\r\n", target=b"/a") + get(b"/b"),
       n=2, bodies=(b"seen /a", b"seen /b")),
    ok("pipelined-split-inside-method", (get(b"/1") + b"GE", b"T /2 HTTP/1.1\r\n" + H + b"\r\n"),
       n=2, bodies=(b"seen /1", b"seen /2")),
    ok("pipelined-split-after-method", (get(b"/1") + b"GET ", b"/2 HTTP/1.1\r\n" + H + b"\r\n"),
       n=2, bodies=(b"seen /1", b"seen /2")),
    ok("request-line-split-over-reads", (b"GET /sl", b"ow HTTP/1", b".1\r\n" + H + b"\r\n"),
       bodies=(b"seen /slow",)),
    ok("head-split-byte-by-byte", (*(bytes([b]) for b in get(b"/bb")[:40]), get(b"/bb")[40:]),
       bodies=(b"seen /bb",)),
    ok("two-writes-keep-alive", (get(b"/1"), get(b"/2")), n=2),
    Vector("pipelined-then-close", get(b"/1") + get(b"/2", extra=b"Connection: close\r\n")
           + get(b"/3"), (200, 200), closed=True, forwarded=2, must_not=(b"/3 ",)),
    # -- trailers (defect 4) ----------------------------------------------------------------
    ok("trailers-do-not-leak-into-next-request",
       chunked(b"3\r\nabc\r\n0\r\nAuthorization: Bearer stolen\r\nX-User-Id: 1\r\n\r\n")
       + get(b"/next"), n=2, must_not=(b"authorization", b"x-user-id", b"stolen")),
    Vector("trailer-transfer-encoding-refused",
           chunked(b"3\r\nabc\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n") + get(b"/next"),
           (400,), closed=True, must_not=(b"/next",)),
    Vector("trailer-content-length-refused",
           chunked(b"3\r\nabc\r\n0\r\nContent-Length: 50\r\n\r\n") + get(b"/next"),
           (400,), closed=True, must_not=(b"/next",)),
    ok("trailer-host-ignored",
       chunked(b"0\r\nHost: evil\r\n\r\n") + get(b"/next"), n=2, must_not=(b"evil",)),
    Vector("trailers-too-large",
           chunked(b"3\r\nabc\r\n0\r\n" + b"".join(b"X-T%d: %b\r\n" % (i, b"t" * 1000)
                                                  for i in range(80)) + b"\r\n"),
           (431,), closed=True),
    # -- request smuggling: CL/TE ambiguity -------------------------------------------------
    bad("cl-cl-different", b"POST / HTTP/1.1\r\n" + H
        + b"Content-Length: 3\r\nContent-Length: 40\r\n\r\nabc" + SMUGGLED),
    bad("cl-cl-same", b"POST / HTTP/1.1\r\n" + H
        + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc"),
    bad("cl-list", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3, 3\r\n\r\nabc"),
    bad("cl-then-te", b"POST / HTTP/1.1\r\n" + H
        + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
    bad("te-then-cl", b"POST / HTTP/1.1\r\n" + H
        + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n" + SMUGGLED),
    bad("te-twice", chunked(b"0\r\n\r\n", extra=b"Transfer-Encoding: chunked\r\n")),
    bad("te-chunked-chunked", chunked(b"0\r\n\r\n", te=b"chunked, chunked")),
    bad("te-gzip-chunked", chunked(b"0\r\n\r\n", te=b"gzip, chunked"), status=501),
    bad("te-chunked-gzip", chunked(b"0\r\n\r\n", te=b"chunked, gzip")),
    bad("te-identity", chunked(b"", te=b"identity"), status=501),
    bad("te-xchunked", chunked(b"0\r\n\r\n", te=b"xchunked"), status=501),
    bad("te-quoted", chunked(b"0\r\n\r\n", te=b'"chunked"'), status=501),
    bad("te-vertical-tab", chunked(b"0\r\n\r\n", te=b"\x0bchunked")),
    bad("te-space-before-colon", b"POST / HTTP/1.1\r\n" + H
        + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
    bad("te-obs-fold", b"POST / HTTP/1.1\r\n" + H
        + b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"),
    bad("te-in-http10", b"POST / HTTP/1.0\r\n" + H
        + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    bad("te-cl-in-http10", b"POST / HTTP/1.0\r\n" + H
        + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
    bad("cl-negative", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n"),
    bad("cl-plus", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +3\r\n\r\nabc"),
    bad("cl-hex", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0x3\r\n\r\nabc"),
    bad("cl-space-inside", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1 2\r\n\r\nabc"),
    bad("cl-overflow", b"POST / HTTP/1.1\r\n" + H
        + b"Content-Length: 99999999999999999999999\r\n\r\nabc"),
    bad("cl-space-before-colon", b"POST / HTTP/1.1\r\n" + H
        + b"Content-Length : 3\r\n\r\nabc"),
    ok("cl-zero-body-is-next-request", b"POST /p HTTP/1.1\r\n" + H
       + b"Content-Length: 0\r\n\r\n" + SMUGGLED, n=2, bodies=(b"seen /p", b"seen /smuggled")),
    ok("cl-body-holding-a-request-stays-a-body", post(SMUGGLED), must=(b"get /smuggled",),
       bodies=(b"seen /p",)),
    # -- chunk framing ------------------------------------------------------------------------
    bad("chunk-size-invalid", chunked(b"zz\r\nabc\r\n0\r\n\r\n"), forwarded=None),
    bad("chunk-size-negative", chunked(b"-3\r\nabc\r\n0\r\n\r\n"), forwarded=None),
    bad("chunk-size-overflow", chunked(b"fffffffffffffffffff\r\n"), forwarded=None),
    bad("chunk-size-space-inside", chunked(b"1 0\r\n" + b"a" * 16 + b"\r\n0\r\n\r\n"),
        forwarded=None),
    bad("chunk-size-bare-lf", chunked(b"3\nabc\n0\n\n"), forwarded=None),
    bad("chunk-data-without-crlf", chunked(b"3\r\nabcX0\r\n\r\n" + SMUGGLED),
        forwarded=None, must_not=(b"/smuggled",)),
    bad("chunk-data-longer-than-size", chunked(b"3\r\nabcdef\r\n0\r\n\r\n"), forwarded=None),
    bad("chunk-extension-2mib", (chunked(b""), b"3" + BIG_EXT[: 1 << 20], BIG_EXT[1 << 20:]),
        forwarded=None),
    bad("chunk-extension-bare-cr", chunked(b"3;a\rb\r\nabc\r\n0\r\n\r\n"), forwarded=None),
    # -- request line -----------------------------------------------------------------------
    bad("http-2.0", get(version=b"HTTP/2.0"), status=505),
    bad("http-3.0", get(version=b"HTTP/3.0"), status=505),
    bad("http-1.2", get(version=b"HTTP/1.2"), status=505),
    bad("http-0.9-line", b"GET /\r\n"),
    bad("http-0.9-line-then-blank", b"GET /\r\n\r\n"),
    bad("http-0.9-with-fields", b"GET /\r\n" + H + b"\r\n"),
    bad("h2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", status=505),
    bad("version-lowercase", get(version=b"http/1.1")),
    bad("version-short", get(version=b"HTTP/1")),
    bad("version-long", get(version=b"HTTP/1.1.1")),
    bad("version-trailing-space", b"GET / HTTP/1.1 \r\n" + H + b"\r\n"),
    bad("double-space-after-method", b"GET  / HTTP/1.1\r\n" + H + b"\r\n"),
    bad("double-space-before-version", b"GET /  HTTP/1.1\r\n" + H + b"\r\n"),
    bad("leading-space", b" GET / HTTP/1.1\r\n" + H + b"\r\n"),
    bad("tab-separators", b"GET\t/\tHTTP/1.1\r\n" + H + b"\r\n"),
    bad("space-in-target", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n"),
    bad("ctl-in-target", b"GET /a\x01b HTTP/1.1\r\n" + H + b"\r\n"),
    bad("nul-in-target", b"GET /a\x00b HTTP/1.1\r\n" + H + b"\r\n"),
    bad("bare-lf-request-line", b"GET / HTTP/1.1\n" + H + b"\r\n"),
    bad("bare-cr-request-line", b"GET / HTTP/1.1\rHost: svc\r\n\r\n"),
    bad("method-lowercase", b"get / HTTP/1.1\r\n" + H + b"\r\n"),
    bad("method-unknown", b"FOO / HTTP/1.1\r\n" + H + b"\r\n"),
    bad("method-with-symbol", b"G@T / HTTP/1.1\r\n" + H + b"\r\n"),
    bad("connect", b"CONNECT svc:8000 HTTP/1.1\r\nHost: svc:8000\r\n\r\n", status=501),
    bad("asterisk-with-get", b"GET * HTTP/1.1\r\n" + H + b"\r\n"),
    bad("relative-target", b"GET relative HTTP/1.1\r\n" + H + b"\r\n"),
    bad("absolute-form-userinfo", b"GET http://user@svc/ HTTP/1.1\r\n" + H + b"\r\n"),
    bad("absolute-form-no-host", b"GET http:///x HTTP/1.1\r\n" + H + b"\r\n"),
    # -- header fields ----------------------------------------------------------------------
    bad("bare-lf-field", b"GET / HTTP/1.1\r\nHost: svc\nX: y\r\n\r\n"),
    bad("bare-cr-field", b"GET / HTTP/1.1\r\nHost: svc\rX: y\r\n\r\n"),
    bad("bare-lf-head-end", b"GET / HTTP/1.1\r\nHost: svc\n\n"),
    bad("nul-in-value", get(extra=b"X: a\x00b\r\n")),
    bad("nul-in-name", get(extra=b"X\x00Y: a\r\n")),
    bad("del-in-value", get(extra=b"X: a\x7fb\r\n")),
    bad("ctl-in-name", get(extra=b"X\x01Y: a\r\n")),
    bad("obs-fold", get(extra=b"X: a\r\n b\r\n")),
    bad("space-before-colon", get(extra=b"X-Forwarded-For : 1.1.1.1\r\n")),
    bad("no-colon", get(extra=b"NoColon\r\n")),
    bad("empty-name", get(extra=b": value\r\n")),
    bad("space-first-field", b"GET / HTTP/1.1\r\n Host: svc\r\n\r\n"),
    bad("non-token-name", get(extra=b"X(Y): a\r\n")),
    # -- Host ---------------------------------------------------------------------------------
    bad("host-missing", b"GET / HTTP/1.1\r\n\r\n"),
    bad("host-empty", b"GET / HTTP/1.1\r\nHost:\r\n\r\n"),
    bad("host-twice-different", b"GET / HTTP/1.1\r\nHost: svc\r\nHost: evil\r\n\r\n"),
    bad("host-twice-same", b"GET / HTTP/1.1\r\nHost: svc\r\nHost: svc\r\n\r\n"),
    bad("host-userinfo", b"GET / HTTP/1.1\r\nHost: evil@svc\r\n\r\n"),
    bad("host-with-path", b"GET / HTTP/1.1\r\nHost: svc/x\r\n\r\n"),
    bad("host-with-space", b"GET / HTTP/1.1\r\nHost: svc evil\r\n\r\n"),
    bad("host-bad-port", b"GET / HTTP/1.1\r\nHost: svc:80a\r\n\r\n"),
    Vector("host-unknown", b"GET / HTTP/1.1\r\nHost: nowhere\r\n\r\n", (404,), closed=False,
           forwarded=0),
    # -- limits -------------------------------------------------------------------------------
    bad("header-over-60kib", get(extra=b"X-Big: " + b"b" * (61 * 1024) + b"\r\n"), status=431),
    bad("header-unterminated-2mib",
        (b"GET / HTTP/1.1\r\n" + H + b"X-Big: ", b"b" * (1 << 20), b"b" * (1 << 20)),
        status=431),
    bad("uri-over-60kib", get(b"/" + b"u" * (61 * 1024)), status=414),
    bad("101-fields", get(extra=b"".join(b"X-F%d: v\r\n" % i for i in range(100))),
        status=431),
    bad("empty-lines-flood", b"\r\n" * (40 * 1024), status=431),
    # -- upgrades -----------------------------------------------------------------------------
    Vector("websocket-upgrade",
           b"GET /ws HTTP/1.1\r\n" + H + b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
           (101,), forwarded=1, must=(b"upgrade: websocket",)),
    Vector("upgrade-with-body-does-not-desync",
           b"GET /up/ignore-upgrade HTTP/1.1\r\n" + H
           + b"Connection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 16\r\n\r\n"
           + b"GET /smuggled/x ",
           (200,), forwarded=1),  # the 16 bytes are its content (RFC 9110 7.8), no request
    Vector("h2c-upgrade-stripped",
           b"GET /plain HTTP/1.1\r\n" + H + b"Connection: Upgrade, HTTP2-Settings\r\n"
           + b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
           (200,), forwarded=1, must_not=(b"h2c",)),
    Vector("arbitrary-upgrade-not-tunnelled",
           b"GET /foo HTTP/1.1\r\n" + H + b"Connection: Upgrade\r\nUpgrade: foo/1\r\n\r\n",
           (403,), forwarded=0),  # refused as Envoy does (upgrade_failed)
]
