"""Reading the access logs the demo shows and checks (pure parsing, plus file reads).

httpbin's gunicorn writes one line per request in `HTTPBIN_LOG_FORMAT`:

    [21/Nov/2026:19:50:11 +0000] "GET /headers HTTP/1.1" 200 Host=httpbin:8000 x-request-id=...

The proxy writes Envoy's default text line, in which the request id is a quoted field; the
demo only looks lines up by that id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# Host and x-request-id are what the mirroring task looks at: who got the request, and which
# primary request a shadow copy belongs to.
HTTPBIN_LOG_FORMAT = '%(t)s "%(r)s" %(s)s Host=%({host}i)s x-request-id=%({x-request-id}i)s'

_HTTPBIN_LINE = re.compile(
    r'^\[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) '
    r"Host=(?P<host>\S*) x-request-id=(?P<rid>\S*)$"
)
_GUNICORN_TIME = "%d/%b/%Y:%H:%M:%S %z"
NO_VALUE = "-"  # what gunicorn writes for a header the request did not carry


@dataclass(frozen=True, slots=True)
class HttpbinLine:
    raw: str
    time: datetime | None  # whole seconds, as gunicorn logs them; None if unreadable
    method: str
    target: str  # path and query
    status: int
    host: str
    request_id: str | None

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


def parse_httpbin_line(raw: str) -> HttpbinLine | None:
    """One gunicorn access-log line in `HTTPBIN_LOG_FORMAT`, or None for anything else."""
    m = _HTTPBIN_LINE.match(raw.rstrip("\r\n"))
    if m is None:
        return None
    try:
        when: datetime | None = datetime.strptime(m["time"], _GUNICORN_TIME)
    except ValueError:
        when = None
    method, _, rest = m["request"].partition(" ")
    target = rest.rsplit(" ", 1)[0] if " " in rest else rest
    rid = m["rid"]
    return HttpbinLine(
        raw=raw.rstrip("\r\n"),
        time=when,
        method=method,
        target=target,
        status=int(m["status"]),
        host=m["host"],
        request_id=None if rid in ("", NO_VALUE) else rid,
    )


def parse_httpbin_log(text: str) -> list[HttpbinLine]:
    return [line for raw in text.splitlines() if (line := parse_httpbin_line(raw)) is not None]


def read_httpbin_log(path: Path) -> list[HttpbinLine]:
    try:
        return parse_httpbin_log(path.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        return []


def requests_to(lines: Sequence[HttpbinLine], path: str) -> list[HttpbinLine]:
    """The lines of requests for `path` (the load's path; probes and strays are left out)."""
    return [line for line in lines if line.path == path]


def proxy_lines_for(text: str, request_id: str) -> list[str]:
    """The proxy access-log lines of one request id: the primary's and its shadow copy's.

    Envoy's text format quotes the id (`"%REQ(X-REQUEST-ID)%"`), so the quoted form is
    matched; JSON lines carry it as `"request_id":"..."`, which contains the same text.
    """
    needle = f'"{request_id}"'
    return [raw for raw in text.splitlines() if needle in raw]


def read_proxy_lines_for(path: Path, request_id: str) -> list[str]:
    try:
        return proxy_lines_for(path.read_text(encoding="utf-8", errors="replace"), request_id)
    except FileNotFoundError:
        return []
