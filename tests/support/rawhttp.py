"""A deliberately dumb HTTP/1.1 client over a raw socket.

httpx cannot send malformed requests, pipeline, use absolute-form targets or wait for
`100 Continue`; this can, and it shows exactly what came back on the wire.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class RawResponse:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    chunked: bool = False

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)

    def header_names(self) -> set[str]:
        return {k.lower() for k, _ in self.headers}


class RawConnection:
    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = bytearray()
        self.eof = False

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
        self.buf += data

    def _until(self, sep: bytes) -> bytes:
        while (idx := self.buf.find(sep)) < 0:
            if self.eof:
                raise ConnectionError(f"connection closed; got {bytes(self.buf)[:200]!r}")
            self._fill()
        out = bytes(self.buf[:idx])
        del self.buf[: idx + len(sep)]
        return out

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if self.eof:
                raise ConnectionError("connection closed inside a body")
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_response(self, method: str = "GET") -> RawResponse:
        """One response (an interim 1xx counts as one: call again for the final answer)."""
        head = self._until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        version, _, rest = head[0].partition(" ")
        code, _, reason = rest.partition(" ")
        resp = RawResponse(version, int(code), reason)
        for line in head[1:]:
            k, _, v = line.partition(":")
            resp.headers.append((k, v.strip()))
        if method == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200:
            return resp
        te = (resp.header("transfer-encoding") or "").lower()
        if "chunked" in te:
            resp.chunked = True
            body = bytearray()
            while True:
                size = int(self._until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    while self._until(b"\r\n"):
                        pass
                    break
                body += self._exact(size)
                self._exact(2)
            resp.body = bytes(body)
        elif (length := resp.header("content-length")) is not None:
            resp.body = self._exact(int(length))
        else:
            while not self.eof:
                self._fill()
            resp.body = bytes(self.buf)
            self.buf.clear()
        return resp

    def read_final(self, method: str = "GET") -> RawResponse:
        """The final response, skipping interim 1xx answers (except 101)."""
        while True:
            resp = self.read_response(method)
            if resp.status >= 200 or resp.status == 101:
                return resp

    def is_closed(self, wait: float = 2.0) -> bool:
        """True if the peer closed the connection within `wait` seconds (no data pending)."""
        deadline = time.monotonic() + wait
        self.sock.settimeout(0.1)
        try:
            while time.monotonic() < deadline and not self.eof:
                try:
                    self._fill()
                except TimeoutError:
                    continue
                except ConnectionError:
                    return True
        finally:
            self.sock.settimeout(10.0)
        return self.eof

    def recv_some(self, timeout: float = 5.0) -> bytes:
        """Whatever is buffered or arrives next (for upgraded connections)."""
        if not self.buf:
            self.sock.settimeout(timeout)
            try:
                self._fill()
            finally:
                self.sock.settimeout(10.0)
        out = bytes(self.buf)
        self.buf.clear()
        return out


def exchange(port: int, data: bytes, method: str = "GET", timeout: float = 10.0) -> RawResponse:
    """Send `data` on a new connection and read one final response."""
    with RawConnection(port, timeout) as conn:
        conn.send(data)
        return conn.read_final(method)


def request_bytes(method: str, target: str, host: str, headers: list[tuple[str, str]] | None = None,
                  body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers or []]
    if body and not any(k.lower() in ("content-length", "transfer-encoding")
                        for k, _ in headers or []):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
