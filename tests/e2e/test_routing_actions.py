"""What a matched rule does besides choosing a destination: redirect, directResponse, rewrite,
header operations, CORS, faults, timeouts and retries."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import pytest
from tests.support import yaml_builders as yb
from tests.support.fixtures import StartMesh, StartProxy
from tests.support.mesh import client
from tests.support.recorder import RecordingServer
from tests.support.responder import Behavior

pytestmark = pytest.mark.e2e

SVC = "svc"


# redirect ---------------------------------------------------------------------------------
def test_redirect_defaults_to_301_and_is_never_forwarded(mesh: StartMesh) -> None:
    m = mesh(http=[{"match": [{"uri": {"exact": "/old"}}], "redirect": {"uri": "/new"}},
                   yb.to(SVC, "v1")])
    resp = m.get("/old")
    assert resp.status_code == 301
    assert resp.headers["location"] == "http://svc:8000/new"
    assert m.total_received() == 0
    assert m.get("/other").headers["x-backend"] == "v1"


@pytest.mark.parametrize("code", [302, 303, 307, 308])
def test_redirect_code(mesh: StartMesh, code: int) -> None:
    m = mesh(http=[{"redirect": {"uri": "/moved", "redirectCode": code}}])
    resp = m.get("/x")
    assert resp.status_code == code
    assert resp.headers["location"].endswith("/moved")


def test_redirect_authority_keeps_path_and_query(mesh: StartMesh) -> None:
    m = mesh(http=[{"redirect": {"authority": "other.example:9000"}}])
    resp = m.get("/p/q?x=1")
    assert resp.status_code == 301
    assert resp.headers["location"] == "http://other.example:9000/p/q?x=1"


def test_prefix_redirect_replaces_only_the_matched_prefix(mesh: StartMesh) -> None:
    m = mesh(http=[{"match": [{"uri": {"prefix": "/v1/"}}],
                    "redirect": {"prefixRewrite": "/v2/"}}])
    resp = m.get("/v1/items/7")
    assert resp.status_code == 301
    assert resp.headers["location"] == "http://svc:8000/v2/items/7"


# directResponse ---------------------------------------------------------------------------
def test_direct_response_string_and_bytes(mesh: StartMesh) -> None:
    raw = b"\x00\x01binary\xff"
    m = mesh(http=[
        {"match": [{"uri": {"exact": "/maint"}}],
         "directResponse": {"status": 503, "body": {"string": "down for maintenance"}}},
        {"match": [{"uri": {"exact": "/bin"}}],
         "directResponse": {"status": 200, "body": {"bytes": base64.b64encode(raw).decode()}}},
        {"match": [{"uri": {"exact": "/empty"}}], "directResponse": {"status": 204}},
        yb.to(SVC, "v1"),
    ])
    resp = m.get("/maint")
    assert (resp.status_code, resp.text) == (503, "down for maintenance")
    resp = m.get("/bin")
    assert (resp.status_code, resp.content) == (200, raw)
    assert m.get("/empty").status_code == 204
    assert m.total_received() == 0


# rewrite ----------------------------------------------------------------------------------
def test_rewrite_uri_replaces_the_matched_prefix(mesh: StartMesh) -> None:
    m = mesh(http=[yb.to(SVC, "v1", match=[{"uri": {"prefix": "/old/"}}],
                         rewrite={"uri": "/new/"})])
    assert m.get("/old/a/b?x=1").status_code == 200
    assert m.backends["v1"].snapshot()[-1].target == "/new/a/b?x=1"


def test_rewrite_uri_of_an_exact_match_replaces_the_path(mesh: StartMesh) -> None:
    m = mesh(http=[yb.to(SVC, "v1", match=[{"uri": {"exact": "/login"}}],
                         rewrite={"uri": "/auth/signin"})])
    m.get("/login?next=/home")
    assert m.backends["v1"].snapshot()[-1].target == "/auth/signin?next=/home"


def test_uri_regex_rewrite(mesh: StartMesh) -> None:
    rewrite = {"uriRegexRewrite": {"match": "^/service/([^/]+)(/.*)$",
                                   "rewrite": "\\2/instance/\\1"}}
    m = mesh(http=[yb.to(SVC, "v1", rewrite=rewrite)])
    m.get("/service/foo/v1/api?q=2")
    assert m.backends["v1"].snapshot()[-1].target == "/v1/api/instance/foo?q=2"


def test_rewrite_authority(mesh: StartMesh) -> None:
    m = mesh(http=[yb.to(SVC, "v1", rewrite={"authority": "backend.internal"})])
    m.get("/")
    assert m.backends["v1"].snapshot()[-1].header("host") == "backend.internal"


# header operations ------------------------------------------------------------------------
def test_route_level_request_and_response_headers(mesh: StartMesh) -> None:
    m = mesh(http=[yb.to(SVC, "v1", headers={
        "request": {"set": {"x-set": "route"}, "add": {"x-add": "route"}, "remove": ["x-secret"]},
        "response": {"set": {"x-resp-set": "yes"}, "add": {"x-resp-add": "more"},
                     "remove": ["x-internal"]},
    })])
    m.backends["v1"].set_default(Behavior(headers=[("x-internal", "leak"),
                                                   ("x-resp-add", "upstream")]))
    resp = m.get("/", headers={"x-set": "client", "x-add": "client", "x-secret": "s3cr3t"})
    got = m.backends["v1"].snapshot()[-1]
    assert got.header_values("x-set") == ["route"]  # set overwrites
    assert ",".join(got.header_values("x-add")).replace(", ", ",") == "client,route"  # appends
    assert "x-secret" not in got.header_names()
    assert resp.headers["x-resp-set"] == "yes"
    assert resp.headers.get_list("x-resp-add", split_commas=True) == ["upstream", "more"]
    assert "x-internal" not in resp.headers


def test_destination_level_headers_apply_to_the_chosen_destination(mesh: StartMesh) -> None:
    m = mesh(http=[{"route": [
        yb.route(SVC, "v1", weight=50,
                 headers={"request": {"set": {"x-dest": "one"}},
                          "response": {"set": {"x-dest-resp": "one"}}}),
        yb.route(SVC, "v2", weight=50,
                 headers={"request": {"set": {"x-dest": "two"}},
                          "response": {"set": {"x-dest-resp": "two"}}}),
    ], "headers": {"request": {"set": {"x-route": "r"}}}}])
    for _ in range(20):
        resp = m.get("/")
        expected = {"v1": "one", "v2": "two"}[resp.headers["x-backend"]]
        assert resp.headers["x-dest-resp"] == expected
    for name, expected in (("v1", "one"), ("v2", "two")):
        for got in m.backends[name].snapshot():
            assert got.header_values("x-dest") == [expected]
            assert got.header("x-route") == "r"


# CORS -------------------------------------------------------------------------------------
CORS = {"allowOrigins": [{"exact": "https://app.example"}, {"regex": r"https://.*\.test"}],
        "allowMethods": ["GET", "POST"], "allowHeaders": ["x-token"],
        "exposeHeaders": ["x-trace"], "maxAge": "24h", "allowCredentials": True}


def test_cors_preflight_is_answered_by_the_proxy(mesh: StartMesh) -> None:
    m = mesh(http=[yb.to(SVC, "v1", corsPolicy=CORS)])
    resp = m.request("OPTIONS", "/api", headers={
        "origin": "https://app.example", "access-control-request-method": "POST",
        "access-control-request-headers": "x-token"})
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in resp.headers["access-control-allow-methods"]
    assert "x-token" in resp.headers["access-control-allow-headers"].lower()
    assert resp.headers["access-control-max-age"] == "86400"
    assert resp.headers["access-control-allow-credentials"] == "true"
    assert m.total_received() == 0


def test_cors_actual_request(mesh: StartMesh) -> None:
    m = mesh(http=[yb.to(SVC, "v1", corsPolicy=CORS)])
    resp = m.get("/api", headers={"origin": "https://a.test"})
    assert resp.headers["x-backend"] == "v1"
    assert resp.headers["access-control-allow-origin"] == "https://a.test"
    assert "x-trace" in resp.headers["access-control-expose-headers"]
    resp = m.get("/api", headers={"origin": "https://evil.example"})
    assert resp.status_code == 200
    assert "access-control-allow-origin" not in resp.headers


# faults -----------------------------------------------------------------------------------
def test_fault_abort_100_percent(mesh: StartMesh) -> None:
    fault = {"abort": {"httpStatus": 418, "percentage": {"value": 100}}}
    m = mesh(http=[yb.to(SVC, "v1", fault=fault)])
    assert [m.get("/").status_code for _ in range(10)] == [418] * 10
    assert m.total_received() == 0


def test_fault_abort_0_percent_and_without_percentage_never_aborts(mesh: StartMesh) -> None:
    m = mesh(http=[
        yb.to(SVC, "v1", match=[{"uri": {"prefix": "/zero"}}],
              fault={"abort": {"httpStatus": 500, "percentage": {"value": 0}}}),
        yb.to(SVC, "v1", fault={"abort": {"httpStatus": 500}}),
    ])
    assert {m.get("/zero").status_code for _ in range(20)} == {200}
    assert {m.get("/none").status_code for _ in range(20)} == {200}
    assert m.backends["v1"].count() == 40


def test_fault_delay(mesh: StartMesh) -> None:
    fault = {"delay": {"fixedDelay": "0.5s", "percentage": {"value": 100}}}
    m = mesh(http=[yb.to(SVC, "v1", fault=fault)])
    started = time.monotonic()
    resp = m.get("/")
    assert time.monotonic() - started >= 0.5
    assert resp.headers["x-backend"] == "v1"
    # the delay happens before forwarding
    assert m.backends["v1"].snapshot()[-1].arrived - started >= 0.5


# timeouts ---------------------------------------------------------------------------------
def test_route_timeout_gives_504_and_closes_the_slow_upstream(mesh: StartMesh) -> None:
    m = mesh(["v1"], http=[yb.to(SVC, "v1", timeout="0.5s")])
    m.backends["v1"].set_default(Behavior(delay=5))
    started = time.monotonic()
    resp = m.get("/slow")
    elapsed = time.monotonic() - started
    assert resp.status_code == 504
    assert 0.5 <= elapsed < 3.0
    got = m.backends["v1"].snapshot()
    assert len(got) == 1  # a route timeout is not retried
    assert m.backends["v1"].wait_connection_closed(got[0].conn_id, timeout=3.0)


# retries ----------------------------------------------------------------------------------
def test_mesh_default_retries_a_refused_connection(
    backend: Callable[[str], RecordingServer], start_proxy: StartProxy, refused_port: int
) -> None:
    good = backend("good")
    se = yb.service_entry(SVC, endpoints=[yb.endpoint(refused_port), yb.endpoint(good.port)])
    dr = yb.destination_rule(SVC, traffic_policy={"loadBalancer": {"simple": "ROUND_ROBIN"}})
    proxy = start_proxy(yb.dump(se, dr, yb.virtual_service(SVC, [yb.to(SVC)])))
    with client(proxy, "svc:8000") as c:
        statuses = [c.get(f"/r{i}").status_code for i in range(20)]
    assert statuses == [200] * 20
    assert good.count() == 20


def test_retry_on_5xx_until_success(mesh: StartMesh) -> None:
    retries = {"attempts": 3, "retryOn": "5xx"}
    m = mesh(["v1"], http=[yb.to(SVC, "v1", retries=retries)])
    m.backends["v1"].respond(Behavior(status=503), times=2)
    resp = m.get("/flaky")
    assert resp.status_code == 200
    got = m.backends["v1"].snapshot()
    assert len(got) == 3
    assert [r.header("x-envoy-attempt-count") for r in got] == ["1", "2", "3"]


def test_retry_gives_up_after_attempts(mesh: StartMesh) -> None:
    m = mesh(["v1"], http=[yb.to(SVC, "v1", retries={"attempts": 2, "retryOn": "5xx"})])
    m.backends["v1"].set_default(Behavior(status=502))
    assert m.get("/").status_code == 502
    assert m.backends["v1"].count() == 3  # the first try and two retries


def test_per_try_timeout_retries_a_slow_attempt(mesh: StartMesh) -> None:
    retries = {"attempts": 2, "perTryTimeout": "0.3s", "retryOn": "5xx,reset,gateway-error"}
    m = mesh(["v1"], http=[yb.to(SVC, "v1", retries=retries)])
    m.backends["v1"].respond(Behavior(delay=5), times=1)
    started = time.monotonic()
    resp = m.get("/")
    assert resp.status_code == 200
    assert time.monotonic() - started < 3.0
    assert m.backends["v1"].count() == 2


def test_attempts_0_disables_retries(
    backend: Callable[[str], RecordingServer], start_proxy: StartProxy, refused_port: int
) -> None:
    flaky = backend("flaky")
    flaky.respond(Behavior(status=503), times=1)
    se = yb.service_entry(SVC, endpoints=[yb.endpoint(flaky.port)])
    bad = yb.service_entry("dead", endpoints=[yb.endpoint(refused_port)])
    vs = yb.virtual_service(SVC, [yb.to(SVC, retries={"attempts": 0})])
    vs_dead = yb.virtual_service("dead", [yb.to("dead", retries={"attempts": 0})])
    proxy = start_proxy(yb.dump(se, bad, vs, vs_dead))
    with client(proxy, "svc:8000") as c:
        assert c.get("/").status_code == 503
        assert flaky.count() == 1
        assert c.get("/").status_code == 200
    with client(proxy, "dead:8000") as c:
        assert c.get("/").status_code == 503
