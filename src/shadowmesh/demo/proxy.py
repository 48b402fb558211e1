"""`shadowmesh run` as the demo's child process, and applying YAML through its admin API.

The proxy binds port 0 for both listeners and announces the ports on stderr:

    shadowmesh: listening on http://127.0.0.1:PORT
    shadowmesh: admin on http://127.0.0.1:PORT

A thread reads stderr for the whole life of the process, both to catch those lines and so a
full pipe never blocks the proxy; every line is also kept in WORKDIR/shadowmesh.log.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shadowmesh.demo import DemoError
from shadowmesh.demo.processes import Child, Children

READY_TIMEOUT_S = 30.0
ADMIN_TIMEOUT_S = 10.0
TOKEN_ENV = "SHADOWMESH_ADMIN_TOKEN"  # `shadowmesh run` requires it for writes when set
_LISTENING = re.compile(r"^shadowmesh: listening on (http://\S+)")
_ADMIN = re.compile(r"^shadowmesh: admin on (http://\S+)")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


COMPARE_STORE = "compare.db"  # in the working directory, fresh for every run


def run_argv(files: Sequence[Path], access_log: Path, compare_store: Path) -> list[str]:
    argv = [sys.executable, "-m", "shadowmesh", "run"]
    for path in files:
        argv += ["-f", str(path)]
    argv += [
        "--listen", "127.0.0.1:0",
        "--admin", "127.0.0.1:0",
        "--access-log", str(access_log),
        # Step 3's report must count this run's pairs only, and the demo must not write
        # into the user's own store ($XDG_STATE_HOME/shadowmesh/compare.db), which keeps
        # every earlier run's pairs.
        "--compare-store", f"sqlite:///{compare_store.resolve()}",
        # The task shows v2's copies with Host httpbin-shadow:8000 (Istio <= 1.27, Envoy):
        # ask for it rather than rely on the default.
        "--shadow-host-suffix",
        "--drain-timeout", "2s",
    ]  # fmt: skip
    return argv


@dataclass(slots=True)
class ProxyProcess:
    child: Child
    log_path: Path
    url: str = ""
    admin_url: str = ""
    lines: list[str] = field(default_factory=list)
    _ready: threading.Condition = field(default_factory=threading.Condition)

    def read_stderr(self) -> None:
        stream = self.child.popen.stderr
        assert stream is not None
        with self.log_path.open("w", encoding="utf-8") as log:
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                log.write(line + "\n")
                log.flush()
                with self._ready:
                    self.lines.append(line)
                    if not self.url and (m := _LISTENING.match(line)):
                        self.url = m[1]
                    if not self.admin_url and (m := _ADMIN.match(line)):
                        self.admin_url = m[1]
                    self._ready.notify_all()
        with self._ready:
            self._ready.notify_all()

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._ready:
            while not (self.url and self.admin_url):
                left = deadline - time.monotonic()
                if left <= 0 or not self.child.alive:
                    break
                self._ready.wait(min(left, 0.2))
            return bool(self.url and self.admin_url)

    def said(self, last: int = 20) -> str:
        with self._ready:
            return "\n".join(self.lines[-last:]) or "(nothing)"


def start_proxy(
    children: Children, files: Sequence[Path], workdir: Path, access_log: Path
) -> ProxyProcess:
    access_log.write_text("")
    store = workdir / COMPARE_STORE
    for leftover in (store, store.with_name(f"{store.name}-wal"),
                     store.with_name(f"{store.name}-shm")):
        leftover.unlink(missing_ok=True)  # an earlier run's report
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    argv = run_argv(files, access_log, store)
    child = children.start("shadowmesh", argv, stderr=subprocess.PIPE, cwd=workdir, env=env)
    proxy = ProxyProcess(child, workdir / "shadowmesh.log")
    threading.Thread(target=proxy.read_stderr, name="shadowmesh-stderr", daemon=True).start()
    if not proxy.wait_ready(READY_TIMEOUT_S):
        state = "exited" if not child.alive else f"did not say so within {READY_TIMEOUT_S:g} s"
        raise DemoError(
            f"shadowmesh run did not start ({state}); it said:\n{proxy.said()}"
        )
    return proxy


@dataclass(frozen=True, slots=True)
class Applied:
    """The admin API's answer to an apply: kubectl's `... configured` lines and issues."""

    ok: bool
    changed: list[str]
    errors: list[str]
    warnings: list[str]


def _issues(body: dict[str, Any], level: str) -> list[str]:
    """The issues of one level, each as its full text without the leading `level: `."""
    out = []
    for issue in body.get("issues", []):
        if issue.get("level") != level:
            continue
        text = str(issue.get("text") or issue.get("message"))
        out.append(text.removeprefix(f"{level}: "))
    return out


def apply_yaml(admin_url: str, text: str, source: str) -> Applied:
    """POST the YAML to `{admin}/api/v1/resources`, as `shadowmesh apply -f` does."""
    query = urllib.parse.urlencode({"source": source})
    headers = {"Content-Type": "application/yaml", "Accept": "application/json"}
    token = os.environ.get(TOKEN_ENV)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{admin_url}/api/v1/resources?{query}",
        data=text.encode("utf-8"),
        headers=headers,
        method="POST",
    )
    try:
        with _OPENER.open(request, timeout=ADMIN_TIMEOUT_S) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        if exc.code != 422:  # 422 is a validation answer, with issues; others are not
            raise DemoError(
                f"the admin API at {admin_url} refused the apply: HTTP {exc.code} "
                f"{raw[:300].decode('utf-8', 'replace')}"
            ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DemoError(f"cannot reach the admin API at {admin_url}: {exc}") from exc
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise DemoError(f"the admin API answered something else than JSON: {raw[:200]!r}") from exc
    return Applied(
        ok=bool(body.get("ok")),
        changed=[str(line) for line in body.get("changed", [])],
        errors=_issues(body, "error"),
        warnings=_issues(body, "warning"),
    )
