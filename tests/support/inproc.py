"""A data plane in the test's own event loop, on loopback: for tests that need to reach inside
(install an outcome sink, read cluster state, patch a function) while real sockets carry every
byte. Also a raw-socket client for it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from shadowmesh.config import load_text
from shadowmesh.mirror.dispatcher import MirrorLimits
from shadowmesh.proxy.dataplane import DataPlane
from shadowmesh.proxy.server import Listeners
from shadowmesh.routing.compile import compile_table
from shadowmesh.routing.table import MESH, ListenerSpec, RoutingTable
from shadowmesh.telemetry.record import MemoryObserver


def table(config: str) -> RoutingTable:
    loaded = load_text(config, "test.yaml")
    assert loaded.ok, loaded.issues
    return compile_table(loaded.resources)


@dataclass
class InProcProxy:
    dp: DataPlane
    port: int
    observer: MemoryObserver

    async def wait_records(self, n: int, shadow: bool = False, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.observer.shadows() if shadow else self.observer.primary()) < n:
                await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def inproc_proxy(config: str, limits: MirrorLimits | None = None,
                       body_limit: int = 1 << 20) -> AsyncIterator[InProcProxy]:
    observer = MemoryObserver()
    dp = DataPlane(observer=observer, mirror_limits=limits, body_limit=body_limit)
    dp.set_table(table(config))
    listeners = Listeners(dp, reuse_port=False)
    server = await listeners.open(ListenerSpec(MESH, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    try:
        yield InProcProxy(dp, port, observer)
    finally:
        listeners.close()
        await dp.drain(0.5)


@dataclass
class Answer:
    status: int
    head: bytes
    body: bytes
    complete: bool  # the framing said where the body ends, and it ended there
    headers: dict[str, str] = field(default_factory=dict)


def parse_answer(data: bytes) -> Answer:
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return Answer(0, data, b"", False)
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode()] = value.strip().decode()
    if headers.get("transfer-encoding") == "chunked":
        body, complete = b"", False
        while True:
            size_line, sep, rest = rest.partition(b"\r\n")
            if not sep:
                break
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                complete = rest.startswith(b"\r\n")
                break
            body += rest[:size]
            rest = rest[size + 2:]
        return Answer(status, head, body, complete, headers)
    if "content-length" in headers:
        n = int(headers["content-length"])
        return Answer(status, head, rest[:n], len(rest) >= n, headers)
    return Answer(status, head, rest, True, headers)


async def request(port: int, raw: bytes, timeout: float = 5.0,
                  close_after: bytes | None = None) -> Answer:
    """Send `raw` on a new connection and read until the proxy closes it (send requests with
    `Connection: close`). Returns what came back, parsed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        data = b""
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(65536):
                data += chunk
        return parse_answer(data)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def get(path: str, host: str = "svc:8000", extra: str = "") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra}\r\n").encode()
