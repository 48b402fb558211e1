"""httpbin v1 and v2 as real servers: PyPI's httpbin app under gunicorn on loopback.

Each version is its own gunicorn (one worker, a few threads so keep-alive connections from
the proxy are served) with its own access log in the working directory, written in
`HTTPBIN_LOG_FORMAT` so the Host and x-request-id of every request show. v2 serves httpbin
behind the demo's planted change (demo/planted.py), which the third act's comparison finds.
"""

from __future__ import annotations

import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from shadowmesh.demo import DemoError
from shadowmesh.demo.logs import HTTPBIN_LOG_FORMAT, read_httpbin_log
from shadowmesh.demo.processes import Child, Children

VERSIONS = ("v1", "v2")
# The WSGI app each version's gunicorn serves.
APPS = {"v1": "httpbin:app", "v2": "shadowmesh.demo.planted:planted_httpbin()"}
START_ATTEMPTS = 3  # a port picked free can be taken before gunicorn binds it
READY_TIMEOUT_S = 30.0
PROBE_PATH = "/status/200"
# urllib would otherwise send loopback requests to $http_proxy
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A loopback port that was free a moment ago (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def gunicorn_argv(port: int, access_log: Path, app: str = APPS["v1"]) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn",
        "-b", f"127.0.0.1:{port}",
        "--workers", "1",
        "--threads", "8",
        "--graceful-timeout", "2",
        "--access-logfile", str(access_log),
        "--access-logformat", HTTPBIN_LOG_FORMAT,
        app,
    ]  # fmt: skip


@dataclass(slots=True)
class HttpbinBackend:
    version: str
    port: int
    access_log: Path
    error_log: Path
    child: Child

    @property
    def name(self) -> str:
        return f"httpbin-{self.version}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _answers(url: str) -> bool:
    try:
        with _OPENER.open(url, timeout=1.0) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def _spawn(children: Children, version: str, workdir: Path) -> HttpbinBackend:
    name = f"httpbin-{version}"
    access_log = workdir / f"{name}.access.log"
    error_log = workdir / f"{name}.gunicorn.log"
    access_log.write_text("")
    port = free_port()
    with error_log.open("wb") as err:  # the child keeps its own descriptor
        argv = gunicorn_argv(port, access_log, APPS[version])
        child = children.start(name, argv, stderr=err, cwd=workdir)
    return HttpbinBackend(version, port, access_log, error_log, child)


def _wait_ready(backend: HttpbinBackend, deadline: float) -> bool:
    """True once it answers; its probe is then cleared from the log so the log starts empty."""
    while time.monotonic() < deadline:
        if not backend.child.alive:
            return False
        if _answers(backend.url + PROBE_PATH):
            # gunicorn logs after answering: wait for the probe's line before clearing
            while not read_httpbin_log(backend.access_log) and time.monotonic() < deadline:
                time.sleep(0.05)
            backend.access_log.write_text("")
            return True
        time.sleep(0.1)
    return False


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def start_httpbins(children: Children, workdir: Path) -> dict[str, HttpbinBackend]:
    """Start every version (in parallel) and wait until each answers; version -> backend."""
    pending = {version: _spawn(children, version, workdir) for version in VERSIONS}
    ready: dict[str, HttpbinBackend] = {}
    for version in VERSIONS:
        backend = pending[version]
        for attempt in range(1, START_ATTEMPTS + 1):
            if _wait_ready(backend, time.monotonic() + READY_TIMEOUT_S):
                ready[version] = backend
                break
            backend.child.stop()
            if attempt == START_ATTEMPTS:
                raise DemoError(
                    f"{backend.name} (gunicorn) did not start on 127.0.0.1:{backend.port}; "
                    f"its log {backend.error_log} ends with:\n{_tail(backend.error_log)}"
                )
            backend = _spawn(children, version, workdir)
    return ready
