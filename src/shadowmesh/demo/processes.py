"""Child processes the demo owns, and stopping every one of them whatever happens.

Each child starts in its own session (`start_new_session=True`), so it is the leader of a
process group holding everything it forks (gunicorn's workers, for one). Stopping signals
the whole group: SIGTERM, a grace period, then SIGKILL. Being in their own session also
keeps the children out of the terminal's Ctrl-C: the demo decides when and how they stop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

STOP_TIMEOUT_S = 10.0  # SIGTERM -> SIGKILL; the proxy drains and gunicorn stops its workers
KILL_TIMEOUT_S = 5.0


class Child:
    """One started process (and its process group)."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes]) -> None:
        self.name = name
        self.popen = popen

    def __repr__(self) -> str:
        state = "running" if self.alive else f"exited {self.popen.returncode}"
        return f"<Child {self.name} pid={self.pid} {state}>"

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, sig: signal.Signals) -> None:
        # The group id is the leader's pid (its own session); the group lives on after the
        # leader exits if anything it forked survived, which is why it is signalled as a whole.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Terminate the group, wait up to `timeout`, then kill what is left."""
        if self.alive:
            self.signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        # Whatever is still in the group (a stuck leader, or an orphaned worker) goes now.
        self.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=KILL_TIMEOUT_S)
        for stream in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class Children:
    """Every process the demo started, stopped together in reverse order of starting."""

    def __init__(self) -> None:
        self._children: list[Child] = []

    def __repr__(self) -> str:
        return f"<Children {self._children!r}>"

    def __iter__(self) -> Iterator[Child]:
        return iter(list(self._children))

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        stdout: IO[bytes] | int | None = subprocess.DEVNULL,
        stderr: IO[bytes] | int | None = subprocess.DEVNULL,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> Child:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        child = Child(name, popen)
        self._children.append(child)
        return child

    def dead(self) -> list[Child]:
        """Children that exited on their own."""
        return [child for child in self._children if not child.alive]

    def stop_all(self) -> None:
        """Stop every child: SIGTERM to all groups first, so they wind down in parallel."""
        started = time.monotonic()
        for child in reversed(self._children):
            if child.alive:
                child.signal_group(signal.SIGTERM)
        for child in reversed(self._children):
            left = max(0.5, STOP_TIMEOUT_S - (time.monotonic() - started))
            child.stop(timeout=left)
        self._children.clear()
