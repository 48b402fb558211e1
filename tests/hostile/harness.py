"""A shadowmesh process in front of one `RawBackend`, and a client that reads whatever comes
back: the answers in order, then whether the connection was closed."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.hostile.rawbackend import RawBackend, raw_backend
from tests.support.proxy import ShadowmeshProcess
from tests.support.rawhttp import RawConnection, RawResponse

HOST = b"svc"

CONFIG = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: svc}}
spec:
  hosts: [svc]
  ports: [{{number: 8000, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints:
  - {{address: 127.0.0.1, ports: {{http: {port}}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: svc}}
spec:
  host: svc
  trafficPolicy:
    # one upstream connection for everything: a desync or a leak cannot hide
    connectionPool: {{tcp: {{maxConnections: 1}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: svc}}
spec:
  hosts: [svc]
  http:
  - route: [{{destination: {{host: svc}}}}]
"""


@dataclass
class Stack:
    proxy: ShadowmeshProcess
    backend: RawBackend

    @property
    def port(self) -> int:
        return self.proxy.port


@contextmanager
def stack(workdir: Path, *args: str) -> Iterator[Stack]:
    """A proxy (extra `args` for `shadowmesh run`; access log off unless they name one)."""
    if "--access-log" not in args:
        args = ("--access-log", "off", *args)
    with raw_backend() as backend:
        proxy = ShadowmeshProcess(CONFIG.format(port=backend.port), workdir, args)
        proxy.start()
        try:
            yield Stack(proxy, backend)
        finally:
            proxy.kill()


@dataclass
class Outcome:
    responses: list[RawResponse] = field(default_factory=list)
    closed: bool = False
    error: str | None = None

    @property
    def statuses(self) -> list[int]:
        return [r.status for r in self.responses]


def send_and_read(port: int, pieces: tuple[bytes, ...], expected: int, head: bool = False,
                  close_wait: float = 1.0, pause: float = 0.02) -> Outcome:
    """Send `pieces` (with a short pause between them), read up to `expected` final answers,
    then see whether the proxy closes the connection within `close_wait` seconds."""
    out = Outcome()
    with RawConnection(port, timeout=5.0) as conn:
        for i, piece in enumerate(pieces):
            if i:
                time.sleep(pause)
            try:
                conn.send(piece)
            except OSError as exc:  # the proxy refused and closed early: fine
                out.error = f"send: {exc}"
                break
        for _ in range(expected):
            try:
                out.responses.append(conn.read_final("HEAD" if head else "GET"))
            except (ConnectionError, OSError, ValueError) as exc:
                out.error = f"read: {exc}"
                out.closed = True
                return out
        out.closed = _closed(conn, close_wait)
    return out


def _closed(conn: RawConnection, wait: float) -> bool:
    try:
        return conn.is_closed(wait)
    except OSError:
        return True


def get(port: int, target: str) -> RawResponse:
    """One ordinary request on a new connection."""
    with RawConnection(port, timeout=5.0) as conn:
        conn.send(b"GET %b HTTP/1.1\r\nHost: svc\r\n\r\n" % target.encode())
        return conn.read_final()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5.0)
