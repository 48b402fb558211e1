"""`shadowmesh run` as a real subprocess, the way a user starts it.

The process binds port 0 for both listeners and tells us the ports on stderr:
    shadowmesh: listening on http://127.0.0.1:PORT
    shadowmesh: admin on http://127.0.0.1:PORT
We keep reading stderr in a thread for the whole life of the process, both so tests can look
at what it said (validation errors on reload) and so a full pipe never blocks it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tests.support import accesslog

LISTEN = re.compile(r"shadowmesh: listening on http://([\d.]+):(\d+)")
ADMIN = re.compile(r"shadowmesh: admin on http://([\d.]+):(\d+)")
READY_TIMEOUT = 20.0


class ShadowmeshProcess:
    def __init__(
        self, config: str, workdir: Path, args: tuple[str, ...] = (), workers: int | None = None
    ) -> None:
        self.workdir = workdir
        self.config_dir = workdir / "config"
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.config_file = self.config_dir / "mesh.yaml"
        self.config_file.write_text(config)
        self.args = args
        self.access_log = workdir / "access.log"
        self.workers = workers
        self.port = 0
        self.admin_port = 0
        self.returncode: int | None = None
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    # lifecycle -------------------------------------------------------------------------
    def start(self) -> ShadowmeshProcess:
        cmd = [sys.executable, "-m", "shadowmesh", "run", "-f", str(self.config_dir),
               "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]
        if self.workers is not None:
            cmd += ["--workers", str(self.workers)]
        if "--access-log" not in self.args:
            cmd += ["--access-log", str(self.access_log)]
        cmd += list(self.args)
        # Comparison reports go to a store of the test's own, never the user's
        # ($XDG_STATE_HOME/shadowmesh/compare.db keeps every earlier run's pairs).
        env = dict(os.environ, PYTHONUNBUFFERED="1", XDG_STATE_HOME=str(self.workdir / "state"))
        # its own process group, so that a kill reaches worker processes too
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, cwd=self.workdir, env=env,
                                      start_new_session=True)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + READY_TIMEOUT
        with self._cond:
            while not (self.port and self.admin_port):
                left = deadline - time.monotonic()
                if left <= 0 or (self._proc.poll() is not None and not self._reader.is_alive()):
                    break
                self._cond.wait(min(left, 0.2))
        if not (self.port and self.admin_port):
            self.kill()
            raise AssertionError(
                f"shadowmesh did not become ready within {READY_TIMEOUT}s "
                f"(exit code {self.returncode}); stderr:\n{self.stderr}"
            )
        return self

    def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for raw in self._proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self._lines.append(line)
                if not self.port and (m := LISTEN.search(line)):
                    self.port = int(m[2])
                if not self.admin_port and (m := ADMIN.search(line)):
                    self.admin_port = int(m[2])
                self._cond.notify_all()

    def stop(self, timeout: float = 10.0, check: bool = True) -> int:
        """Graceful stop: SIGTERM, kill after `timeout`. Asserts exit code 0 unless told not to."""
        assert self._proc is not None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(
                    f"shadowmesh ignored SIGTERM for {timeout}s; stderr:\n{self.stderr}"
                ) from None
        self._finish()
        assert self.returncode is not None
        if check:
            assert self.returncode == 0, (
                f"exit code {self.returncode} after SIGTERM; stderr:\n{self.stderr}"
            )
        return self.returncode

    def stop_gracefully(self) -> None:
        """SIGTERM and assert a clean exit (same as `stop()`)."""
        self.stop(check=True)

    def terminate(self) -> None:
        """Send SIGTERM and return at once (to look at the process while it drains)."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the whole process group (workers included); a no-op once it has exited."""
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)  # the group outlives an exited parent
        self._finish()

    def _finish(self) -> None:
        if self._proc is None:
            return
        self.returncode = self._proc.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=5)

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> ShadowmeshProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()

    # configuration changes -------------------------------------------------------------
    def reload(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGHUP)

    def write_config(self, config: str, name: str = "mesh.yaml") -> None:
        """Replace a config file atomically (as editors and kubectl-style tools do)."""
        tmp = self.config_dir / f".{name}.tmp"
        tmp.write_text(config)
        tmp.replace(self.config_dir / name)

    # what it said ----------------------------------------------------------------------
    @property
    def stderr(self) -> str:
        with self._cond:
            return "\n".join(self._lines)

    def wait_stderr(self, pattern: str, timeout: float = 10.0, after: int = 0) -> str | None:
        """First stderr line (from line index `after`) matching the regex, or None."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._lines[after:]:
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def stderr_mark(self) -> int:
        with self._cond:
            return len(self._lines)

    def admin_get(self, path: str) -> httpx.Response:
        return httpx.get(self.admin_url + path, timeout=10.0, trust_env=False)

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Sum of the samples of `name` whose labels include `labels` (0 if none)."""
        text = self.admin_get("/metrics").text
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name != name:
                    continue
                if labels and any(sample.labels.get(k) != v for k, v in labels.items()):
                    continue
                total += sample.value
        return total

    def access_entries(self) -> list[accesslog.AccessEntry]:
        return accesslog.read(self.access_log)

    def wait_access(
        self, pred: Callable[[accesslog.AccessEntry], bool], n: int = 1, timeout: float = 10.0
    ) -> list[accesslog.AccessEntry]:
        return accesslog.wait_for(self.access_log, pred, n, timeout)

    def access_log_flags(self, status: int, expect: int = 1) -> list[str]:
        """Flags of the logged responses with `status` (waits for `expect` of them)."""
        entries = self.wait_access(lambda e: e.status == status, expect)
        return [flag for e in entries for flag in sorted(e.flag_set)]

    def rss_bytes(self) -> int:
        """Resident memory of the process (Linux /proc)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0
