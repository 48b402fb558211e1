"""Real upstreams on loopback: httpbin under gunicorn, and ports where nothing listens.

The recording server (our own, for exact control) lives in `recorder.py`.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

# The fields the mirroring tests look at: who asked, what, and with which Host.
ACCESS_FORMAT = '%(h)s %(t)s "%(r)s" %(s)s host="%({host}i)s" rid="%({x-request-id}i)s"'
_LINE = re.compile(
    r'^(?P<client>\S+) \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d+) '
    r'host="(?P<host>[^"]*)" rid="(?P<rid>[^"]*)"$'
)


def free_port() -> int:
    """A port that was free a moment ago (bind to 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def closed_port() -> int:
    """A loopback port where a connection is refused (nothing listens on it)."""
    return free_port()


@dataclass(frozen=True, slots=True)
class AccessLine:
    client: str
    time: str
    request: str  # "GET /get HTTP/1.1"
    status: int
    host: str
    request_id: str

    @property
    def method(self) -> str:
        return self.request.split(" ", 1)[0]

    @property
    def target(self) -> str:
        parts = self.request.split(" ")
        return parts[1] if len(parts) > 1 else ""


class HttpbinServer:
    """httpbin (the tutorials' backend) under gunicorn, with its own access log."""

    def __init__(self, name: str, workdir: Path, app: str = "httpbin:app") -> None:
        self.name = name
        self.app = app  # the WSGI app gunicorn serves (a planted change wraps httpbin)
        self.port = 0
        self.log_path = workdir / f"{name}-access.log"
        self.err_path = workdir / f"{name}-gunicorn.err"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> HttpbinServer:
        # gunicorn cannot report the port it bound for :0, so pick one and retry if taken.
        for _ in range(3):
            self.port = free_port()
            self.log_path.write_text("")
            with self.err_path.open("wb") as err:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{self.port}",
                     "--workers", "1", "--threads", "8", "--access-logfile", str(self.log_path),
                     "--access-logformat", ACCESS_FORMAT, self.app],
                    stdout=subprocess.DEVNULL, stderr=err,
                )
            if self._wait_ready(timeout):
                return self
            self.stop()
        raise RuntimeError(f"httpbin {self.name} did not start: {self.err_path.read_text()}")

    def _wait_ready(self, timeout: float) -> bool:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/status/200", timeout=1.0, trust_env=False)
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            # the probe is in the log now; start every test from a clean log
            self.wait_lines(1, timeout=5)
            self.log_path.write_text("")
            return True
        return False

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._proc = None

    def __enter__(self) -> HttpbinServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def lines(self) -> list[AccessLine]:
        out = []
        for raw in self.log_path.read_text().splitlines():
            m = _LINE.match(raw)
            if m:
                out.append(AccessLine(m["client"], m["time"], m["request"], int(m["status"]),
                                      m["host"], m["rid"]))
        return out

    def wait_lines(self, n: int, timeout: float = 10.0) -> list[AccessLine]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.lines()
            if len(got) >= n or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    def settle(self, quiet: float = 0.5, timeout: float = 10.0) -> list[AccessLine]:
        """The log once it stopped growing (mirrored copies arrive after the primary)."""
        deadline = time.monotonic() + timeout
        last = -1
        while time.monotonic() < deadline:
            n = len(self.lines())
            if n == last:
                break
            last = n
            time.sleep(quiet)
        return self.lines()

    def clear_log(self) -> None:
        self.log_path.write_text("")
