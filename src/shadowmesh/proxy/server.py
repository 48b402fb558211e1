"""Running the proxy: listeners, the admin server, reloads, signals and graceful shutdown.

With `--workers 1` one process runs two event loops: the traffic loop (main thread: the
listeners and the data plane) and the control loop (`LoopThread`: the admin API, file
reloads, telemetry collection). With more, this process keeps the control plane (config,
file watching, admin API) and forks worker processes that each run a data plane on the
shared ports (`proxy/workers.py`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import signal
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

from shadowmesh import native
from shadowmesh.admin.settings import AdminSettings
from shadowmesh.config import Resource
from shadowmesh.controlplane import ControlPlane
from shadowmesh.kubernetes.options import KubernetesOptions
from shadowmesh.mirror.dispatcher import MirrorLimits
from shadowmesh.proxy.dataplane import DataPlane
from shadowmesh.proxy.limits import DownstreamLimits
from shadowmesh.proxy.loopthread import LoopThread
from shadowmesh.proxy.overload import ConnectionGovernor
from shadowmesh.proxy.reloads import DEFAULT_DEBOUNCE_S, FileWatcher
from shadowmesh.proxy.tasks import process_health
from shadowmesh.routing.compile import CompileOptions
from shadowmesh.routing.table import MESH, ListenerSpec, RoutingTable
from shadowmesh.telemetry.observer import Telemetry
from shadowmesh.telemetry.snapshot import TelemetrySnapshot
from shadowmesh.tls import SNISelector

log = logging.getLogger("shadowmesh")


@dataclass(frozen=True)
class RunOptions:
    paths: tuple[str, ...]
    listen_host: str = "127.0.0.1"
    listen_port: int = 15001
    admin_host: str = "127.0.0.1"
    admin_port: int = 15000
    admin_token: str | None = None
    workers: int = 1
    drain_timeout: float = 10.0
    watch_interval: float = 1.0
    reload_debounce: float = DEFAULT_DEBOUNCE_S
    max_connections: int | None = None  # None: derived from RLIMIT_NOFILE
    admin: AdminSettings = field(default_factory=AdminSettings)
    compile: CompileOptions = field(default_factory=CompileOptions)
    mirror: MirrorLimits = field(default_factory=MirrorLimits)
    access_log: str = "-"
    access_log_format: str = "text"
    source_workload: str = "unknown"
    downstream: DownstreamLimits = field(default_factory=DownstreamLimits)
    kubernetes: KubernetesOptions | None = None  # `--kubernetes`: the API server as a source
    compare_store: str | None = None  # comparison store URL; None: compare.store.default_url


def settle_heap() -> None:
    """Move everything built at start-up (modules, config models, the admin app) out of the
    garbage collector's sight. A full collection otherwise walks all of it and stalls the
    event loop for tens of milliseconds, which shows up directly in the primary's p99."""
    gc.collect()
    gc.freeze()


def announce(message: str) -> None:
    print(f"shadowmesh: {message}", file=sys.stderr, flush=True)


def bind_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


ListenerKey = tuple[str, str, int, bool]  # context, host, port, HTTPS


class Listeners:
    """The mesh listener plus one listener per Gateway server, kept in sync with the table.
    All of them share one connection cap (`proxy/overload.py`). An HTTPS listener keeps its
    `SNISelector`, so a reload that renews a certificate puts it in force without closing
    the listener (connections already open keep theirs)."""

    def __init__(self, dp: DataPlane, reuse_port: bool, max_connections: int | None = None,
                 ) -> None:
        self.dp = dp
        self.reuse_port = reuse_port
        self.governor = ConnectionGovernor(dp, max_connections)
        self.servers: dict[ListenerKey, asyncio.Server] = {}
        self.selectors: dict[ListenerKey, SNISelector] = {}

    async def open(self, spec: ListenerSpec) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        sock = bind_socket(spec.host, spec.port, self.reuse_port)
        context = spec.context
        governor = self.governor
        port = sock.getsockname()[1]
        key = (context, spec.host, port, bool(spec.tls))
        if not spec.tls:
            server = await loop.create_server(
                lambda: governor.protocol(context), sock=sock, backlog=2048
            )
        else:
            selector = SNISelector(spec.tls, spec.refused)

            def secure() -> asyncio.Protocol:
                inner = governor.protocol(context)
                return _ClientCertCheck(inner, selector) if selector.require_cert else inner

            server = await loop.create_server(secure, sock=sock, backlog=2048,
                                              ssl=selector.base)
            self.selectors[key] = selector
        self.servers[key] = server
        return server

    async def sync_gateways(self, table: RoutingTable) -> None:
        wanted = {(ls.context, ls.host, ls.port, bool(ls.tls)): ls
                  for ls in table.gateway_listeners}
        for key in list(self.servers):
            if key[0] != MESH and key not in wanted:
                self.servers.pop(key).close()
                self.selectors.pop(key, None)
        for key, ls in wanted.items():
            if key not in self.servers:
                scheme = "https" if ls.tls else "http"
                try:
                    await self.open(ls)
                    name, _, redirect = ls.context[8:].partition("#")
                    announce(f"gateway {name} listening on {scheme}://{ls.host}:{ls.port}"
                             + (" (redirects to https)" if redirect else ""))
                except OSError as exc:
                    log.error("cannot listen on %s:%s for %s: %s", ls.host, ls.port,
                              ls.context, exc)
            elif ls.tls:
                self.selectors[key].update(ls.tls, ls.refused)

    def close(self) -> None:
        for server in self.servers.values():
            server.close()
        self.servers.clear()
        self.selectors.clear()


class _ClientCertCheck(asyncio.Protocol):
    """On a port that mixes MUTUAL with other servers, the handshake only asks for a client
    certificate: a client of a MUTUAL server that sent none is closed here, before the
    proxy sees a byte of it. Otherwise it hands the connection to the proxy's protocol and
    steps out of the way."""

    def __init__(self, inner: asyncio.Protocol, selector: SNISelector) -> None:
        self.inner = inner
        self.selector = selector

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.selector.lacks_required_cert(transport.get_extra_info("ssl_object")):
            cast(asyncio.Transport, transport).abort()
            return
        transport.set_protocol(self.inner)
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        pass  # only reached when the connection was refused above


class LocalLink:
    """The control plane's view of the data plane in this process.

    Called from the control thread, it hands the finished table (or a snapshot request) to
    the traffic loop with `call_soon_threadsafe`: the swap is one assignment there, between
    two callbacks, so no request sees half of a change. Called on the traffic loop itself
    (the start-up load), it installs at once."""

    def __init__(self, dp: DataPlane, telemetry: Telemetry, listeners: Listeners,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.dp = dp
        self.telemetry = telemetry
        self.listeners = listeners
        self.loop = loop
        self.thread_id = threading.get_ident()

    def __repr__(self) -> str:
        return "<LocalLink traffic loop>"

    def _on_loop(self, fn: Callable[[], object]) -> concurrent.futures.Future[object]:
        future: concurrent.futures.Future[object] = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn())
            except Exception as exc:
                future.set_exception(exc)

        if threading.get_ident() == self.thread_id:
            run()
        else:
            try:
                self.loop.call_soon_threadsafe(run)
            except RuntimeError as exc:  # the traffic loop is closed
                future.set_exception(exc)
        return future

    def _install(self, table: RoutingTable) -> None:
        self.dp.set_table(table)
        self.dp.tasks.spawn(self.listeners.sync_gateways(table))

    def push(self, resources: Sequence[Resource],
             table: RoutingTable) -> concurrent.futures.Future[None]:
        return self._on_loop(lambda: self._install(table))  # type: ignore[return-value]

    def request_snapshot(self) -> concurrent.futures.Future[TelemetrySnapshot]:
        return self._on_loop(self.telemetry.snapshot)  # type: ignore[return-value]


def install_signals(stop: asyncio.Event, reload: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload)


def start_watcher(control: ControlPlane, opts: RunOptions, thread: LoopThread) -> FileWatcher:
    """The file watcher (and SIGHUP reloads), supervised, on the control thread."""
    watcher = FileWatcher(control, opts.watch_interval, opts.reload_debounce,
                          process_health().task("file-watcher"), announce)

    async def start() -> None:
        loop = asyncio.get_running_loop()
        task = loop.create_task(watcher.run_supervised(), name="shadowmesh-file-watcher")
        _keep.add(task)
        task.add_done_callback(_keep.discard)

    thread.submit(start()).result(timeout=10)
    return watcher


_keep: set[asyncio.Task[None]] = set()


StopWatching = Callable[[], Awaitable[None]]


async def become_ready(control: ControlPlane, opts: RunOptions, thread: LoopThread,
                       stop: asyncio.Event) -> tuple[StopWatching | None, int]:
    """Ready now; with --kubernetes, once the API server's state is synced. The watches run
    on the control thread (a push validates and compiles a whole set: never on the traffic
    loop). Returns what stops them, and the exit status so far: when the API server cannot
    be configured, that is said, `stop` is set and the status is 1."""
    if opts.kubernetes is None:
        control.set_ready()
        return None, 0
    from shadowmesh.kubernetes.run import ConnectError, watch_cluster

    options = opts.kubernetes

    async def start() -> tuple[asyncio.Event, asyncio.Task[None]]:
        kube_stop = asyncio.Event()  # made on the control loop, set there
        return kube_stop, await watch_cluster(control, options, kube_stop, announce)

    try:
        kube_stop, task = await thread.run(start())
    except ConnectError as exc:
        announce(str(exc))
        stop.set()
        return None, 1

    async def finish() -> None:
        kube_stop.set()
        try:
            await asyncio.wait_for(task, 5)
        except Exception:  # shutting down: nothing left to do about it
            log.exception("stopping the Kubernetes watches")

    async def stop_watching() -> None:
        try:
            await thread.run(finish())
        except Exception:
            log.exception("stopping the Kubernetes watches")

    return stop_watching, 0


async def run_single(opts: RunOptions, telemetry: Telemetry) -> int:
    dp = DataPlane(observer=telemetry, mirror_limits=opts.mirror,
                   body_limit=opts.compile.shadow.body_limit,
                   source_workload=opts.source_workload,
                   downstream_limits=opts.downstream)
    telemetry.add_gauge_source(dp.gauges)
    listeners = Listeners(dp, reuse_port=False, max_connections=opts.max_connections)
    telemetry.add_gauge_source(listeners.governor.gauges)
    control = ControlPlane(opts.paths, opts.compile)
    control.links.append(LocalLink(dp, telemetry, listeners, asyncio.get_running_loop()))
    from shadowmesh.compare.runtime import CompareReports, CompareRuntime

    compare = CompareRuntime(dp, opts.compare_store, opts.mirror.timeout)
    telemetry.add_gauge_source(compare.gauges)
    control.on_change.append(compare.update)
    control.compare = CompareReports(opts.compare_store)
    try:
        if not control.load_files().ok:
            announce("configuration has errors; not starting")
            return 1
        control_thread = LoopThread("shadowmesh-control")
        try:
            return await _serve_single(opts, telemetry, dp, listeners, control,
                                       control_thread)
        finally:
            await asyncio.to_thread(control_thread.stop)
    finally:
        await asyncio.to_thread(compare.close)
        control.compare.close()


async def _serve_single(opts: RunOptions, telemetry: Telemetry, dp: DataPlane,
                        listeners: Listeners, control: ControlPlane,
                        control_thread: LoopThread) -> int:
    from shadowmesh.admin.server import start_admin

    try:
        mesh = await listeners.open(
            ListenerSpec(MESH, opts.listen_host, opts.listen_port))
    except OSError as exc:
        announce(f"cannot listen on {opts.listen_host}:{opts.listen_port}: {exc.strerror}")
        return 1
    port = mesh.sockets[0].getsockname()[1]
    admin = await start_admin(control, opts.admin_host, opts.admin_port, opts.admin_token,
                              settings=opts.admin, health=process_health(),
                              thread=control_thread)
    assert control.table is not None
    await listeners.sync_gateways(control.table)
    announce(f"listening on http://{_url_host(opts.listen_host)}:{port}")
    announce(f"admin on {admin.url}")
    announce(f"request path: {native.describe()}")
    announce(f"at most {listeners.governor.limit} client connections (--max-connections)")
    watcher = start_watcher(control, opts, control_thread)
    stop = asyncio.Event()
    install_signals(stop, lambda: control_thread.call(watcher.request_reload))
    stop_kube, code = await become_ready(control, opts, control_thread, stop)
    settle_heap()
    await stop.wait()
    announce("stopping: draining connections")
    listeners.close()
    await dp.drain(opts.drain_timeout)
    if stop_kube is not None:
        await stop_kube()
    await admin.stop()
    await telemetry.aclose()
    announce("stopped")
    return code


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
