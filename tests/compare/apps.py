"""A two-version API with planted differences, for the comparison's end-to-end tests.

Every answer carries random fields on both versions (a UUID, a timestamp). With
`planted=True`, version v2 differs from v1 in exactly these ways:
- GET /users/{id}:  JSON field `$.name` ("Ann" -> "ann");
- GET /items/{id}:  header `cache-control` ("max-age=60" -> "no-store");
- GET /orders/{id}: status (200 -> 500), same body;
- GET /slow/{id}:   30 ms slower, same answer.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ENDPOINTS = ("users", "items", "orders", "slow")


class _Handler(BaseHTTPRequestHandler):
    server: VersionedApi
    protocol_version = "HTTP/1.1"
    # The head and the body go out in two writes: with Nagle's algorithm the body waits for
    # the proxy's delayed ACK (40 ms) on a kept-alive connection, a delay of the same size
    # as the planted 30 ms that lands on either side at random.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        app = self.server
        parts = self.path.split("?")[0].strip("/").split("/")
        kind, ident = [*parts, ""][:2]
        with app.lock:
            app.requests[kind] = app.requests.get(kind, 0) + 1
        v2 = app.version == "v2" and app.planted
        status, headers = 200, {"content-type": "application/json"}
        body: dict[str, Any] = {"id": ident, "request_id": str(uuid.uuid4()),
                                "at": datetime.now(UTC).isoformat()}
        if kind == "users":
            body["name"] = "ann" if v2 else "Ann"
        elif kind == "items":
            headers["cache-control"] = "no-store" if v2 else "max-age=60"
        elif kind == "orders":
            status = 500 if v2 else 200
        elif kind == "slow" and v2:
            time.sleep(0.030)
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class VersionedApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, version: str, planted: bool) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.version = version
        self.planted = planted
        self.lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def __enter__(self) -> VersionedApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)
