"""Every process the harness starts goes through one `Supervisor`, which stops them all.

Each child gets its own session (so its process group holds nginx's workers or shadowmesh's
worker processes too, and a Ctrl-C in the terminal reaches only the harness, which then
stops the children in order). Stopping is SIGTERM to the group, a bounded wait, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from bench.tools import affinity_setter

STOP_GRACE_S = 10.0


class StartError(Exception):
    """A server did not come up; the message carries the tail of its log."""


@dataclass(eq=False)
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def failure(self, what: str) -> StartError:
        state = "running" if self.alive() else f"exited with {self.popen.returncode}"
        return StartError(f"{self.name} {what} ({state}); last lines of {self.log}:\n"
                          f"{self.log_tail()}")


@dataclass
class Supervisor:
    """Starts children in `workdir` and stops whatever is still running on `close()`."""

    workdir: Path
    env: dict[str, str] | None = None
    children: list[Child] = field(default_factory=list)

    def start(
        self, name: str, argv: Sequence[str], cpus: frozenset[int] | None = None
    ) -> Child:
        # A fresh log per start: ready lines ("listening on ...PORT") of an earlier process
        # of the same name must never be read as this one's.
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                list(argv),
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=affinity_setter(cpus),
            )
        child = Child(name=name, popen=popen, log=log)
        self.children.append(child)
        return child

    def stop(self, child: Child) -> None:
        if child in self.children:
            self.children.remove(child)
        stop_group(child.popen)

    def close(self) -> None:
        # Newest first: proxies go before the backends they talk to.
        while self.children:
            self.stop(self.children[-1])

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_group(popen: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the child's process group, wait up to `grace_s`, then SIGKILL what is left."""
    pgid = popen.pid  # start_new_session=True: the child leads its own group
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(timeout=grace_s)
    # The leader may be gone while its workers still shut down: wait for the whole group.
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _group_alive(pgid) or popen.poll() is None:
        _signal_group(pgid, signal.SIGKILL)
        popen.wait(timeout=5)
        kill_deadline = time.monotonic() + 5
        while _group_alive(pgid) and time.monotonic() < kill_deadline:
            time.sleep(0.05)


def run_bounded(
    argv: Sequence[str],
    timeout_s: float,
    cwd: Path,
    cpus: frozenset[int] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a short-lived tool (wrk) in its own group; kill the group if it overruns."""
    popen = subprocess.Popen(
        list(argv),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=affinity_setter(cpus),
    )
    try:
        out, err = popen.communicate(timeout=timeout_s)
    except BaseException:
        # Timeout, Ctrl-C or SIGTERM: never leave the tool running behind us.
        stop_group(popen, grace_s=1.0)
        popen.communicate()
        raise
    return subprocess.CompletedProcess(list(argv), popen.returncode, out, err)
