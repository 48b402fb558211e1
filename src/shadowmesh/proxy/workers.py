"""`--workers N`: one control process, N data-plane processes on the same ports.

The control process validates the configuration, reserves the listener port (a bound,
non-listening SO_REUSEPORT socket, so port 0 works), forks the workers, then runs the control
plane and the admin API. Each worker binds its own SO_REUSEPORT listener on that port (the
kernel spreads connections across them), runs a data plane on its own uvloop, and talks to the
control process over a pipe:

    control -> worker: ("config", n, resources) | ("snapshot", n) | ("stop",)
    worker -> control: ("ready", port) | ("applied", n) | ("failed", n, message)
                       | ("snapshot", n, TelemetrySnapshot) | ("health", [status, ...])

Workers compile the routing table themselves (compiled tables hold closures and do not pickle)
and answer each configuration with "applied" or "failed": the control plane records a set as
in force only once every worker has applied it, and restores the previous set everywhere
otherwise. The control process's own work (admin API, reloads, telemetry merges) runs on its
control thread; this module's pipe readers resolve thread-safe futures, so either loop may
wait on a worker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from shadowmesh.config import Resource
from shadowmesh.controlplane import ControlPlane
from shadowmesh.proxy.dataplane import DataPlane
from shadowmesh.proxy.loopthread import LoopThread
from shadowmesh.proxy.server import (
    Listeners,
    RunOptions,
    announce,
    become_ready,
    bind_socket,
    install_signals,
    settle_heap,
    start_watcher,
)
from shadowmesh.proxy.tasks import process_health
from shadowmesh.routing.compile import compile_table
from shadowmesh.routing.table import MESH, ListenerSpec, RoutingTable
from shadowmesh.telemetry.snapshot import TelemetrySnapshot

PR_SET_PDEATHSIG = 1  # linux/prctl.h
HEALTH_REPORT_INTERVAL_S = 1.0

log = logging.getLogger("shadowmesh")


class WorkerLink:
    """The control process's end of one worker's pipe."""

    def __init__(self, process: multiprocessing.process.BaseProcess, conn: Connection,
                 index: int = 0) -> None:
        self.process = process
        self.conn = conn
        self.index = index
        self._waiting: dict[int, concurrent.futures.Future[Any]] = {}
        self._next = 0
        self._send_lock = threading.Lock()
        self._closed = False
        self.ready: asyncio.Future[int] | None = None

    def __repr__(self) -> str:
        return f"<WorkerLink worker {self.index} pid {self.process.pid}>"

    def start_reading(self) -> None:
        loop = asyncio.get_running_loop()
        self.ready = loop.create_future()
        loop.add_reader(self.conn.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        try:
            message = self.conn.recv()
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(self.conn.fileno())
            with self._send_lock:
                self._closed = True
                waiting, self._waiting = self._waiting, {}
            for fut in waiting.values():
                if not fut.done():
                    fut.set_exception(ConnectionError(f"worker {self.index} is gone"))
            return
        kind = message[0]
        if kind == "ready" and self.ready is not None and not self.ready.done():
            self.ready.set_result(message[1])
        elif kind in ("snapshot", "applied", "failed"):
            with self._send_lock:
                waiter = self._waiting.pop(message[1], None)
            if waiter is None or waiter.done():
                return
            if kind == "snapshot":
                waiter.set_result(message[2])
            elif kind == "applied":
                waiter.set_result(None)
            else:
                waiter.set_exception(RuntimeError(f"worker {self.index}: {message[2]}"))
        elif kind == "health":
            for status in message[1]:
                process_health().report(
                    {**status, "task": f"worker {self.index} {status['task']}"})

    def _send(self, *message: Any) -> concurrent.futures.Future[Any]:
        """Send a request; the future completes with the worker's answer to it."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._send_lock:
            if self._closed:
                fut.set_exception(ConnectionError(f"worker {self.index} is gone"))
                return fut
            self._next += 1
            seq = self._next
            self._waiting[seq] = fut
            try:
                self.conn.send((message[0], seq, *message[1:]))
            except OSError as exc:
                self._waiting.pop(seq, None)
                fut.set_exception(exc)
        fut.add_done_callback(lambda f: self._forget(seq, f))
        return fut

    def _forget(self, seq: int, fut: concurrent.futures.Future[Any]) -> None:
        if fut.cancelled():  # timed out: a late answer finds nothing to resolve
            with self._send_lock:
                self._waiting.pop(seq, None)

    def push(self, resources: Sequence[Resource],
             table: RoutingTable) -> concurrent.futures.Future[None]:
        return self._send("config", list(resources))

    def request_snapshot(self) -> concurrent.futures.Future[TelemetrySnapshot]:
        return self._send("snapshot")

    def stop(self) -> None:
        with self._send_lock, contextlib.suppress(OSError):
            self.conn.send(("stop",))


def _die_with_parent(parent_pid: int) -> None:
    """A worker must not outlive the control process (it would keep serving the port with a
    configuration nothing can change): ask the kernel for SIGTERM when the parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(0)


def _worker_main(conn: Connection, siblings: list[Connection], opts: RunOptions, port: int,
                 parent_pid: int, index: int = 0) -> None:
    import uvloop

    _die_with_parent(parent_pid)
    # Close the control process's ends of the other workers' pipes that fork copied here,
    # so that a dead control process reads as EOF on every worker's pipe.
    for other in siblings:
        other.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the control process handles Ctrl-C
    uvloop.run(_worker(conn, opts, port))


async def _report_health(conn: Connection) -> None:
    """Send this worker's background-task statuses to the control process when they change
    (its /ready lists a failing access-log writer of any worker)."""
    last: list[dict[str, Any]] = []
    while True:
        await asyncio.sleep(HEALTH_REPORT_INTERVAL_S)
        statuses = process_health().statuses()
        if statuses != last:
            conn.send(("health", statuses))
            last = statuses


async def _worker(conn: Connection, opts: RunOptions, port: int) -> None:
    from shadowmesh.telemetry.options import build_telemetry

    telemetry = build_telemetry(access_log=opts.access_log,
                                access_log_format=opts.access_log_format)
    dp = DataPlane(observer=telemetry, mirror_limits=opts.mirror,
                   body_limit=opts.compile.shadow.body_limit,
                   source_workload=opts.source_workload,
                   downstream_limits=opts.downstream)
    telemetry.add_gauge_source(dp.gauges)
    listeners = Listeners(dp, reuse_port=True, max_connections=opts.max_connections)
    telemetry.add_gauge_source(listeners.governor.gauges)
    from shadowmesh.compare.runtime import CompareRuntime

    compare = CompareRuntime(dp, opts.compare_store, opts.mirror.timeout)
    telemetry.add_gauge_source(compare.gauges)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    first_config = asyncio.Event()

    def on_message() -> None:
        try:
            message: Any = conn.recv()
        except (EOFError, OSError):
            stop.set()  # the control process is gone
            loop.remove_reader(conn.fileno())
            return
        if message[0] == "config":
            try:
                table = compile_table(message[2], opts.compile)
                dp.set_table(table)
                compare.update(message[2])
            except Exception as exc:  # answered, so that the control plane rolls back
                log.exception("worker pid %d could not install the configuration", os.getpid())
                conn.send(("failed", message[1], f"{type(exc).__name__}: {exc}"))
                return
            dp.tasks.spawn(listeners.sync_gateways(table))
            conn.send(("applied", message[1]))
            first_config.set()
        elif message[0] == "snapshot":
            conn.send(("snapshot", message[1], telemetry.snapshot()))
        elif message[0] == "stop":
            stop.set()

    loop.add_reader(conn.fileno(), on_message)
    await first_config.wait()
    await listeners.open(ListenerSpec(MESH, opts.listen_host, port))
    settle_heap()
    conn.send(("ready", port))
    dp.tasks.spawn(_report_health(conn))
    await stop.wait()
    loop.remove_reader(conn.fileno())
    listeners.close()
    await dp.drain(opts.drain_timeout)
    await asyncio.to_thread(compare.close)
    await telemetry.aclose()


def run_workers(opts: RunOptions) -> int:
    control = ControlPlane(opts.paths, opts.compile)
    if not control.load_files().ok:
        announce("configuration has errors; not starting")
        return 1
    try:
        reserve = bind_socket(opts.listen_host, opts.listen_port, reuse_port=True)
    except OSError as exc:
        announce(f"cannot listen on {opts.listen_host}:{opts.listen_port}: {exc.strerror}")
        return 1
    port = reserve.getsockname()[1]
    ctx = multiprocessing.get_context("fork")
    links: list[WorkerLink] = []
    for index in range(opts.workers):
        parent, child = ctx.Pipe()
        siblings = [link.conn for link in links] + [parent]
        process = ctx.Process(target=_worker_main,
                              args=(child, siblings, opts, port, os.getpid(), index),
                              daemon=True)
        process.start()
        child.close()
        links.append(WorkerLink(process, parent, index))
    import uvloop

    try:
        return uvloop.run(_control(opts, control, links, port))
    finally:
        for link in links:
            link.process.join(timeout=opts.drain_timeout + 5)
            if link.process.is_alive():
                link.process.kill()
                link.process.join(timeout=5)
        reserve.close()


async def _control(opts: RunOptions, control: ControlPlane, links: list[WorkerLink],
                   port: int) -> int:
    control_thread = LoopThread("shadowmesh-control")
    try:
        return await _control_on(opts, control, links, port, control_thread)
    finally:
        await asyncio.to_thread(control_thread.stop)


async def _control_on(opts: RunOptions, control: ControlPlane, links: list[WorkerLink],
                      port: int, control_thread: LoopThread) -> int:
    from shadowmesh.admin.server import start_admin
    from shadowmesh.compare.runtime import CompareReports
    from shadowmesh.proxy.tasks import TaskGroup

    control.compare = CompareReports(opts.compare_store)
    tasks = TaskGroup()
    for link in links:
        link.start_reading()
        control.links.append(link)
    assert control.table is not None
    resources = control.resources()
    for link in links:
        link.push(resources, control.table)
    for link in links:
        assert link.ready is not None
        await asyncio.wait_for(link.ready, 30)
    admin = await start_admin(control, opts.admin_host, opts.admin_port, opts.admin_token,
                              settings=opts.admin, health=process_health(),
                              thread=control_thread)
    host = f"[{opts.listen_host}]" if ":" in opts.listen_host else opts.listen_host
    announce(f"listening on http://{host}:{port} ({len(links)} workers, pid {os.getpid()})")
    announce(f"admin on {admin.url}")
    watcher = start_watcher(control, opts, control_thread)
    stop = asyncio.Event()
    install_signals(stop, lambda: control_thread.call(watcher.request_reload))
    stop_kube, code = await become_ready(control, opts, control_thread, stop)
    tasks.spawn(_supervise(links, stop))
    await stop.wait()
    announce("stopping: draining workers")
    for link in links:
        link.stop()
    await tasks.close()
    if stop_kube is not None:
        await stop_kube()
    await admin.stop()
    deadline = asyncio.get_running_loop().time() + opts.drain_timeout + 5
    while any(link.process.is_alive() for link in links):
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    announce("stopped")
    return code


async def _supervise(links: list[WorkerLink], stop: asyncio.Event) -> None:
    """A worker that dies takes its share of the port with it: stop everything loudly
    rather than serve at reduced capacity unnoticed."""
    while not stop.is_set():
        await asyncio.sleep(0.5)
        for link in links:
            if not link.process.is_alive():
                announce(f"worker pid {link.process.pid} exited "
                         f"(code {link.process.exitcode}); stopping")
                stop.set()
                return
