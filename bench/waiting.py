"""Bounded waits for servers to come up, and a tiny loopback HTTP GET for their counters."""

from __future__ import annotations

import http.client
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path

POLL_S = 0.05


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(port: int, timeout_s: float, alive: Callable[[], bool]) -> bool:
    """True once something accepts on 127.0.0.1:`port`; False on timeout or if it died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive():
        if port_open(port):
            return True
        time.sleep(POLL_S)
    return False


def wait_for_lines(
    log: Path, patterns: list[re.Pattern[str]], timeout_s: float, alive: Callable[[], bool]
) -> list[re.Match[str]] | None:
    """Poll a log file until every pattern has matched a line; None on timeout or exit.

    Servers write their "listening on" lines to a file, never to a pipe we would have to
    keep draining while the benchmark runs.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            text = log.read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        found = [p.search(text) for p in patterns]
        matches = [m for m in found if m is not None]
        if len(matches) == len(patterns):
            return matches
        if not alive():
            return None
        time.sleep(POLL_S)
    return None


def http_get(port: int, path: str, timeout_s: float = 5.0) -> bytes:
    """GET http://127.0.0.1:`port``path` directly (never through an http_proxy setting)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise OSError(f"GET 127.0.0.1:{port}{path} answered {response.status}")
        return body
    finally:
        conn.close()
