"""The comparison hook: for a mirrored request, the primary's and the shadow's answers reach
a CaptureHook with the same request id. A real data plane on loopback, in this test's loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from shadowmesh.config import load_text
from shadowmesh.mirror.shadow_request import ShadowCopy
from shadowmesh.proxy.dataplane import DataPlane
from shadowmesh.proxy.http11 import Headers
from shadowmesh.proxy.server import Listeners
from shadowmesh.routing.compile import compile_table
from shadowmesh.routing.table import MESH, ListenerSpec

CONFIG = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: svc}}
spec:
  hosts: [svc]
  ports: [{{number: 8000, name: http}}]
  resolution: STATIC
  endpoints:
  - {{address: 127.0.0.1, ports: {{http: {primary}}}, labels: {{version: v1}}}}
  - {{address: 127.0.0.1, ports: {{http: {shadow}}}, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: svc}}
spec:
  host: svc
  subsets: [{{name: v1, labels: {{version: v1}}}}, {{name: v2, labels: {{version: v2}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: svc}}
spec:
  hosts: [svc]
  http:
  - route: [{{destination: {{host: svc, subset: v1}}}}]
    mirror: {{host: svc, subset: v2}}
"""


@dataclass
class Recorder:
    primary: list[tuple[str, int, bytes]] = field(default_factory=list)
    shadow: list[tuple[str, int, bytes, str]] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def primary_response(self, request_id: str, status: int, headers: Headers, body: bytes,
                         latency_ms: float) -> None:
        self.primary.append((request_id, status, body))
        self._check()

    def shadow_response(self, copy: ShadowCopy, status: int, headers: Headers, body: bytes,
                        latency_ms: float) -> None:
        self.shadow.append((copy.request_id, status, body, copy.authority))
        self._check()

    def _check(self) -> None:
        if self.primary and self.shadow:
            self.done.set()


async def _backend(body: bytes, status: bytes) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: %d\r\n\r\n%b"
                         % (len(body), body))
            await writer.drain()

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handle(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(guarded, "127.0.0.1", 0)


async def _scenario() -> Recorder:
    primary = await _backend(b'{"answer": 1}', b"200 OK")
    shadow = await _backend(b'{"answer": 2}', b"201 Created")
    ports = [s.sockets[0].getsockname()[1] for s in (primary, shadow)]
    loaded = load_text(CONFIG.format(primary=ports[0], shadow=ports[1]), "capture.yaml")
    assert loaded.ok, loaded.issues
    dp = DataPlane()
    recorder = Recorder()
    dp.mirror.capture = recorder
    dp.set_table(compile_table(loaded.resources))
    listeners = Listeners(dp, reuse_port=False)
    server = await listeners.open(ListenerSpec(MESH, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /thing HTTP/1.1\r\nHost: svc:8000\r\nx-request-id: req-1\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert await reader.readexactly(13) == b'{"answer": 1}'
        await asyncio.wait_for(recorder.done.wait(), 5)
        writer.close()
    finally:
        listeners.close()
        await dp.drain(1.0)
        for s in (primary, shadow):
            s.close()
    return recorder


def test_primary_and_shadow_answers_reach_the_hook_with_one_request_id() -> None:
    recorder = asyncio.run(_scenario())
    assert recorder.primary == [("req-1", 200, b'{"answer": 1}')]
    assert recorder.shadow == [("req-1", 201, b'{"answer": 2}', "svc-shadow:8000")]
