"""Running the admin app with uvicorn inside the proxy's own event loop.

uvicorn normally owns the process (signals, the loop); here it is one task among the
proxy's: the socket is bound by us (so a bind error surfaces as an OSError from
`start_admin` rather than uvicorn's `sys.exit`, and port 0 works), signal capture is turned
off (the proxy handles SIGTERM/SIGHUP itself), and `stop()` shuts it down and awaits the task.
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

STARTUP_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 5.0


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
    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], sock: socket.socket):
        self._server = server
        self._task = task
        self._socket = sock
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

    async def stop(self) -> None:
        """Stop accepting, finish or close open connections, and await the server task."""
        if not self._task.done():
            self._server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(self._task), SHUTDOWN_TIMEOUT_S * 2)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        self._socket.close()


async def start_admin(
    control: ControlPlaneAPI, host: str, port: int, token: str | None
) -> AdminServer:
    """Serve the admin API on host:port (0 = any free port) in the running loop.

    `token` None falls back to $SHADOWMESH_ADMIN_TOKEN (see `WriteGuard`)."""
    guard = WriteGuard.for_listener(host, token)
    app = build_app(control, guard)
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=int(SHUTDOWN_TIMEOUT_S),
    )
    sock = _bind(host, port)
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="shadowmesh-admin")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_S
    while not server.started:
        if task.done():
            sock.close()
            task.result()  # raises what went wrong
            raise RuntimeError("the admin server stopped while starting")
        if loop.time() > deadline:
            server.should_exit = True
            task.cancel()
            sock.close()
            raise RuntimeError("the admin server did not start in time")
        await asyncio.sleep(0.01)
    return AdminServer(server, task, sock)
