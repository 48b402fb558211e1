"""The serving process's side of its comparer process: start, feed, restart, stop.

    comparer = Comparer(store_url, mirror_timeout, flush_interval)
    comparer.set_specs(specs)        # any thread; sent before the next frames
    comparer.send(frames)            # the feeder thread; False: not delivered (count them)
    comparer.lost(n)                 # outcomes dropped on this side, reported as `backlog`
    comparer.close()                 # close the pipe, let it flush, wait (kill if stuck)

The process is started on the first `send` (`python -m shadowmesh.compare.comparer_process`,
a fresh interpreter: nothing of the serving process's threads or event loop is forked
into it). When it dies it is started again on a later `send`, after a backoff that doubles
from 0.5 s to 30 s and resets once a process has lived a minute; meanwhile outcomes are
counted as lost and the proxy serves as before. Writes block when the pipe is full, which
is what makes the outcome queue fill and drop (`backlog`) when the comparer cannot keep up:
only the feeder thread waits, never the event loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Final

import orjson

from shadowmesh.compare import wire
from shadowmesh.compare.spec import CompareSpec

log = logging.getLogger("shadowmesh.compare")

MIN_BACKOFF_S: Final = 0.5
MAX_BACKOFF_S: Final = 30.0
HEALTHY_AFTER_S: Final = 60.0  # a process that lived this long resets the backoff
STOP_TIMEOUT_S: Final = 10.0  # for the last flush after the pipe is closed
MODULE: Final = "shadowmesh.compare.comparer_process"


IOV_MAX: Final = 1024  # Linux's limit on the vectors of one writev


def write_all(fd: int, parts: Sequence[bytes]) -> None:
    """`parts` to a blocking pipe, in order, with as few copies and syscalls as it takes."""
    for start in range(0, len(parts), IOV_MAX):
        chunk = parts[start:start + IOV_MAX]
        written = os.writev(fd, chunk)
        total = sum(len(p) for p in chunk)
        if written < total:  # cut short (a signal, on a full pipe): the rest plainly
            rest = memoryview(b"".join(chunk))[written:]
            while rest:
                rest = rest[os.write(fd, rest):]


# A batch of outcomes (the feeder writes one every `runtime.FEED_LINGER_S`) fits in the pipe
# at once, so the comparer reads it with one read, not a pipe's default 64 KiB at a time.
PIPE_SIZE: Final = 1 << 20


def _widen(fd: int) -> None:
    """Ask for a PIPE_SIZE pipe (Linux; up to /proc/sys/fs/pipe-max-size for the unprivileged:
    a smaller pipe only means more, smaller reads)."""
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is None:
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, setsize, PIPE_SIZE)


class Comparer:
    def __init__(self, store_url: str | None, mirror_timeout: float,
                 flush_interval: float) -> None:
        from shadowmesh.compare.store import default_url

        hello = {"store": store_url or default_url(), "mirror_timeout": mirror_timeout,
                 "flush_interval": flush_interval}
        self._hello = wire.frame(wire.HELLO, orjson.dumps(hello))
        self._specs = wire.frame(wire.SPECS, pickle.dumps([]))
        self._specs_version = 0
        self._sent_version = -1
        self._lost = 0  # outcomes not handed over and not reported yet
        self._count_lock = threading.Lock()  # for `_lost`: never held while writing
        self._write_lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None
        self._pipe: IO[bytes] | None = None
        self._started_at = 0.0
        self._next_start = 0.0
        self._backoff = MIN_BACKOFF_S
        self._closed = False
        self.starts = 0
        self.exits = 0  # processes that ended while they were wanted (crash, kill)

    def __repr__(self) -> str:
        pid = self.process.pid if self.process is not None else None
        return (f"<Comparer pid={pid} starts={self.starts} exits={self.exits} "
                f"lost={self._lost}>")

    @property
    def up(self) -> bool:
        process = self.process
        return process is not None and process.poll() is None

    def set_specs(self, specs: Sequence[CompareSpec]) -> None:
        """The Comparisons in force (on configuration changes: not on the request path)."""
        self._specs = wire.frame(wire.SPECS, pickle.dumps(list(specs)))
        self._specs_version += 1

    def lost(self, n: int) -> None:
        if n > 0:
            with self._count_lock:
                self._lost += n

    def _take_lost(self) -> int:
        with self._count_lock:
            n, self._lost = self._lost, 0
            return n

    def send(self, frames: Sequence[bytes]) -> bool:
        """Write `frames` (frames, or frames in pieces, in order; and first the pending specs
        and backlog count) to the process; with none, only what is pending (and a restart
        when one is due)."""
        with self._write_lock:
            return self._send(frames)

    def _send(self, frames: Sequence[bytes]) -> bool:
        pipe = self._running()
        if pipe is None:
            return False
        parts: list[bytes] = []
        version = self._specs_version
        if version != self._sent_version:
            parts.append(self._specs)
        lost = self._take_lost()
        if lost:
            parts.append(wire.backlog(lost))
        parts.extend(frames)
        if not parts:
            return True
        try:
            write_all(pipe.fileno(), parts)
        except (OSError, ValueError):
            self.lost(lost)
            self._ended()
            return False
        self._sent_version = version
        return True

    def _running(self) -> IO[bytes] | None:
        process = self.process
        if process is not None:
            if process.poll() is None:
                return self._pipe
            self._ended()
        if self._closed or time.monotonic() < self._next_start:
            return None
        return self._start()

    def _start(self) -> IO[bytes] | None:
        env = dict(os.environ)
        # the package as this process imported it, even when it is not installed
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        try:
            # unbuffered: batches go out with writev, in pieces
            process = subprocess.Popen([sys.executable, "-m", MODULE], stdin=subprocess.PIPE,
                                       stdout=subprocess.DEVNULL, env=env, close_fds=True,
                                       bufsize=0)
        except OSError as exc:
            log.warning("cannot start the comparer process: %s", exc)
            self._schedule_restart()
            return None
        assert process.stdin is not None
        _widen(process.stdin.fileno())
        self.process, self._pipe = process, process.stdin
        self._started_at = time.monotonic()
        self.starts += 1
        self._sent_version = -1  # a new process learns the specs first
        try:
            write_all(self._pipe.fileno(), [self._hello])
        except OSError:
            self._ended()
            return None
        return self._pipe

    def _ended(self) -> None:
        process, pipe = self.process, self._pipe
        self.process, self._pipe = None, None
        if process is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if pipe is not None:
                pipe.close()
        try:
            code = process.wait(1.0)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        if self._closed:
            return
        self.exits += 1
        lived = time.monotonic() - self._started_at
        if lived >= HEALTHY_AFTER_S:
            self._backoff = MIN_BACKOFF_S
        log.warning("the comparer process (pid %d) ended with code %s after %.1f s; "
                    "starting it again in %.1f s", process.pid, code, lived, self._backoff)
        self._schedule_restart()

    def _schedule_restart(self) -> None:
        self._next_start = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, MAX_BACKOFF_S)

    def close(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Report what was lost, close the pipe (the process flushes and exits), wait."""
        if not self._write_lock.acquire(timeout=timeout):
            # the feeder is stuck writing to a process that stopped reading
            process = self.process
            if process is not None:
                process.kill()
            self._write_lock.acquire()
        try:
            if self.process is not None or self._lost or (
                    self._sent_version != self._specs_version):
                self._send(())  # the last specs and counts (started for them if need be)
            self._closed = True
            process, pipe = self.process, self._pipe
            self.process, self._pipe = None, None
        finally:
            self._write_lock.release()
        if process is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if pipe is not None:
                pipe.close()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("the comparer process (pid %d) did not stop in %.0f s: killed",
                        process.pid, timeout)
            process.kill()
            process.wait()
