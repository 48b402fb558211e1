"""httpbin v2 for the demo's third act: the real httpbin app with two changes planted in it.

httpbin v1 and v2 are the same code, so a comparison of the two would find nothing. This WSGI
middleware, wrapped around PyPI's httpbin and served by gunicorn like v1, makes v2 a plausible
"new version" whose differences are known in advance:

- `GET /json` answers with `slideshow.author` renamed to `slideshow.owner` (a regression a
  client would notice: the field it reads is gone);
- `GET /get` answers `ADDED_DELAY_MS` later (a latency regression).

Everything else, including httpbin's per-request values (`/uuid`), is httpbin's own answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

RENAMED_PATH = "/json"
RENAMED_FROM = "author"
RENAMED_TO = "owner"
SLOW_PATH = "/get"
ADDED_DELAY_MS = 40  # within the 30-50 ms the demo announces


def rename_field(body: bytes) -> bytes:
    """httpbin's /json document with `slideshow.author` renamed; other bodies unchanged."""
    try:
        doc: Any = json.loads(body)
    except ValueError:
        return body
    show = doc.get("slideshow") if isinstance(doc, dict) else None
    if not isinstance(show, dict) or RENAMED_FROM not in show:
        return body
    doc["slideshow"] = {(RENAMED_TO if k == RENAMED_FROM else k): v for k, v in show.items()}
    return (json.dumps(doc, indent=2) + "\n").encode("utf-8")


class PlantedChange:
    """The middleware: delays one path, rewrites the body of another."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == SLOW_PATH:
            time.sleep(ADDED_DELAY_MS / 1000)
        if path != RENAMED_PATH:
            return self.app(environ, start_response)
        captured: dict[str, Any] = {}
        chunks: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return chunks.append  # the legacy write() callable

        result = self.app(environ, capture)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        body = rename_field(b"".join(chunks))
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]


def planted_httpbin() -> WSGIApplication:
    """The app gunicorn serves as v2 (`shadowmesh.demo.planted:planted_httpbin()`)."""
    from httpbin import app  # the demo's backend; imported only in the gunicorn process

    return PlantedChange(app)
