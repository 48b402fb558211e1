"""Running the proxy: listeners, the admin server, reloads, signals and graceful shutdown.

With `--workers 1` everything runs in one process and one event loop. With more, this process
keeps the control plane (config, file watching, admin API) and forks worker processes that
each run a data plane on the shared ports (`proxy/workers.py`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from shadowmesh import native
from shadowmesh.config import Resource
from shadowmesh.controlplane import ControlPlane
from shadowmesh.mirror.dispatcher import MirrorLimits
from shadowmesh.proxy.dataplane import DataPlane
from shadowmesh.proxy.downstream import DownstreamProtocol
from shadowmesh.routing.compile import CompileOptions
from shadowmesh.routing.table import MESH, ListenerSpec, RoutingTable
from shadowmesh.telemetry.observer import Telemetry
from shadowmesh.telemetry.snapshot import TelemetrySnapshot

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
    compile: CompileOptions = field(default_factory=CompileOptions)
    mirror: MirrorLimits = field(default_factory=MirrorLimits)
    access_log: str = "-"
    access_log_format: str = "text"
    source_workload: str = "unknown"
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


class Listeners:
    """The mesh listener plus one listener per Gateway server, kept in sync with the table."""

    def __init__(self, dp: DataPlane, reuse_port: bool) -> None:
        self.dp = dp
        self.reuse_port = reuse_port
        self.servers: dict[tuple[str, str, int], asyncio.Server] = {}

    async def open(self, spec: ListenerSpec) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        sock = bind_socket(spec.host, spec.port, self.reuse_port)
        context = spec.context
        server = await loop.create_server(
            lambda: DownstreamProtocol(self.dp, context), sock=sock, backlog=2048
        )
        port = sock.getsockname()[1]
        self.servers[(context, spec.host, port)] = server
        return server

    async def sync_gateways(self, table: RoutingTable) -> None:
        wanted = {(ls.context, ls.host, ls.port) for ls in table.gateway_listeners}
        for key in list(self.servers):
            if key[0] != MESH and key not in wanted:
                self.servers.pop(key).close()
        for ls in table.gateway_listeners:
            if (ls.context, ls.host, ls.port) not in self.servers:
                try:
                    await self.open(ls)
                    announce(f"gateway {ls.context[8:]} listening on http://{ls.host}:{ls.port}")
                except OSError as exc:
                    log.error("cannot listen on %s:%s for %s: %s", ls.host, ls.port,
                              ls.context, exc)

    def close(self) -> None:
        for server in self.servers.values():
            server.close()
        self.servers.clear()


class LocalLink:
    """The control plane's view of the data plane in this process."""

    def __init__(self, dp: DataPlane, telemetry: Telemetry, listeners: Listeners) -> None:
        self.dp = dp
        self.telemetry = telemetry
        self.listeners = listeners

    def push(self, resources: Sequence[Resource], table: RoutingTable) -> None:
        self.dp.set_table(table)
        self.dp.tasks.spawn(self.listeners.sync_gateways(table))

    async def snapshot(self) -> TelemetrySnapshot:
        return self.telemetry.snapshot()


async def watch_files(control: ControlPlane, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        if control.files_changed():
            change = control.load_files()
            announce("configuration reloaded" if change.ok
                     else "configuration change rejected; the previous configuration stays")


def install_signals(stop: asyncio.Event, reload: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload.set)


async def reload_on_signal(control: ControlPlane, reload: asyncio.Event) -> None:
    while True:
        await reload.wait()
        reload.clear()
        change = control.load_files()
        announce("configuration reloaded" if change.ok
                 else "configuration change rejected; the previous configuration stays")


async def run_single(opts: RunOptions, telemetry: Telemetry) -> int:
    from shadowmesh.admin.server import start_admin

    dp = DataPlane(observer=telemetry, mirror_limits=opts.mirror,
                   body_limit=opts.compile.shadow.body_limit,
                   source_workload=opts.source_workload)
    telemetry.add_gauge_source(dp.gauges)
    listeners = Listeners(dp, reuse_port=False)
    control = ControlPlane(opts.paths, opts.compile)
    control.links.append(LocalLink(dp, telemetry, listeners))
    from shadowmesh.compare.runtime import CompareReports, CompareRuntime

    compare = CompareRuntime(dp, opts.compare_store, opts.mirror.timeout)
    control.on_change.append(compare.update)
    control.compare = CompareReports(opts.compare_store)
    if not control.load_files().ok:
        announce("configuration has errors; not starting")
        return 1
    stop, reload = asyncio.Event(), asyncio.Event()
    install_signals(stop, reload)
    try:
        mesh = await listeners.open(
            ListenerSpec(MESH, opts.listen_host, opts.listen_port))
    except OSError as exc:
        announce(f"cannot listen on {opts.listen_host}:{opts.listen_port}: {exc.strerror}")
        return 1
    port = mesh.sockets[0].getsockname()[1]
    admin = await start_admin(control, opts.admin_host, opts.admin_port, opts.admin_token)
    assert control.table is not None
    await listeners.sync_gateways(control.table)
    announce(f"listening on http://{_url_host(opts.listen_host)}:{port}")
    announce(f"admin on {admin.url}")
    announce(f"request path: {native.describe()}")
    control.set_ready()
    settle_heap()
    background = [
        dp.tasks.spawn(watch_files(control, opts.watch_interval)),
        dp.tasks.spawn(reload_on_signal(control, reload)),
    ]
    await stop.wait()
    announce("stopping: draining connections")
    for task in background:
        task.cancel()
    listeners.close()
    await dp.drain(opts.drain_timeout)
    await admin.stop()
    await asyncio.to_thread(compare.close)
    control.compare.close()
    await telemetry.aclose()
    announce("stopped")
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
