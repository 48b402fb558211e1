"""A wake-up probe inside `shadowmesh run`, for `bench.loop_wakeup` only.

`bench.loop_wakeup` puts this directory on the proxy's PYTHONPATH with
SHADOWMESH_BENCH_PROBE=<file>. In that process only (the variable is removed at once, so the
comparer and other children do not see it), `uvloop.run` is wrapped: next to the proxy, a
task starts a small sender process that writes its monotonic clock into a pipe every 0.5 ms
from the load CPUs (BENCH_PROBE_CPUS), and the serving loop reads the pipe like any socket.
How long a timestamp waited before the loop read it is how long an arriving request would
have waited for the loop: scheduling on the proxy's core, the GIL, the loop's own work.
Every second one line of percentiles goes to the file, stamped with the monotonic clock.

Nothing of this is in the product: it is loaded only by that harness.
"""

from __future__ import annotations

import os
import sys
from typing import Any

_PATH = os.environ.pop("SHADOWMESH_BENCH_PROBE", None)

SENDER = r"""
import os, struct, sys, time
fd, cpus, end = int(sys.argv[1]), {int(c) for c in sys.argv[2].split(",") if c}, float(sys.argv[3])
n = 0
while time.monotonic() < end:
    if n % 2000 == 0:
        if cpus:
            try:
                os.sched_setaffinity(0, cpus)
            except OSError:
                pass
        if os.getppid() == 1:
            break
    try:
        os.write(fd, struct.pack("d", time.monotonic()))
    except OSError:
        break
    n += 1
    time.sleep(0.0005)
"""
MAX_S = 3600.0  # the sender stops by itself after this, whatever happens


def _install(path: str) -> None:
    import asyncio
    import struct
    import subprocess
    import time

    import uvloop

    original = uvloop.run

    async def probe() -> None:
        loop = asyncio.get_running_loop()
        r, w = os.pipe()
        os.set_blocking(r, False)
        sender = subprocess.Popen(
            [sys.executable, "-c", SENDER, str(w), os.environ.get("BENCH_PROBE_CPUS", ""),
             str(time.monotonic() + MAX_S)], pass_fds=(w,))
        os.close(w)
        waits: list[float] = []
        rest = [b""]

        def on_read() -> None:
            now = time.monotonic()
            try:
                data = rest[0] + os.read(r, 65536)
            except BlockingIOError:
                return
            whole = len(data) // 8 * 8
            waits.extend(now - t for (t,) in struct.iter_unpack("d", data[:whole]))
            rest[0] = data[whole:]

        loop.add_reader(r, on_read)
        try:
            with open(path, "a", buffering=1) as out:
                while True:
                    await asyncio.sleep(1.0)
                    got = sorted(waits)
                    waits.clear()
                    if got:
                        n = len(got)
                        q = [got[min(n - 1, int(n * p))] * 1e3 for p in (0.5, 0.9, 0.99, 0.999)]
                        out.write(f"{time.monotonic():.3f} {n} {q[0]:.4f} {q[1]:.4f} "
                                  f"{q[2]:.4f} {q[3]:.4f} {got[-1] * 1e3:.4f}\n")
        finally:
            loop.remove_reader(r)
            os.close(r)
            sender.kill()
            sender.wait()

    def run(main: Any, **kwargs: Any) -> Any:
        async def with_probe() -> Any:
            task = asyncio.ensure_future(probe())
            try:
                return await main
            finally:
                task.cancel()

        return original(with_probe(), **kwargs)

    uvloop.run = run


if _PATH and sys.argv[1:2] == ["run"]:
    _install(_PATH)
