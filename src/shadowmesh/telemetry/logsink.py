"""Where access-log lines go: stdout, one file, one file per workload, or nowhere.

Writes happen on a dedicated thread: a full stdout pipe or a slow disk must never stall the
event loop that carries traffic. The loop hands over whole batches through a `SimpleQueue`;
if the writer falls too far behind, batches are dropped and counted rather than queued without
bound (`dropped` is exported as a metric).

With `--workers N` several processes append to the same file or pipe, so lines must never
be split: files are opened `O_APPEND` and each batch is one `write()` (Linux serialises
appends to a regular file), and a pipe gets chunks of whole lines no larger than PIPE_BUF,
the size up to which pipe writes are atomic.

The writer thread never dies of a failure: a write error (a full disk, a closed pipe) or
anything unexpected is reported once per batch, counted in the process's task health
(`access-log` in /ready and shadowmesh_background_task_failures_total), and the thread goes
on with the next batch after a backoff; the first batch written again marks it healthy.
"""

from __future__ import annotations

import os
import queue
import re
import select
import stat
import sys
import threading
import time
import traceback
from pathlib import Path

from shadowmesh.health import TaskHealth, process_health

# More batches than this waiting for the writer thread means it cannot keep up.
MAX_QUEUED_BATCHES = 1000
# Pause after a failed batch, doubling up to the maximum while failures go on.
BACKOFF_INITIAL_S = 0.05
BACKOFF_MAX_S = 5.0

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")
_PIPE_BUF = getattr(select, "PIPE_BUF", 512)

# A batch: destination workload -> lines (without trailing newlines).
Batch = dict[str, list[str]]


def workload_filename(workload: str) -> str:
    return (_UNSAFE_FILENAME.sub("_", workload) or "unknown") + ".log"


def _open_append(path: str | Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)


def _line_chunks(data: bytes, limit: int) -> list[bytes]:
    """Groups of whole lines of at most `limit` bytes (a longer line stays whole)."""
    chunks: list[bytes] = []
    start = 0
    while len(data) - start > limit:
        cut = data.rfind(b"\n", start, start + limit)
        if cut < 0:  # one line longer than the limit: keep it whole
            cut = data.find(b"\n", start + limit)
        end = len(data) if cut < 0 else cut + 1
        chunks.append(data[start:end])
        start = end
    if start < len(data):
        chunks.append(data[start:])
    return chunks


def _text(lines: list[str]) -> str:
    """The lines, each ending in a newline, in one copy (`join(...) + "\\n"` makes two)."""
    return "\n".join([*lines, ""])


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class LogSink:
    """Writes batches of lines to a target (see `open_sink`) on its own thread."""

    def __init__(self, target: str, health: TaskHealth | None = None) -> None:
        self.target = target
        self.health = health if health is not None else process_health().task("access-log")
        self.per_workload = target.endswith("/")
        self.dropped = 0
        self._queue: queue.SimpleQueue[Batch | None] = queue.SimpleQueue()
        self._fds: dict[str, int] = {}
        self._stdout_fd: int | None = None
        if self.per_workload:
            Path(target).mkdir(parents=True, exist_ok=True)
        elif target != "-":
            # Open now so a bad path fails at startup, with the OS's message.
            self._fds[""] = _open_append(target)
        else:
            self._stdout_fd = self._fileno_of_stdout()
        self._thread = threading.Thread(target=self._run, name="shadowmesh-access-log", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"<LogSink {self.target!r} queued={self._queue.qsize()} dropped={self.dropped}>"

    @staticmethod
    def _fileno_of_stdout() -> int | None:
        try:
            sys.stdout.flush()
            return sys.stdout.fileno()
        except (AttributeError, OSError, ValueError):
            return None  # replaced by a stream without a descriptor (e.g. under a test)

    def write(self, batch: Batch) -> None:
        """Hand a batch to the writer thread (never blocks)."""
        if self._queue.qsize() >= MAX_QUEUED_BATCHES:
            self.dropped += sum(len(lines) for lines in batch.values())
            return
        self._queue.put(batch)

    def close(self) -> None:
        """Write what is queued, then stop the thread and close files (blocking)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=10)
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def _run(self) -> None:
        backoff = BACKOFF_INITIAL_S
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            try:
                self._write(batch)
            except Exception as exc:
                # A log write error must not kill the writer; say it once per batch.
                detail = (str(exc) if isinstance(exc, OSError | ValueError)
                          else "".join(traceback.format_exception(exc)).rstrip())
                print(f"shadowmesh: access log {self.target}: {detail}", file=sys.stderr)
                self.health.failed(exc)
            else:
                self.health.ok()
                backoff = BACKOFF_INITIAL_S
                continue
            time.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    def _write(self, batch: Batch) -> None:
        if self.per_workload:
            for workload, lines in batch.items():
                fd = self._fds.get(workload)
                if fd is None:
                    fd = _open_append(Path(self.target) / workload_filename(workload))
                    self._fds[workload] = fd
                _write_all(fd, _text(lines).encode())
            return
        data = "".join([_text(lines) for lines in batch.values()]).encode()
        fd = self._fds.get("", self._stdout_fd)
        if fd is None:
            sys.stdout.write(data.decode())
            sys.stdout.flush()
        elif stat.S_ISREG(os.fstat(fd).st_mode):
            _write_all(fd, data)
        else:
            for chunk in _line_chunks(data, _PIPE_BUF):
                _write_all(fd, chunk)


def open_sink(target: str) -> LogSink | None:
    """`-` stdout, `off` none, `DIR/` one file per destination workload, else one file."""
    if target == "off":
        return None
    return LogSink(target)
