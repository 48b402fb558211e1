"""The comparer process: frames in on stdin (`wire`), pairs compared, aggregates stored.

    python -m shadowmesh.compare.comparer_process     # started by `supervisor.Comparer`

It does everything the serving process must not: pairing, JSON parsing, diffing, the
aggregates and the store. It runs at the lowest CPU priority there is (`yield_cpu`), so
that it never holds up the proxy on a core they share. It ends when its stdin ends (the
serving process closed the pipe, or died: the kernel closes it then too) or when its
parent changes, after a last flush. It ignores SIGINT: a Ctrl-C in a terminal reaches the
whole process group, and the serving process shuts it down in order (closing the pipe)
once the queued outcomes are handed over.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import select
import signal
import sys
import time
from typing import Any

import orjson

from shadowmesh.compare import wire

log = logging.getLogger("shadowmesh.compare")

NICENESS = 10  # where SCHED_IDLE is not available
READ_SIZE = 1 << 20
PARENT_CHECK_S = 1.0


class _Stop(Exception):
    pass


def _on_term(_signum: int, _frame: Any) -> None:
    raise _Stop


def yield_cpu() -> str:
    """Lower this process's CPU priority below the proxy's; says how.

    SCHED_IDLE (Linux; no privilege needed to lower oneself) runs it only on CPU time
    nothing else wants: a serving thread that wakes up on the same core takes the CPU at
    once. Nice 10 is not enough for that: the kernel gives the CPU to the woken thread
    only when its fair share says so, and may first let the comparer finish its slice,
    which is what a request arriving during a batch of comparisons then waits for. (With
    a core to spare the kernel moves the comparer there, and it runs at full speed.)
    Threads started later inherit the policy."""
    policy = getattr(os, "SCHED_IDLE", None)
    if policy is not None:
        try:
            os.sched_setscheduler(0, policy, os.sched_param(0))
            return "SCHED_IDLE"
        except OSError:
            pass
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
        return f"nice {NICENESS}"
    return "unchanged"


def serve(fd: int, parent: int) -> None:
    from shadowmesh.compare.engine import CompareEngine
    from shadowmesh.compare.store import open_store

    pending = b""
    engine: CompareEngine | None = None
    flush_interval = 1.0
    try:
        while True:
            wait = flush_interval if engine is not None else PARENT_CHECK_S
            ready, _, _ = select.select([fd], [], [], min(wait, PARENT_CHECK_S))
            if ready:
                data = os.read(fd, READ_SIZE)
                if not data:
                    return  # the serving process closed the pipe, or is gone
                if pending:
                    data = pending + data
                items, used = wire.read(data)
                pending = data[used:]  # a frame cut by the read: completed by the next
                for item in items:  # in stream order
                    if isinstance(item, list):
                        if engine is not None:
                            engine.consume(item)  # flushes too, when one is due
                        continue
                    kind, payload = item
                    if kind == wire.HELLO and engine is None:
                        hello = orjson.loads(payload)
                        flush_interval = float(hello["flush_interval"])
                        engine = CompareEngine(open_store(hello["store"]),
                                               float(hello["mirror_timeout"]),
                                               flush_interval=flush_interval)
                    elif kind == wire.SPECS and engine is not None:
                        engine.set_specs(pickle.loads(payload))
                    elif kind == wire.BACKLOG and engine is not None:
                        engine.backlog(wire.decode_count(payload))
            elif engine is not None:
                engine.consume([])  # expires old groups; flushes when due
            if os.getppid() != parent:
                return  # re-parented: the serving process is gone
    finally:
        if engine is not None:
            engine.close()
            if engine.store is not None:
                engine.store.close()


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_term)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="shadowmesh comparer[%(process)d]: %(levelname)s %(message)s")
    yield_cpu()
    parent = os.getppid()
    started = time.monotonic()
    try:
        serve(sys.stdin.fileno(), parent)
    except _Stop:
        pass
    except Exception:
        log.exception("the comparer stopped after %.1f s", time.monotonic() - started)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
