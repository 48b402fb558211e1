"""A shadow that takes 200 ms to answer every request (nginx cannot be told to sleep).

Run as `python bench/slow_shadow.py --port 0 --delay 0.2`; it prints
`slow-shadow: listening on http://127.0.0.1:PORT` to stderr when ready and answers
`GET /__stats` at once with the number of (slow) requests it has received, which the harness
reads to report how many copies the proxy actually sent.

Responses on one connection go out in request order (a proxy may pipeline), each no earlier
than `delay` after its request arrived. Any number of requests wait concurrently: the point is
a slow shadow, not an overloaded one.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import signal
import sys
from typing import cast

import httptools

STATS_PATH = b"/__stats"
BODY = b"slow\n"


class Stats:
    requests = 0


def _response(body: bytes, content_type: bytes, keep_alive: bool) -> bytes:
    connection = b"" if keep_alive else b"Connection: close\r\n"
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type
        + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" + connection + b"\r\n"
        + body
    )


class SlowProtocol(asyncio.Protocol):
    def __init__(self, stats: Stats, delay_s: float) -> None:
        self.stats = stats
        self.delay_s = delay_s
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        # (due time, response bytes, close after) in request order
        self.pending: collections.deque[tuple[float, bytes, bool]] = collections.deque()
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.timer is not None:
            self.timer.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        keep_alive = self.parser.should_keep_alive()
        if self.url == STATS_PATH:
            body = b'{"requests": %d}\n' % self.stats.requests
            self._queue(0.0, _response(body, b"application/json", keep_alive), not keep_alive)
            return
        self.stats.requests += 1
        self._queue(self.delay_s, _response(BODY, b"text/plain", keep_alive), not keep_alive)

    def _queue(self, delay_s: float, data: bytes, close: bool) -> None:
        self.pending.append((self.loop.time() + delay_s, data, close))
        if self.timer is None:
            self._arm()

    def _arm(self) -> None:
        self.timer = self.loop.call_at(self.pending[0][0], self._flush) if self.pending else None

    def _flush(self) -> None:
        now = self.loop.time()
        while self.pending and self.pending[0][0] <= now and self.transport is not None:
            _, data, close = self.pending.popleft()
            self.transport.write(data)
            if close:
                self.transport.close()
                self.pending.clear()
        self._arm()


async def serve(port: int, delay_s: float) -> None:
    loop = asyncio.get_running_loop()
    stats = Stats()
    server = await loop.create_server(
        lambda: SlowProtocol(stats, delay_s), "127.0.0.1", port, backlog=1024
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"slow-shadow: listening on http://127.0.0.1:{bound}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="slow_shadow.py")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds per request")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:  # the harness still works, only slower at accepting
        asyncio.run(serve(args.port, args.delay))
    else:
        uvloop.run(serve(args.port, args.delay))


if __name__ == "__main__":
    main()
