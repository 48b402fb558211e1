"""Pipelined shadow copies (the default; `--no-shadow-pipelining` / annotation
`shadowmesh.io/shadow-pipelining: "false"` turn it off).

Copies share a few keep-alive connections per shadow host and leave in batches, as deep as
the shadow's service time allows; these tests check that nothing is lost, duplicated or
reordered on the way, that a slow shadow is neither starved nor mis-timed by it, and that
every way a pipelined connection can end (the server closing after each answer, a copy
timing out) leaves the primary alone and the shadow still fed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from tests.support import yaml_builders as yb
from tests.support.fixtures import StartMesh
from tests.support.mesh import Mesh, client
from tests.support.responder import Behavior, pattern

pytestmark = pytest.mark.e2e

SVC = "svc"
MIRRORED = [yb.to(SVC, "v1", mirror=yb.dest(SVC, "v2"))]
OFF = {"shadowmesh.io/shadow-pipelining": "false"}


def concurrently(m: Mesh, clients: int, per_client: int, method: str = "GET",
                 body: bytes | None = None) -> list[int]:
    """`clients` keep-alive clients sending `per_client` requests each, all at once; returns
    the statuses. Paths are unique: /c{client}-{i}."""
    statuses: list[int] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        with client(m.proxy, m.authority) as c:
            for i in range(per_client):
                resp = c.request(method, f"/c{n}-{i}", content=body)
                with lock:
                    statuses.append(resp.status_code)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return statuses


def test_every_copy_arrives_once_with_its_body(mesh: StartMesh) -> None:
    m = mesh(http=MIRRORED)
    body = pattern(3000, 7)
    statuses = concurrently(m, clients=16, per_client=25, method="POST", body=body)
    assert statuses == [200] * 400
    copies = m.backends["v2"].wait_for(400)
    assert len(m.backends["v2"].settle()) == 400
    assert Counter(r.target for r in copies) == Counter(
        r.target for r in m.backends["v1"].snapshot())
    assert all(r.body == body and r.header("host") == "svc-shadow:8000" for r in copies)
    assert m.proxy.metric("shadowmesh_mirror_requests_total", {"outcome": "succeeded"}) == 400
    assert 0 < m.proxy.metric("shadowmesh_mirror_pipelined_connections") <= 4


def test_the_annotation_turns_it_off_per_virtual_service(mesh: StartMesh) -> None:
    m = mesh(http=MIRRORED, vs_annotations=OFF)
    assert concurrently(m, clients=8, per_client=10) == [200] * 80
    copies = m.backends["v2"].wait_for(80)
    assert sorted(r.target for r in copies) == sorted(f"/c{n}-{i}" for n in range(8)
                                                      for i in range(10))
    assert m.proxy.metric("shadowmesh_mirror_pipelined_connections") == 0


def test_copies_to_a_slow_shadow_record_the_shadows_time_not_their_wait(
    mesh: StartMesh,
) -> None:
    m = mesh(http=MIRRORED)
    v2 = m.backends["v2"]
    v2.set_default(Behavior(delay=0.05))
    assert concurrently(m, clients=8, per_client=4) == [200] * 32
    v2.wait_for(32)
    entries = m.proxy.wait_access(lambda e: e.authority == "svc-shadow:8000", n=32)
    # The first copies, sent together, queue on shared connections (up to 8 deep: 400 ms
    # for the last); each still records the shadow's own 50 ms, not its wait.
    assert all(45 <= e.duration_ms < 150 for e in entries), sorted(e.duration_ms for e in entries)


def test_a_shadow_that_closes_after_each_answer_still_gets_each_copy_once(
    mesh: StartMesh,
) -> None:
    m = mesh(http=MIRRORED)
    m.backends["v2"].set_default(Behavior(keep_alive=False))
    assert concurrently(m, clients=8, per_client=10) == [200] * 80
    copies = m.backends["v2"].wait_for(80)
    assert len(m.backends["v2"].settle()) == 80  # requests behind a close are sent again
    assert len({r.target for r in copies}) == 80
    assert m.proxy.metric("shadowmesh_mirror_requests_total", {"outcome": "failed"}) == 0


def test_head_copies_are_sent_alone(mesh: StartMesh) -> None:
    m = mesh(http=MIRRORED)
    assert concurrently(m, clients=4, per_client=5, method="HEAD") == [200] * 20
    copies = m.backends["v2"].wait_for(20)
    assert {r.method for r in copies} == {"HEAD"}
    assert len(m.backends["v2"].settle()) == 20


def test_a_timed_out_copy_leaves_the_primary_alone_and_the_pipe_recovers(
    mesh: StartMesh,
) -> None:
    m = mesh(http=MIRRORED, vs_annotations={"shadowmesh.io/mirror-timeout": "200ms"})
    v2 = m.backends["v2"]
    v2.set_default(Behavior(delay=1.5))
    # three copies on one connection: the first times out, the two behind it fail with it
    # (fewer than the five failures that would open the shadow's circuit breaker)
    assert concurrently(m, clients=3, per_client=1) == [200] * 3
    timed_out = {"outcome": "timed_out"}
    deadline = time.monotonic() + 10
    while m.proxy.metric("shadowmesh_mirror_requests_total", timed_out) < 1:
        assert time.monotonic() < deadline, "no copy timed out"
        time.sleep(0.05)
    v2.set_default(Behavior())
    v2.settle(quiet=2.0)  # what the slow shadow still had: it does not matter
    before = v2.count()
    for i in range(10):
        assert m.get(f"/after{i}").status_code == 200
    later = [r.target for r in v2.wait_for(before + 10)[before:]]
    assert sorted(later) == sorted(f"/after{i}" for i in range(10))
