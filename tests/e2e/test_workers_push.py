"""Issue finding 5, end to end: with several workers, an apply answers only once every
worker has installed the new set, so a request sent right after the answer, to whichever
worker the kernel picks, is routed by it."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from tests.e2e.test_overload import mesh_yaml
from tests.support.fixtures import StartProxy
from tests.support.recorder import RecordingServer

pytestmark = pytest.mark.e2e


def test_an_apply_is_in_force_on_every_worker_when_it_answers(
    start_proxy: StartProxy, backend: Callable[[str], RecordingServer]
) -> None:
    srv = backend("v1")
    proxy = start_proxy(mesh_yaml(srv.port, ("a.example",)), workers=2)
    for n in range(3):
        host = f"new{n}.example"
        vs = mesh_yaml(srv.port, (host,)).split("---\n", 1)[1]
        answer = httpx.post(proxy.admin_url + "/api/v1/resources", content=vs,
                            headers={"Content-Type": "application/yaml"}, trust_env=False)
        assert answer.status_code == 200, answer.text
        statuses = []
        for _ in range(10):  # new connections: spread over the workers by SO_REUSEPORT
            with httpx.Client(base_url=proxy.url, timeout=5, trust_env=False) as client:
                statuses.append(client.get("/", headers={"host": host}).status_code)
        assert statuses == [200] * 10
