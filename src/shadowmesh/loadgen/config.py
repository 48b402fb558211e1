"""What a load run is asked to do: `LoadConfig`, validated once, plus fortio's value syntaxes.

Everything the CLI accepts is turned into a `LoadConfig` here, so the library callers (the
demo, the benchmarks) and `shadowmesh load` share one set of rules and one set of messages.
Durations use Go's syntax (`5s`, `1m30s`, `250ms`) because that is what fortio users type.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import urlsplit

DEFAULT_PERCENTILES: tuple[float, ...] = (50.0, 75.0, 90.0, 99.0, 99.9)

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
# RFC 9110 token: what a header name may be made of
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


# set by the generator from -payload; a user value would desynchronise the connection
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})


class LoadConfigError(ValueError):
    """A setting is invalid; the message names the option and says what is accepted."""


class Endpoint(NamedTuple):
    """Where a URL points: `host` without brackets, `authority` as a Host header carries it."""

    host: str
    port: int
    authority: str
    target: str  # origin-form request target: path and query


def parse_duration(text: str) -> float:
    """Go/fortio duration (`5s`, `1m30s`, `1.5h`, `250ms`) or plain seconds (`2.5`) -> seconds."""
    s = text.strip()
    try:
        return float(s)
    except ValueError:
        pass
    pos, total = 0, 0.0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None:
            raise LoadConfigError(
                f"invalid duration {text!r}: use Go's syntax like 5s, 1m30s, 250ms or 2h"
            )
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if not s:
        raise LoadConfigError("invalid duration '': use Go's syntax like 5s, 1m30s or 250ms")
    return total


def format_duration(seconds: float) -> str:
    """Seconds -> Go's Duration.String() style (`5m0s`, `1.5s`, `250ms`), as fortio prints it."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds == 0:
        return "0s"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.6g}µs"
    if seconds < 1:
        return f"{seconds * 1e3:.6g}ms"
    hours, rest = divmod(seconds, 3600.0)
    minutes, secs = divmod(rest, 60.0)
    secs_text = f"{round(secs, 6):.6f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{secs_text}"
    if minutes:
        return f"{int(minutes)}m{secs_text}"
    return secs_text


def parse_percentiles(text: str) -> tuple[float, ...]:
    """fortio's `-p "50,75,90,99,99.9"` -> (50.0, 75.0, 90.0, 99.0, 99.9)."""
    values: list[float] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            values.append(float(item))
        except ValueError:
            raise LoadConfigError(
                f"-p: {item!r} is not a number; give a list like 50,75,90,99,99.9"
            ) from None
    if not values:
        raise LoadConfigError("-p: the percentile list is empty; give a list like 50,90,99")
    return tuple(values)


def parse_header(text: str) -> tuple[str, str]:
    """`-H "Name: value"` -> ("Name", "value")."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not _TOKEN.match(name):
        raise LoadConfigError(f"-H {text!r}: expected 'Name: value' with a valid header name")
    if "\r" in value or "\n" in value:
        raise LoadConfigError(f"-H {text!r}: a header value cannot contain a line break")
    return name, value


def parse_url(url: str, option: str = "URL") -> Endpoint:
    """`http://host:port/path?q` (scheme optional, as fortio allows) -> Endpoint."""
    text = url if "://" in url else "http://" + url
    parts = urlsplit(text)
    if parts.scheme != "http":
        raise LoadConfigError(
            f"{option} {url!r}: only http:// is supported (send TLS through a proxy that"
            " terminates it)"
        )
    try:
        port = parts.port or 80
    except ValueError:
        raise LoadConfigError(f"{option} {url!r}: the port is not a number in 1-65535") from None
    host = parts.hostname
    if not host:
        raise LoadConfigError(f"{option} {url!r}: no host; expected http://host:port/path")
    netloc = parts.netloc.rpartition("@")[2]  # user:password@ never goes into Host
    authority = netloc[:-3] if netloc.endswith(":80") else netloc
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Endpoint(host, port, authority, target)


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """One load run. `count` (fortio's -n) overrides `duration`; `qps == 0` means no pacing."""

    url: str
    qps: float = 8.0
    duration: float = 5.0  # seconds; used when count is None
    connections: int = 4
    count: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    method: str | None = None  # None: GET, or POST when there is a payload (as fortio does)
    payload: bytes = b""
    timeout: float = 3.0  # per request, connecting included
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES
    proxy: str | None = None  # forward proxy: requests go there in absolute form
    labels: str = ""
    resolution: float = 0.001  # width unit of the fortio-style histogram buckets, in seconds
    endpoint: Endpoint = field(init=False, repr=False, compare=False)
    proxy_endpoint: Endpoint | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not math.isfinite(self.qps) or self.qps < 0:
            raise LoadConfigError(f"-qps must be >= 0 (0 = as fast as possible), got {self.qps}")
        if self.count is None:
            if not math.isfinite(self.duration) or self.duration <= 0:
                raise LoadConfigError(
                    f"-t must be a positive duration, got {self.duration!r}; use -n for an"
                    " exact number of requests"
                )
        elif self.count < 1:
            raise LoadConfigError(f"-n must be at least 1, got {self.count}")
        if self.connections < 1:
            raise LoadConfigError(f"-c must be at least 1, got {self.connections}")
        if not math.isfinite(self.timeout) or self.timeout <= 0:
            raise LoadConfigError(f"-timeout must be a positive duration, got {self.timeout}")
        if not self.percentiles or any(not 0 < p <= 100 for p in self.percentiles):
            raise LoadConfigError(
                f"-p: percentiles must be in (0, 100], got {list(self.percentiles)}"
            )
        if not math.isfinite(self.resolution) or self.resolution <= 0:
            raise LoadConfigError(f"-r must be a positive number of seconds, got {self.resolution}")
        if self.method is not None and not _TOKEN.match(self.method):
            raise LoadConfigError(f"-X {self.method!r} is not a valid HTTP method name")
        for name, value in self.headers:
            parse_header(f"{name}: {value}")
            if name.lower() in FRAMING_HEADERS:
                raise LoadConfigError(
                    f"-H {name}: the body framing is set from -payload; remove this header"
                )
        # frozen: derived values are set once, through object.__setattr__
        object.__setattr__(self, "endpoint", parse_url(self.url))
        proxy = parse_url(self.proxy, "-proxy") if self.proxy is not None else None
        object.__setattr__(self, "proxy_endpoint", proxy)

    @property
    def effective_method(self) -> str:
        if self.method is not None:
            return self.method.upper()
        return "POST" if self.payload else "GET"

    @property
    def connect_to(self) -> Endpoint:
        """The endpoint the sockets connect to: the proxy when there is one."""
        return self.proxy_endpoint or self.endpoint

    @property
    def requested_qps(self) -> str:
        """fortio's RequestedQPS: the number as typed, or "max"."""
        return "max" if self.qps == 0 else f"{self.qps:g}"

    @property
    def requested_duration(self) -> str:
        """fortio's RequestedDuration: "5s", or "exactly 20 calls" with -n."""
        if self.count is not None:
            return f"exactly {self.count} calls"
        return format_duration(self.duration)
