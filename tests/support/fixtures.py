"""pytest fixtures for end-to-end tests: every server or process they start, they stop."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import pytest
from tests.support import yaml_builders as yb
from tests.support.backends import HttpbinServer, closed_port
from tests.support.mesh import Mesh
from tests.support.proxy import ShadowmeshProcess
from tests.support.recorder import RecordingServer


class StartProxy(Protocol):
    def __call__(
        self, config: str, *args: str, workers: int | None = None
    ) -> ShadowmeshProcess: ...


class StartMesh(Protocol):
    def __call__(
        self,
        versions: Sequence[str] = ("v1", "v2"),
        http: Sequence[yb.Doc] | None = None,
        *,
        host: str = "svc",
        traffic_policy: yb.Doc | None = None,
        subset_policies: Mapping[str, yb.Doc] | None = None,
        vs_annotations: Mapping[str, str] | None = None,
        extra: Sequence[yb.Doc] = (),
        args: Sequence[str] = (),
    ) -> Mesh: ...


@pytest.fixture
def backend() -> Iterator[Callable[[str], RecordingServer]]:
    """`backend("v1")` starts a RecordingServer, stopped after the test."""
    with contextlib.ExitStack() as stack:
        yield lambda name: stack.enter_context(RecordingServer(name))


@pytest.fixture
def refused_port() -> int:
    return closed_port()


@pytest.fixture
def start_proxy(tmp_path: Path) -> Iterator[StartProxy]:
    """`start_proxy(yaml, *extra_args)` runs shadowmesh; killed after the test whatever happens."""
    procs: list[ShadowmeshProcess] = []

    def start(config: str, *args: str, workers: int | None = None) -> ShadowmeshProcess:
        proc = ShadowmeshProcess(config, tmp_path / f"proxy{len(procs)}", args, workers)
        procs.append(proc)
        return proc.start()

    yield start
    for proc in procs:
        proc.kill()


@pytest.fixture
def mesh(
    backend: Callable[[str], RecordingServer], start_proxy: StartProxy
) -> Iterator[StartMesh]:
    """`mesh(["v1", "v2"], http=[...])`: recorded versions of `svc` behind a running proxy."""
    made: list[Mesh] = []

    def start(
        versions: Sequence[str] = ("v1", "v2"),
        http: Sequence[yb.Doc] | None = None,
        *,
        host: str = "svc",
        traffic_policy: yb.Doc | None = None,
        subset_policies: Mapping[str, yb.Doc] | None = None,
        vs_annotations: Mapping[str, str] | None = None,
        extra: Sequence[yb.Doc] = (),
        args: Sequence[str] = (),
    ) -> Mesh:
        servers = {v: backend(v) for v in versions}
        docs = yb.service(host, {v: s.port for v, s in servers.items()}, http=http,
                          traffic_policy=traffic_policy, subset_policies=subset_policies,
                          vs_annotations=vs_annotations)
        proxy = start_proxy(yb.dump(docs, list(extra)), *args)
        m = Mesh(proxy, servers, host)
        made.append(m)
        return m

    yield start
    for m in made:
        m.close()


@pytest.fixture(scope="module")
def httpbin_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, HttpbinServer]]:
    """httpbin v1 and v2 under gunicorn (shared by a module; logs cleared per test)."""
    workdir = tmp_path_factory.mktemp("httpbin")
    with HttpbinServer("v1", workdir) as v1, HttpbinServer("v2", workdir) as v2:
        yield {"v1": v1, "v2": v2}


@pytest.fixture
def httpbin(httpbin_pair: dict[str, HttpbinServer]) -> dict[str, HttpbinServer]:
    for server in httpbin_pair.values():
        server.clear_log()
    return httpbin_pair

