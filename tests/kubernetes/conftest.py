"""A fresh API-server simulator per test, and a way to run the source against it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from tests.kubernetes.apiserver_sim import ApiServerSim

from shadowmesh.controlplane import ControlPlane
from shadowmesh.kubernetes.client import KubeClient
from shadowmesh.kubernetes.kinds import ALL_KINDS, WatchedKind
from shadowmesh.kubernetes.options import KubernetesOptions, WatchOptions
from shadowmesh.kubernetes.source import KubernetesSource
from shadowmesh.routing.compile import CompileOptions

FAST = WatchOptions(page_size=2, stall_timeout=5.0, backoff_initial=0.05, backoff_max=0.2,
                    absent_recheck=0.2)


@pytest.fixture
def sim() -> Iterator[ApiServerSim]:
    with ApiServerSim() as server:
        yield server


@pytest.fixture
def kubeconfig(sim: ApiServerSim, tmp_path: Path) -> Path:
    return sim.write_kubeconfig(tmp_path / "kubeconfig")


@asynccontextmanager
async def running_source(kubeconfig: Path, kinds: tuple[WatchedKind, ...] = ALL_KINDS,
                         watch: WatchOptions = FAST, debounce: float = 0.02,
                         debounce_max: float = 0.2,
                         ) -> AsyncIterator[tuple[KubernetesSource, ControlPlane]]:
    control = ControlPlane([], CompileOptions())
    control.load_files()
    client = await KubeClient.connect(str(kubeconfig))
    source = KubernetesSource(control, client, KubernetesOptions(
        namespace="default", kinds=kinds, watch=watch, debounce=debounce,
        debounce_max=debounce_max))
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(stop))
    try:
        yield source, control
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await client.close()


async def until(predicate: Callable[[], object], timeout: float = 5.0,
                what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
