"""Starting the Kubernetes source from `shadowmesh run` (one process or the control process
of `--workers N`): connect, watch, and declare the proxy ready once everything is synced."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from shadowmesh.kubernetes.options import KubernetesOptions

log = logging.getLogger("shadowmesh.kubernetes")


class ConnectError(Exception):
    """No usable API server configuration (no service account, unreadable kubeconfig)."""


async def watch_cluster(control: Any, options: KubernetesOptions, stop: asyncio.Event,
                        announce: Callable[[str], None]) -> asyncio.Task[None]:
    """Start watching; `control.set_ready()` is called after the first full sync.

    The returned task ends (and closes the client) once `stop` is set.
    """
    from shadowmesh.kubernetes.client import KubeClient
    from shadowmesh.kubernetes.source import KubernetesSource

    try:
        client = await KubeClient.connect(options.kubeconfig, options.context)
    except Exception as exc:  # the library raises ConfigException, OSError, yaml errors...
        raise ConnectError(f"cannot configure the Kubernetes client: {exc}") from exc
    source = KubernetesSource(control, client, options)
    control.kubernetes = source  # status and metrics on the admin API
    where = f"namespace {options.namespace}" if options.namespace else "all namespaces"
    announce(f"kubernetes: watching {where} at {client.api.configuration.host}")

    async def ready_when_synced() -> None:
        await source.synced.wait()
        status = source.status()
        announce(f"kubernetes: synced ({status['services']} services, "
                 f"{status['endpoints']} endpoints, {len(status['rejected'])} rejected)")
        control.set_ready()

    async def run() -> None:
        waiter = asyncio.create_task(ready_when_synced())
        try:
            await source.run(stop)
        finally:
            waiter.cancel()
            await client.close()

    return asyncio.get_running_loop().create_task(run(), name="kubernetes")
