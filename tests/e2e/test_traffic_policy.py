"""DestinationRule trafficPolicy: load balancing, connection pool limits, outlier detection."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from tests.support import yaml_builders as yb
from tests.support.fixtures import StartMesh
from tests.support.mesh import Mesh
from tests.support.responder import Behavior

pytestmark = pytest.mark.e2e

SVC = "svc"
NO_RETRIES = {"attempts": 0}  # so each client request is exactly one upstream attempt


def lb(simple: str) -> yb.Doc:
    return {"loadBalancer": {"simple": simple}}


def whole_service(**rule: object) -> list[yb.Doc]:
    """One rule sending everything to the service (all versions are its endpoints)."""
    return [yb.to(SVC, None, **rule)]


def concurrently(m: Mesh, n: int, threads: int, make: Callable[[int], str] = str
                 ) -> list[httpx.Response]:
    """n GETs from `threads` threads, each with its own keep-alive connection."""

    def worker(ids: list[int]) -> list[httpx.Response]:
        with httpx.Client(base_url=m.proxy.url, headers={"host": m.authority}, timeout=20,
                          trust_env=False) as c:
            return [c.get(f"/{make(i)}") for i in ids]

    batches = [list(range(t, n, threads)) for t in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        return [r for rs in pool.map(worker, batches) for r in rs]


# load balancing ---------------------------------------------------------------------------
def test_round_robin_alternates(mesh: StartMesh) -> None:
    m = mesh(["a", "b"], whole_service(), traffic_policy=lb("ROUND_ROBIN"))
    order = [m.served_by("/") for _ in range(20)]
    assert Counter(order) == {"a": 10, "b": 10}
    assert all(x != y for x, y in itertools.pairwise(order)), order


def test_round_robin_over_three(mesh: StartMesh) -> None:
    m = mesh(["a", "b", "c"], whole_service(), traffic_policy=lb("ROUND_ROBIN"))
    order = [m.served_by("/") for _ in range(30)]
    assert Counter(order) == {"a": 10, "b": 10, "c": 10}
    assert order[:3] * 10 == order


def test_random_spreads_without_a_pattern(mesh: StartMesh) -> None:
    m = mesh(["a", "b"], whole_service(), traffic_policy=lb("RANDOM"))
    order = [m.served_by("/") for _ in range(200)]
    seen = Counter(order)
    assert seen["a"] >= 60 and seen["b"] >= 60, seen  # expected 100 each, sd 7
    # strict alternation over 200 random picks has probability 2^-199
    assert any(x == y for x, y in itertools.pairwise(order))


def test_least_request_avoids_a_slow_endpoint(mesh: StartMesh) -> None:
    m = mesh(["slow", "fast"], whole_service(retries=NO_RETRIES),
             traffic_policy=lb("LEAST_REQUEST"))
    m.backends["slow"].set_default(Behavior(delay=1.0))
    served = Counter(r.headers.get("x-backend") for r in concurrently(m, 60, 4))
    # round robin would split 30/30; least-request sends most to the endpoint that is idle
    assert served["slow"] + served["fast"] == 60
    assert served["fast"] >= 1.5 * served["slow"], served


@pytest.mark.parametrize("key, send", [
    ({"httpHeaderName": "x-user"}, lambda u: {"headers": {"x-user": u}}),
    ({"httpCookie": {"name": "session", "ttl": "0s"}},
     lambda u: {"headers": {"cookie": f"theme=dark; session={u}"}}),
    ({"httpQueryParameterName": "user"}, lambda u: {"params": {"user": u}}),
], ids=["header", "cookie", "query"])
def test_consistent_hash_pins_a_key_to_an_endpoint(
    mesh: StartMesh, key: yb.Doc, send: Callable[[str], dict[str, object]]
) -> None:
    m = mesh(["a", "b", "c"], whole_service(),
             traffic_policy={"loadBalancer": {"consistentHash": key}})
    owners = {}
    for user in [f"user{i}" for i in range(12)]:
        seen = {m.get("/", **send(user)).headers["x-backend"] for _ in range(5)}
        assert len(seen) == 1, (user, seen)
        owners[user] = seen.pop()
    # 12 keys on one endpoint out of three: probability 3^-11
    assert len(set(owners.values())) >= 2, owners


def test_consistent_hash_on_source_ip(mesh: StartMesh) -> None:
    m = mesh(["a", "b", "c"], whole_service(),
             traffic_policy={"loadBalancer": {"consistentHash": {"useSourceIp": True}}})
    seen = set()
    for _ in range(15):
        with httpx.Client(base_url=m.proxy.url, headers={"host": m.authority},
                          trust_env=False) as fresh:  # a new connection and source port each time
            seen.add(fresh.get("/").headers["x-backend"])
    assert len(seen) == 1, seen


# connection pool --------------------------------------------------------------------------
def test_pending_request_overflow_is_503_uo(mesh: StartMesh) -> None:
    pool = {"connectionPool": {"tcp": {"maxConnections": 1},
                               "http": {"http1MaxPendingRequests": 1}}}
    m = mesh(["v1"], whole_service(retries=NO_RETRIES), traffic_policy=pool)
    m.backends["v1"].set_default(Behavior(delay=1.0))
    statuses = Counter(r.status_code for r in concurrently(m, 6, 6))
    # one in flight, one waiting, the rest overflow at once
    assert statuses[200] >= 1 and statuses[503] >= 2, statuses
    assert set(statuses) <= {200, 503}
    assert m.backends["v1"].max_active == 1
    assert m.backends["v1"].connection_count() == 1
    flags = m.proxy.access_log_flags(503, expect=statuses[503])
    assert flags.count("UO") == statuses[503], flags


def test_max_requests_per_connection_1_opens_a_connection_per_request(mesh: StartMesh) -> None:
    m = mesh(["once", "reuse"], [
        yb.to(SVC, "once", match=[{"uri": {"prefix": "/once"}}]),
        yb.to(SVC, "reuse"),
    ], subset_policies={"once": {"connectionPool": {"http": {"maxRequestsPerConnection": 1}}}})
    for i in range(5):
        assert m.get(f"/once/{i}").status_code == 200
        assert m.get(f"/reuse/{i}").status_code == 200
    once, reuse = m.backends["once"], m.backends["reuse"]
    assert once.connection_count() == 5
    assert {r.conn_id for r in once.snapshot()} == {c.conn_id for c in once.connections}
    assert reuse.connection_count() == 1  # keep-alive upstream otherwise


# outlier detection ------------------------------------------------------------------------
def outliers(**fields: object) -> yb.Doc:
    policy = {"consecutive5xxErrors": 2, "interval": "1s", "baseEjectionTime": "30s",
              "maxEjectionPercent": 100, **fields}
    return {"loadBalancer": {"simple": "ROUND_ROBIN"}, "outlierDetection": policy}


def test_consecutive_5xx_ejects_the_failing_endpoint(mesh: StartMesh) -> None:
    m = mesh(["bad", "good"], whole_service(retries=NO_RETRIES), traffic_policy=outliers())
    m.backends["bad"].set_default(Behavior(status=500))
    statuses = [m.get(f"/{i}").status_code for i in range(20)]
    assert m.backends["bad"].count() == 2  # ejected on its second consecutive 5xx
    assert statuses.count(500) == 2
    assert statuses[-10:] == [200] * 10


def test_ejection_ends_after_base_ejection_time(mesh: StartMesh) -> None:
    m = mesh(["flaky", "good"], whole_service(retries=NO_RETRIES),
             traffic_policy=outliers(baseEjectionTime="1s", interval="0.5s"))
    m.backends["flaky"].respond(Behavior(status=500), times=2)  # then healthy again
    for i in range(10):
        m.get(f"/{i}")
    ejected_at = m.backends["flaky"].count()
    assert ejected_at == 2
    for i in range(10):
        m.get(f"/{i}")
    assert m.backends["flaky"].count() == ejected_at  # still out
    deadline = time.monotonic() + 5.0
    while m.backends["flaky"].count() == ejected_at and time.monotonic() < deadline:
        m.get("/again")
        time.sleep(0.1)
    assert m.backends["flaky"].count() > ejected_at, "the endpoint never came back"


def test_max_ejection_percent_keeps_half_the_endpoints(mesh: StartMesh) -> None:
    m = mesh(["a", "b"], whole_service(retries=NO_RETRIES),
             traffic_policy=outliers(maxEjectionPercent=50))
    for server in m.backends.values():
        server.set_default(Behavior(status=503))
    for i in range(20):
        assert m.get(f"/{i}").status_code == 503
    counts = sorted(m.counts().values())
    assert counts[0] == 2, counts  # one endpoint was ejected...
    assert counts[1] == 18, counts  # ...the other may not be: it gets all the rest
