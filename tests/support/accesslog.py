"""Reading shadowmesh's access log (Istio's default text format) back in tests."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# [START] "METHOD PATH PROTO" CODE FLAGS DETAILS TERMINATION "FAILURE" RX TX DURATION
# UPSTREAM_TIME "XFF" "UA" "REQUEST_ID" "AUTHORITY" "UPSTREAM_HOST" CLUSTER ...
_LINE = re.compile(
    r'^\[(?P<start>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) (?P<proto>[^"]+)" '
    r"(?P<status>\d+) (?P<flags>\S+) (?P<details>\S+) \S+ "
    r'"[^"]*" \d+ \d+ (?P<duration>\d+) \S+ '
    r'"[^"]*" "[^"]*" "(?P<rid>[^"]*)" "(?P<authority>[^"]*)" '
    r'"(?P<upstream_host>[^"]*)" (?P<cluster>\S+)'
)


@dataclass(frozen=True, slots=True)
class AccessEntry:
    method: str
    path: str
    status: int
    flags: str  # "-" or comma-separated Envoy flags
    details: str
    request_id: str
    authority: str
    upstream_host: str
    cluster: str
    raw: str
    duration_ms: int = 0

    @property
    def flag_set(self) -> set[str]:
        return set() if self.flags == "-" else set(self.flags.split(","))


def parse(text: str) -> list[AccessEntry]:
    out = []
    for raw in text.splitlines():
        m = _LINE.match(raw)
        if m:
            out.append(AccessEntry(m["method"], m["path"], int(m["status"]), m["flags"],
                                   m["details"], m["rid"], m["authority"], m["upstream_host"],
                                   m["cluster"], raw, int(m["duration"])))
    return out


def read(path: Path) -> list[AccessEntry]:
    return parse(path.read_text()) if path.exists() else []


def wait_for(
    path: Path, pred: Callable[[AccessEntry], bool], n: int = 1, timeout: float = 10.0
) -> list[AccessEntry]:
    """Entries matching `pred`, once there are at least n (the log is written in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        got = [e for e in read(path) if pred(e)]
        if len(got) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.1)
