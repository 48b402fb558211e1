"""Where a matched request goes: weights, subsets, ports, host names, and proxy-style requests."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from tests.support import yaml_builders as yb
from tests.support.backends import HttpbinServer
from tests.support.fixtures import StartMesh, StartProxy
from tests.support.mesh import Mesh, client
from tests.support.rawhttp import exchange
from tests.support.recorder import RecordingServer

pytestmark = pytest.mark.e2e

SVC = "svc"
FQDN = "svc.default.svc.cluster.local"


def test_weights_80_20(mesh: StartMesh) -> None:
    m = mesh(http=[{"route": [yb.route(SVC, "v1", weight=80), yb.route(SVC, "v2", weight=20)]}])
    seen = m.spread(400)
    assert set(seen) == {"v1", "v2"}
    # expected 320/80, sd 8: these bounds are five standard deviations wide
    assert 280 <= seen["v1"] <= 360, seen


def test_weights_need_not_sum_to_100(mesh: StartMesh) -> None:
    m = mesh(http=[{"route": [yb.route(SVC, "v1", weight=1), yb.route(SVC, "v2", weight=3)]}])
    seen = m.spread(200)
    assert 20 <= seen["v1"] <= 80, seen  # expected 50
    assert seen["v1"] + seen["v2"] == 200


def test_single_destination_gets_everything_whatever_its_weight(mesh: StartMesh) -> None:
    m = mesh(http=[{"route": [yb.route(SVC, "v2", weight=30)]}])
    assert m.spread(20) == {"v2": 20}


def test_subset_selects_endpoints_whose_labels_contain_the_subset_labels(
    backend: Callable[[str], RecordingServer], start_proxy: StartProxy
) -> None:
    v1, v2a, v2b = backend("v1"), backend("v2a"), backend("v2b")
    docs = [
        yb.service_entry(SVC),
        yb.workload_entry("svc-v1", v1.port, {"app": SVC, "version": "v1"}),
        yb.workload_entry("svc-v2a", v2a.port, {"app": SVC, "version": "v2", "zone": "a"}),
        yb.workload_entry("svc-v2b", v2b.port, {"app": SVC, "version": "v2", "zone": "b"}),
        yb.destination_rule(SVC, ["v1", "v2"]),
        yb.virtual_service(SVC, [yb.to(SVC, "v2")]),
    ]
    proxy = start_proxy(yb.dump(docs))
    m = Mesh(proxy, {"v1": v1, "v2a": v2a, "v2b": v2b})
    seen = m.spread(40)
    assert set(seen) == {"v2a", "v2b"}, seen
    assert v1.count() == 0
    m.close()


def test_explicit_destination_port(
    backend: Callable[[str], RecordingServer], start_proxy: StartProxy
) -> None:
    main, admin = backend("main"), backend("admin")
    se = yb.service_entry(SVC)
    se["spec"]["ports"].append({"number": 9080, "name": "http-admin", "protocol": "HTTP"})
    we = yb.workload_entry("svc-1", main.port, {"app": SVC, "version": "v1"})
    we["spec"]["ports"]["http-admin"] = admin.port
    vs = yb.virtual_service(SVC, [
        {"match": [{"uri": {"prefix": "/admin"}}],
         "route": [{"destination": {"host": SVC, "port": {"number": 9080}}}]},
        {"route": [{"destination": {"host": SVC, "port": {"number": 8000}}}]},
    ])
    proxy = start_proxy(yb.dump(se, we, vs))
    with client(proxy, "svc:8000") as c:
        assert c.get("/admin/stats").headers["x-backend"] == "admin"
        assert c.get("/home").headers["x-backend"] == "main"


def test_no_virtual_service_balances_across_all_endpoints(mesh: StartMesh) -> None:
    m = mesh(["v1", "v2"], http=None)
    seen = m.spread(100)
    assert seen["v1"] >= 20 and seen["v2"] >= 20, seen
    assert seen["v1"] + seen["v2"] == 100


def test_unknown_host_is_404_and_nothing_is_forwarded(mesh: StartMesh) -> None:
    m = mesh(http=[yb.to(SVC, "v1")])
    resp = m.get("/", host="nosuch:8000")
    assert resp.status_code == 404
    resp = m.get("/", host="example.com")
    assert resp.status_code == 404
    assert m.total_received() == 0


@pytest.mark.parametrize("authority", [
    "svc", "svc:8000", FQDN, f"{FQDN}:8000", "svc.default", "svc.default:8000",
    "svc.default.svc:8000", "SVC:8000",
])
def test_host_name_forms_select_the_virtual_service(mesh: StartMesh, authority: str) -> None:
    m = mesh(http=[yb.to(SVC, "v2")])
    resp = m.get("/", host=authority)
    assert resp.status_code == 200
    assert resp.headers["x-backend"] == "v2"
    # the upstream sees the authority the client sent
    assert m.backends["v2"].snapshot()[-1].header("host") == authority


def test_absolute_form_request_through_the_proxy_raw(mesh: StartMesh) -> None:
    m = mesh(http=[yb.to(SVC, "v2")])
    resp = exchange(m.proxy.port,
                    b"GET http://svc:8000/get?a=1 HTTP/1.1\r\nHost: svc:8000\r\n\r\n")
    assert resp.status == 200
    assert resp.header("x-backend") == "v2"
    got = m.backends["v2"].snapshot()[-1]
    assert got.target == "/get?a=1"  # origin-form upstream
    assert got.header("host") == "svc:8000"


def test_absolute_form_authority_overrides_host_header(mesh: StartMesh) -> None:
    m = mesh(http=[yb.to(SVC, "v2")])
    resp = exchange(m.proxy.port, b"GET http://svc:8000/x HTTP/1.1\r\nHost: other:1\r\n\r\n")
    assert resp.status == 200  # RFC 9112 3.2.2: the target's authority wins over Host
    assert m.backends["v2"].snapshot()[-1].header("host") == "svc:8000"


def test_httpbin_through_the_proxy_as_an_http_proxy(
    httpbin: dict[str, HttpbinServer], start_proxy: StartProxy
) -> None:
    """`curl -x http://proxy http://httpbin:8000/get`: httpx sends absolute-form targets."""
    ports = {v: s.port for v, s in httpbin.items()}
    proxy = start_proxy(yb.dump(yb.service("httpbin", ports, http=[yb.to("httpbin", "v1")])))
    with httpx.Client(proxy=proxy.url, trust_env=False, timeout=10) as c:
        resp = c.get("http://httpbin:8000/get?x=1")
    assert resp.status_code == 200
    body = resp.json()
    assert body["args"] == {"x": "1"}
    assert body["headers"]["Host"] == "httpbin:8000"
    assert len(httpbin["v1"].wait_lines(1)) == 1
    assert httpbin["v2"].lines() == []
