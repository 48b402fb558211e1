"""A RecordingServer in its own process, for tests that measure the client's latency.

A server thread inside the test process shares the GIL with the threads that time requests,
so a busy upstream (e.g. a slow shadow accepting hundreds of copies) would show up as
"latency" that the proxy never added. Run as `python -m tests.support.server_process
--delay 5`: prints `PORT <n>`, serves until SIGTERM, then prints `REQUESTS <n>`.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.support.recorder import RecordingServer
from tests.support.responder import Behavior

ROOT = Path(__file__).resolve().parent.parent.parent


class ServerProcess:
    def __init__(self, name: str, delay: float = 0.0, status: int = 200) -> None:
        self.args = ["--name", name, "--delay", str(delay), "--status", str(status)]
        self.port = 0
        self.requests = -1  # known after stop()
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> ServerProcess:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.server_process", *self.args],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, cwd=ROOT,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()  # bounded: the child prints it or exits
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"server process did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def stop(self) -> int:
        """Stop it and return how many requests it received."""
        if self._proc is None:
            return self.requests
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self._proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            out, _ = self._proc.communicate(timeout=10)
        for line in out.splitlines():
            if line.startswith("REQUESTS "):
                self.requests = int(line.split()[1])
        self._proc = None
        return self.requests

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="backend")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--status", type=int, default=200)
    opts = parser.parse_args()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with RecordingServer(opts.name) as server:
        server.set_default(Behavior(status=opts.status, delay=opts.delay))
        print(f"PORT {server.port}", flush=True)
        while not done.wait(0.2):
            pass
        print(f"REQUESTS {server.count()}", flush=True)


if __name__ == "__main__":
    main()
