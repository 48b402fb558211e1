"""Running the admin app with uvicorn on a thread and event loop of its own.

The admin never runs on the traffic loop: a large apply, a body that nests deeply or a
flood of scrapes must not delay a single proxied request. `start_admin` binds the socket
itself (so a bind error surfaces as an OSError rather than uvicorn's `sys.exit`, and port 0
works), then serves it on a `LoopThread` (its own, or the control thread it is given) with
signal capture off (the proxy handles SIGTERM/SIGHUP itself); `stop()` shuts it down.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn

from shadowmesh.admin.app import build_app
from shadowmesh.admin.contract import ControlPlaneAPI
from shadowmesh.admin.guard import WriteGuard
from shadowmesh.admin.settings import AdminSettings
from shadowmesh.proxy.loopthread import LoopThread
from shadowmesh.proxy.tasks import HealthRegistry

STARTUP_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 5.0
# Admin request heads are small; a client sending more is not a client of ours.
MAX_HEAD_BYTES = 64 * 1024


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class AdminServer:
    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], sock: socket.socket,
                 thread: LoopThread, owns_thread: bool) -> None:
        self._server = server
        self._task = task
        self._socket = sock
        self._thread = thread
        self._owns_thread = owns_thread
        self.host: str = sock.getsockname()[0]
        self.port: int = sock.getsockname()[1]

    def __repr__(self) -> str:
        state = "stopped" if self._task.done() else "serving"
        return f"<AdminServer http://{self.url_host}:{self.port} {state}>"

    @property
    def url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def url(self) -> str:
        return f"http://{self.url_host}:{self.port}"

    @property
    def thread(self) -> LoopThread:
        return self._thread

    async def stop(self) -> None:
        """Stop accepting, finish or close open connections, and wait for the server."""
        with contextlib.suppress(RuntimeError):  # the thread's loop is already gone
            await self._thread.run(self._stop())
        self._socket.close()
        if self._owns_thread:
            await asyncio.to_thread(self._thread.stop)

    async def _stop(self) -> None:
        if self._task.done():
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), SHUTDOWN_TIMEOUT_S * 2)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def start_admin(
    control: ControlPlaneAPI,
    host: str,
    port: int,
    token: str | None,
    *,
    settings: AdminSettings | None = None,
    health: HealthRegistry | None = None,
    thread: LoopThread | None = None,
) -> AdminServer:
    """Serve the admin API on host:port (0 = any free port) on `thread` (a new one if None).

    `token` None falls back to $SHADOWMESH_ADMIN_TOKEN (see `WriteGuard`)."""
    settings = settings or AdminSettings()
    guard = WriteGuard.for_listener(host, token)
    sock = _bind(host, port)
    owns_thread = thread is None
    loop_thread = thread if thread is not None else LoopThread("shadowmesh-admin")
    try:
        server, task = await loop_thread.run(_serve(control, guard, settings, health, sock))
    except BaseException:
        sock.close()
        if owns_thread:
            await asyncio.to_thread(loop_thread.stop)
        raise
    return AdminServer(server, task, sock, loop_thread, owns_thread)


async def _serve(control: ControlPlaneAPI, guard: WriteGuard, settings: AdminSettings,
                 health: HealthRegistry | None,
                 sock: socket.socket) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    app = build_app(control, guard, settings, health)
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        # h11 enforces a limit on the request head (httptools under uvicorn has none).
        http="h11",
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=15,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_graceful_shutdown=int(SHUTDOWN_TIMEOUT_S),
    )
    server = _EmbeddedServer(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]),
                                                  name="shadowmesh-admin")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_S
    while not server.started:
        if task.done():
            task.result()  # raises what went wrong
            raise RuntimeError("the admin server stopped while starting")
        if loop.time() > deadline:
            server.should_exit = True
            task.cancel()
            raise RuntimeError("the admin server did not start in time")
        await asyncio.sleep(0.01)
    return server, task
