"""One service with several recorded versions behind a running shadowmesh.

Most end-to-end tests need the same picture: service `svc` (port 8000) with versions v1, v2...
each served by its own `RecordingServer`, subsets by `version`, and one VirtualService whose
`http` rules are the thing under test. `Mesh` holds that picture and a client that speaks to
the proxy with `Host: svc:8000`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import httpx
from tests.support.proxy import ShadowmeshProcess
from tests.support.recorder import RecordingServer


def client(
    proxy: ShadowmeshProcess, host: str | None = None, timeout: float = 10.0
) -> httpx.Client:
    """A keep-alive client for the proxy's listener, sending `Host: host` by default."""
    headers = {"host": host} if host else {}
    return httpx.Client(base_url=proxy.url, headers=headers, timeout=timeout, trust_env=False)


class Mesh:
    def __init__(
        self,
        proxy: ShadowmeshProcess,
        backends: dict[str, RecordingServer],
        host: str = "svc",
        port: int = 8000,
    ) -> None:
        self.proxy = proxy
        self.backends = backends
        self.host = host
        self.port = port
        self.authority = f"{host}:{port}"
        self.client = client(proxy, self.authority)

    def request(
        self, method: str = "GET", path: str = "/", host: str | None = None, **kw: Any
    ) -> httpx.Response:
        if host is not None:
            headers = dict(kw.pop("headers", None) or {})
            headers["host"] = host
            kw["headers"] = headers
        return self.client.request(method, path, **kw)

    def get(self, path: str = "/", **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def served_by(self, path: str = "/", method: str = "GET", **kw: Any) -> str | None:
        """Which backend answered (its name), or None if no backend did (e.g. 404/503)."""
        resp = self.request(method, path, **kw)
        name: str | None = resp.headers.get("x-backend")
        return name

    def spread(self, n: int, path: str = "/", **kw: Any) -> Counter[str | None]:
        """Who served each of n identical requests."""
        return Counter(self.served_by(path, **kw) for _ in range(n))

    def counts(self, names: Iterable[str] | None = None) -> dict[str, int]:
        """How many requests each backend has received so far."""
        return {n: self.backends[n].count() for n in (names or self.backends)}

    def total_received(self) -> int:
        return sum(b.count() for b in self.backends.values())

    def close(self) -> None:
        self.client.close()
