"""Running a load: one task per connection, paced by `pacing`, counted by `Recorder`.

    run_load(config)       -> LoadResult   (async; the demo and the benchmarks call this)
    run_load_sync(config)  -> LoadResult   (on a fresh uvloop event loop)

A run is always bounded: with `-t`, no request starts after the deadline, and whatever is
still in flight then has its own timeout, so the run ends by `duration + timeout` at the
latest (plus a second of grace, after which the workers are cancelled); with `-n`, the count
bounds it and every request has a timeout. Setting `stop` (Ctrl-C in the CLI) ends it early
with the results so far.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

import uvloop

from shadowmesh.loadgen.client import Connection, ExchangeError, build_request
from shadowmesh.loadgen.config import Endpoint, LoadConfig
from shadowmesh.loadgen.pacing import (
    CountBudget,
    PacingStats,
    connection_indices,
    intended_offset,
    latency_base,
    planned_total,
)
from shadowmesh.loadgen.progress import Progress, Snapshot
from shadowmesh.loadgen.report import LoadResult, Recorder

SHUTDOWN_GRACE = 1.0  # seconds past duration + timeout before in-flight work is cancelled
clock = time.perf_counter  # the loop's own clock has 1 ms resolution under uvloop


class TargetError(Exception):
    """The target cannot be used at all (its name does not resolve)."""


@dataclass(slots=True)
class _Run:
    """What the workers of one run share."""

    config: LoadConfig
    request: bytes
    head_request: bool
    recorder: Recorder
    pacing: PacingStats
    start: float
    deadline: float | None  # no request starts at or after this instant (-t runs)

    async def exchange(self, conn: Connection, base: float) -> None:
        try:
            response = await conn.request(self.request, self.config.timeout, self.head_request)
        except ExchangeError as exc:
            self.recorder.error(clock() - base, exc.kind)
        else:
            self.recorder.response(clock() - base, response)

    async def paced(self, conn: Connection, indices: range) -> None:
        qps = self.config.qps
        ready_at = self.start
        for n, index in enumerate(indices):
            intended = self.start + intended_offset(index, qps)
            now = clock()
            if self.deadline is not None and now >= self.deadline:
                self.pacing.unsent += len(indices) - n
                return
            if now < intended:
                await _sleep_until(intended)
            sent_at = clock()
            base, queued = latency_base(intended, ready_at, sent_at)
            self.pacing.record(intended, sent_at, queued)
            await self.exchange(conn, base)
            ready_at = clock()

    async def unpaced(self, conn: Connection, budget: CountBudget | None) -> None:
        while budget is None or budget.take():
            sent_at = clock()
            if self.deadline is not None and sent_at >= self.deadline:
                return
            await self.exchange(conn, sent_at)
            if budget is None:
                # a refused port answers at once; let the progress line and Ctrl-C run
                await asyncio.sleep(0)


async def _sleep_until(instant: float) -> None:
    # uvloop's timers round to milliseconds and may fire a little early; try again then
    for _ in range(3):
        delay = instant - clock()
        if delay <= 0:
            return
        await asyncio.sleep(delay)


async def _resolve(endpoint: Endpoint) -> tuple[str, int]:
    """One address for the whole run, looked up once, as fortio does."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetError(f"cannot resolve {endpoint.host!r}: {exc}") from exc
    if not infos:
        raise TargetError(f"cannot resolve {endpoint.host!r}: no address")
    address = infos[0][4]
    return str(address[0]), int(address[1])


async def _warm_up(conn: Connection, timeout: float) -> None:
    """Connect before the clock starts; a failure here is counted by the first request."""
    with contextlib.suppress(ExchangeError):
        await conn.connect(timeout)


async def run_load(
    config: LoadConfig,
    *,
    stop: asyncio.Event | None = None,
    progress: TextIO | None = None,
) -> LoadResult:
    """Run `config`; `progress` gets the live line (stderr in the CLI), `stop` ends it early."""
    host, port = await _resolve(config.connect_to)
    conns = [Connection(host, port) for _ in range(config.connections)]
    await asyncio.gather(*(_warm_up(conn, config.timeout) for conn in conns))
    total = planned_total(config.qps, config.duration, config.count)
    start_time = datetime.now().astimezone()
    start = clock()
    run = _Run(
        config=config,
        request=build_request(config),
        head_request=config.effective_method == "HEAD",
        recorder=Recorder(config.resolution),
        pacing=PacingStats(),
        start=start,
        deadline=start + config.duration if config.count is None else None,
    )
    workers: list[Coroutine[Any, Any, None]]
    if config.qps > 0:
        assert total is not None
        workers = [
            run.paced(conn, connection_indices(i, len(conns), total))
            for i, conn in enumerate(conns)
        ]
    else:
        budget = CountBudget(config.count) if config.count is not None else None
        workers = [run.unpaced(conn, budget) for conn in conns]
    ticker = None
    if progress is not None:
        rec = run.recorder
        ticker = Progress(progress, lambda: Snapshot(rec.count, rec.error_count), total)
        ticker.start(start)
    if total is not None and config.qps > 0:
        # a paced run covers its whole schedule, as fortio's does: 5 qps for 5m is 1500 calls
        # over 300 s, not over the 299.8 s until the last one leaves
        span = config.duration if config.count is None else total / config.qps
        workers.append(_sleep_until(start + span))
    tasks = [asyncio.create_task(w) for w in workers]
    cap = None if run.deadline is None else config.duration + config.timeout + SHUTDOWN_GRACE
    try:
        interrupted = await _wait(tasks, stop, cap)
    finally:
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        if ticker is not None:
            await ticker.stop()
        for conn in conns:
            conn.close()
    end = clock()
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome  # a bug in a worker: do not report a silently shorter run
    rec = run.recorder
    return LoadResult(
        config=config,
        start_time=start_time,
        actual_duration=end - start,
        durations=rec.durations.export(config.percentiles),
        sizes=rec.sizes.export(),
        header_sizes=rec.header_sizes.export(),
        status_codes=dict(rec.status_codes),
        errors=dict(rec.errors),
        sockets=sum(conn.sockets_opened for conn in conns),
        address=f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        pacing=run.pacing,
        interrupted=interrupted,
    )


async def _wait(
    tasks: list[asyncio.Task[None]], stop: asyncio.Event | None, cap: float | None
) -> bool:
    """Wait for the workers, the stop event or the hard cap; True if stopped by the event."""
    loop = asyncio.get_running_loop()
    cap_at = None if cap is None else loop.time() + cap
    stopper = asyncio.create_task(stop.wait()) if stop is not None else None
    pending: set[asyncio.Task[Any]] = set(tasks)
    try:
        while pending:
            timeout = None if cap_at is None else max(0.0, cap_at - loop.time())
            watch = pending | {stopper} if stopper is not None else pending
            done, _ = await asyncio.wait(
                watch, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if stopper is not None and stopper in done:
                return True
            if not done:
                return False  # hard cap: in-flight work is cancelled by the caller
            pending -= done
        return False
    finally:
        if stopper is not None:
            stopper.cancel()


def run_load_sync(
    config: LoadConfig, *, progress: TextIO | None = None, handle_sigint: bool = False
) -> LoadResult:
    """`run_load` on a fresh uvloop loop. With `handle_sigint`, the first Ctrl-C ends the run
    with the results so far and a second one interrupts at once (KeyboardInterrupt)."""

    async def main() -> LoadResult:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        if handle_sigint:

            def on_sigint() -> None:
                stop.set()
                loop.remove_signal_handler(signal.SIGINT)

            loop.add_signal_handler(signal.SIGINT, on_sigint)
        try:
            return await run_load(config, stop=stop, progress=progress)
        finally:
            if handle_sigint:
                loop.remove_signal_handler(signal.SIGINT)

    return uvloop.run(main())
