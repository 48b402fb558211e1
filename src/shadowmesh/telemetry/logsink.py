"""Where access-log lines go: stdout, one file, one file per workload, or nowhere.

Writes happen on a dedicated thread: a full stdout pipe or a slow disk must never stall the
event loop that carries traffic. The loop hands over whole batches through a `SimpleQueue`;
if the writer falls too far behind, batches are dropped and counted rather than queued without
bound (`dropped` is exported as a metric).
"""

from __future__ import annotations

import queue
import re
import sys
import threading
from pathlib import Path
from typing import TextIO

# More batches than this waiting for the writer thread means it cannot keep up.
MAX_QUEUED_BATCHES = 1000

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")

# A batch: destination workload -> lines (without trailing newlines).
Batch = dict[str, list[str]]


def workload_filename(workload: str) -> str:
    return (_UNSAFE_FILENAME.sub("_", workload) or "unknown") + ".log"


class LogSink:
    """Writes batches of lines to a target (see `open_sink`) on its own thread."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.per_workload = target.endswith("/")
        self.dropped = 0
        self._queue: queue.SimpleQueue[Batch | None] = queue.SimpleQueue()
        self._files: dict[str, TextIO] = {}
        if self.per_workload:
            Path(target).mkdir(parents=True, exist_ok=True)
        elif target != "-":
            # Open now so a bad path fails at startup, with the OS's message.
            self._files[""] = open(target, "a", encoding="utf-8")  # noqa: SIM115
        self._thread = threading.Thread(target=self._run, name="shadowmesh-access-log", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"<LogSink {self.target!r} queued={self._queue.qsize()} dropped={self.dropped}>"

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
        for stream in self._files.values():
            stream.close()
        self._files.clear()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            try:
                self._write(batch)
            except (OSError, ValueError) as exc:
                # A log write error must not kill the writer; say it once per batch.
                print(f"shadowmesh: access log {self.target}: {exc}", file=sys.stderr)

    def _write(self, batch: Batch) -> None:
        if self.per_workload:
            for workload, lines in batch.items():
                stream = self._files.get(workload)
                if stream is None:
                    path = Path(self.target) / workload_filename(workload)
                    stream = self._files[workload] = open(path, "a", encoding="utf-8")  # noqa: SIM115
                stream.write("\n".join(lines) + "\n")
                stream.flush()
            return
        text = "".join("\n".join(lines) + "\n" for lines in batch.values())
        stream = self._files.get("") or sys.stdout
        stream.write(text)
        stream.flush()


def open_sink(target: str) -> LogSink | None:
    """`-` stdout, `off` none, `DIR/` one file per destination workload, else one file."""
    if target == "off":
        return None
    return LogSink(target)
