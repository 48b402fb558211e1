"""The client side of a run: the request bytes, and keep-alive connections that send them.

Every request of a run is identical, so its bytes are built once (`build_request`). Host
comes from the URL's authority unless `-H "Host: ..."` overrides it, which is how the
tutorials reach a virtual host through a proxy's listener
(`-H "Host: httpbin:8000" http://127.0.0.1:15001/headers`); with `-proxy` the request line
carries the absolute URL, as a forward proxy expects.

A `Connection` owns one socket at a time (reconnecting when the server closed it); its
protocol feeds the bytes to a fresh httptools response parser per exchange. Each exchange
writes the prebuilt request and waits for one complete response; nothing is pipelined, so
every byte that arrives during an exchange belongs to its answer, and the byte counts are
exact. Socket and parser failures are mapped once, here, to the kinds a load report counts:

    ExchangeError(kind)
      connect_refused   nothing listens on the target port
      connect_error     any other failure to connect (unreachable, no route, ...)
      timeout           no complete answer within the request timeout (connecting included)
      reset             the server reset or closed the connection before the answer was complete
      parse             the answer is not valid HTTP/1.x
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

import httptools

from shadowmesh import __version__
from shadowmesh.loadgen.config import LoadConfig

USER_AGENT = f"shadowmesh-load/{__version__}"


def request_target(config: LoadConfig) -> str:
    """Origin form (`/path?q`), or absolute form (`http://host:port/path?q`) through a proxy."""
    endpoint = config.endpoint
    if config.proxy_endpoint is not None:
        return f"http://{endpoint.authority}{endpoint.target}"
    return endpoint.target


def request_headers(config: LoadConfig) -> list[tuple[str, str]]:
    """Header lines in wire order: defaults first, each replaced by a `-H` of the same name."""
    defaults = {
        "host": ("Host", config.endpoint.authority),
        "user-agent": ("User-Agent", USER_AGENT),
    }
    extra: list[tuple[str, str]] = []
    for name, value in config.headers:
        key = name.lower()
        if key in defaults:
            defaults[key] = (name, value)  # the last -H of a name wins, as with curl
        else:
            extra.append((name, value))
    headers = [*defaults.values(), *extra]
    if config.payload:
        if not any(name.lower() == "content-type" for name, _ in extra):
            headers.append(("Content-Type", "application/octet-stream"))
        headers.append(("Content-Length", str(len(config.payload))))
    return headers


def build_request(config: LoadConfig) -> bytes:
    lines = [f"{config.effective_method} {request_target(config)} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in request_headers(config)]
    # UTF-8 never fails; servers see the octets a user typed, as curl sends them
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    return head + config.payload


class ErrorKind(StrEnum):
    CONNECT_REFUSED = "connect_refused"
    CONNECT_ERROR = "connect_error"
    TIMEOUT = "timeout"
    RESET = "reset"
    PARSE = "parse"


class ExchangeError(Exception):
    def __init__(self, kind: ErrorKind, detail: str, received: int = 0) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.received = received  # bytes of the answer that did arrive


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    header_bytes: int  # status line and headers, up to and including the empty line
    total_bytes: int  # everything read for this answer (headers + body framing + body)
    keep_alive: bool


class _ResponseReader(asyncio.Protocol):
    """Feeds the socket's bytes to a fresh httptools parser per exchange."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.completed = 0  # exchanges this socket carried to the end
        self._waiter: asyncio.Future[Response] | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._head = bytearray()  # the answer's first bytes, until its headers are complete
        self._scan_from = 0  # where the final response's head starts (after any 1xx)
        self._headers_done = False
        self._header_bytes = 0
        self._received = 0
        self._status = 0
        self._framed = False  # Content-Length or chunked: the body's end is known
        self._head_request = False

    # -- driven by Connection -------------------------------------------------------------
    def start(self, request: bytes, head_request: bool) -> asyncio.Future[Response]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._head.clear()
        self._scan_from = 0
        self._headers_done = False
        self._header_bytes = self._received = self._status = 0
        self._framed = False
        self._head_request = head_request
        self.transport.write(request)
        return self._waiter

    def close(self, abort: bool) -> None:
        """Close the socket: with a FIN when it is idle, a RST when an answer is unfinished."""
        if self.transport is not None and not self.closed:
            if abort:
                self.transport.abort()
            else:
                self.transport.close()
        self.closed = True

    # -- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # requests are one small write each; Nagle would hold them back
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        waiter, parser = self._waiter, self._parser
        if waiter is None or waiter.done() or parser is None:
            # bytes nobody asked for (a late answer after a timeout): the socket is unusable
            self.close(abort=True)
            return
        self._received += len(data)
        if not self._headers_done:
            self._head += data
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._finish(keep_alive=False)  # 101: the socket now speaks something else
            self.close(abort=True)
        except httptools.HttpParserError as exc:
            self._fail(ErrorKind.PARSE, f"invalid HTTP response: {exc}")
            self.close(abort=True)

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost decides what the EOF meant

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers_done and not self._framed:
            self._finish(keep_alive=False)  # a body delimited by the connection closing
        elif exc is not None:
            self._fail(ErrorKind.RESET, f"connection lost: {exc}")
        else:
            self._fail(ErrorKind.RESET, "connection closed before the response was complete")

    # -- httptools callbacks --------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        self._status = self._parser.get_status_code()
        end = self._head.find(b"\r\n\r\n", self._scan_from)
        end = end + 4 if end >= 0 else len(self._head)
        if 100 <= self._status < 200 and self._status != 101:
            self._scan_from = end  # an interim answer; the real one follows
            self._framed = False
            return
        self._header_bytes = end
        self._headers_done = True
        self._head.clear()
        if self._head_request:
            # a HEAD answer has no body whatever its Content-Length says
            self._finish(keep_alive=self._parser.should_keep_alive())

    def on_message_complete(self) -> None:
        assert self._parser is not None
        if self._headers_done:
            self._finish(keep_alive=self._parser.should_keep_alive())

    # -- outcome --------------------------------------------------------------------------
    def _finish(self, keep_alive: bool) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        self.completed += 1
        self._parser = None
        waiter.set_result(Response(self._status, self._header_bytes, self._received, keep_alive))

    def _fail(self, kind: ErrorKind, detail: str) -> None:
        waiter = self._waiter
        self._parser = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ExchangeError(kind, detail, self._received))


class Connection:
    """A client connection to one address that reconnects when the server closed it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.sockets_opened = 0  # fortio's "Sockets used"
        self._reader: _ResponseReader | None = None

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"<Connection {self.host}:{self.port} {state}, {self.sockets_opened} sockets>"

    @property
    def is_open(self) -> bool:
        return self._reader is not None and not self._reader.closed

    async def connect(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, reader = await loop.create_connection(_ResponseReader, self.host, self.port)
        except TimeoutError:
            raise ExchangeError(ErrorKind.TIMEOUT, f"connecting took over {timeout}s") from None
        except ConnectionRefusedError as exc:
            raise ExchangeError(ErrorKind.CONNECT_REFUSED, str(exc)) from exc
        except OSError as exc:
            raise ExchangeError(ErrorKind.CONNECT_ERROR, str(exc)) from exc
        self.sockets_opened += 1
        self._reader = reader

    async def request(self, data: bytes, timeout: float, head_request: bool = False) -> Response:
        """Send one request and read its answer, within `timeout` seconds in all."""
        try:
            async with asyncio.timeout(timeout):
                return await self._exchange(data, head_request, timeout)
        except TimeoutError:
            self.close(abort=True)  # its answer may still come, taken for the next one's
            detail = f"no complete answer within {timeout}s"
            raise ExchangeError(ErrorKind.TIMEOUT, detail) from None
        except BaseException:
            self.close(abort=True)
            raise

    async def _exchange(self, data: bytes, head_request: bool, timeout: float) -> Response:
        if not self.is_open:
            await self.connect(timeout)
        assert self._reader is not None
        reused = self._reader.completed > 0
        try:
            response = await self._reader.start(data, head_request)
        except ExchangeError as exc:
            self.close(abort=True)
            # A server may close an idle keep-alive connection just as we reuse it; like
            # browsers and fortio, retry once on a fresh socket when nothing came back.
            if not (reused and exc.kind is ErrorKind.RESET and exc.received == 0):
                raise
            await self.connect(timeout)
            assert self._reader is not None
            response = await self._reader.start(data, head_request)
        if not response.keep_alive:
            self.close()
        return response

    def close(self, abort: bool = False) -> None:
        if self._reader is not None:
            self._reader.close(abort)
            self._reader = None
