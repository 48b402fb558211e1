"""Mirroring with Istio's semantics (ISTIO-SEMANTICS.md, "Mirroring"), through the real proxy.

The tutorial tests use httpbin under gunicorn and read its access logs, as the Istio task
does; the rest use recording servers, which see every header and body byte of the copy.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest
from tests.support import yaml_builders as yb
from tests.support.backends import HttpbinServer
from tests.support.fixtures import StartMesh, StartProxy
from tests.support.mesh import Mesh, client
from tests.support.recorder import RecordingServer
from tests.support.responder import Behavior, pattern

pytestmark = pytest.mark.e2e

SVC = "svc"
SUFFIX_ON = ("--shadow-host-suffix",)
SUFFIX_OFF = ("--no-shadow-host-suffix",)


def mirrored(target: str = "v1", shadow: str = "v2", **fields: object) -> list[yb.Doc]:
    return [yb.to(SVC, target, mirror=yb.dest(SVC, shadow), **fields)]


def send(m: Mesh, n: int, path: str = "/m") -> None:
    for i in range(n):
        assert m.get(f"{path}{i}").status_code == 200


# the Istio mirroring task, with httpbin ----------------------------------------------------
def httpbin_config(
    servers: dict[str, HttpbinServer], mirror: bool, annotations: dict[str, str] | None = None
) -> str:
    rule: yb.Doc = {"route": [{"destination": {"host": "httpbin", "subset": "v1"},
                               "weight": 100}]}
    if mirror:
        rule |= {"mirror": {"host": "httpbin", "subset": "v2"},
                 "mirrorPercentage": {"value": 100.0}}
    ports = {v: s.port for v, s in servers.items()}
    return yb.dump(yb.service("httpbin", ports, http=[rule], vs_annotations=annotations))


def curl_headers(c: httpx.Client, n: int) -> list[str]:
    """`curl http://httpbin:8000/headers` n times; returns the request ids used."""
    ids = []
    for _ in range(n):
        rid = str(uuid.uuid4())
        resp = c.get("/headers", headers={"x-request-id": rid})
        assert resp.status_code == 200
        # the client's answer is v1's: httpbin echoes the Host it was sent
        assert resp.json()["headers"]["Host"] == "httpbin:8000"
        ids.append(rid)
    return ids


@pytest.mark.parametrize("args, shadow_host", [
    (SUFFIX_ON, "httpbin-shadow:8000"), (SUFFIX_OFF, "httpbin:8000")], ids=["suffix", "no-suffix"])
def test_httpbin_mirroring_task(
    httpbin: dict[str, HttpbinServer], start_proxy: StartProxy,
    args: tuple[str, ...], shadow_host: str,
) -> None:
    v1, v2 = httpbin["v1"], httpbin["v2"]
    proxy = start_proxy(httpbin_config(httpbin, mirror=False), *args)
    with client(proxy, "httpbin:8000") as c:
        curl_headers(c, 5)
        assert len(v1.wait_lines(5)) == 5
        assert v2.settle() == []  # before the mirror rule only v1 sees traffic

        proxy.write_config(httpbin_config(httpbin, mirror=True))
        proxy.reload()
        for _ in range(100):  # wait until the new rule is in force
            c.get("/status/200")
            if v2.lines():
                break
        assert v2.settle(), f"the mirror rule never took effect:\n{proxy.stderr}"
        v1.clear_log()
        v2.clear_log()

        ids = curl_headers(c, 10)
    primary, shadow = v1.settle(), v2.settle()
    assert [line.request_id for line in primary] == ids
    assert sorted(line.request_id for line in shadow) == sorted(ids)  # each exactly once
    assert {line.host for line in primary} == {"httpbin:8000"}
    assert {line.host for line in shadow} == {shadow_host}
    assert {line.target for line in shadow} == {"/headers"}


def test_suffix_annotation_overrides_the_flag(
    httpbin: dict[str, HttpbinServer], start_proxy: StartProxy
) -> None:
    config = httpbin_config(httpbin, mirror=True,
                            annotations={"shadowmesh.io/shadow-host-suffix": "false"})
    proxy = start_proxy(config, *SUFFIX_ON)
    with client(proxy, "httpbin:8000") as c:
        curl_headers(c, 3)
    assert {line.host for line in httpbin["v2"].wait_lines(3)} == {"httpbin:8000"}


# the session-pinned canary ----------------------------------------------------------------
CANARY_COOKIES = ("SESSIONID=XXX", "user=7; SESSIONID=XXX; theme=dark", "a=1;SESSIONID=XXX")
OTHER_COOKIES = ("SESSIONID=YYY", "SESSIONID=XXXY", "user=7; XSESSIONID=XXX")


def test_session_cookie_canary_is_mirrored_to_a_separate_service(
    backend: Callable[[str], RecordingServer], start_proxy: StartProxy
) -> None:
    ui_v1, ui_v2, shadow = backend("ui-v1"), backend("ui-v2"), backend("mirror")
    docs = [
        yb.service_entry("ui"), *yb.workloads("ui", {"v1": ui_v1.port, "v2": ui_v2.port}),
        yb.destination_rule("ui", ["v1", "v2"]),
        yb.service_entry("mirror", endpoints=[yb.endpoint(shadow.port)]),
        yb.virtual_service("ui", [
            # the tutorial's regex, allowing the space browsers put after ";"
            {"match": [{"headers": {"cookie": {"regex": r"^(.*?;\s?)?(SESSIONID=XXX)(;.*)?$"}}}],
             "route": [{"destination": {"host": "ui", "subset": "v2"}}],
             "mirror": {"host": "mirror"}},
            {"route": [{"destination": {"host": "ui", "subset": "v1"}}]},
        ]),
    ]
    proxy = start_proxy(yb.dump(docs), *SUFFIX_ON)
    with client(proxy, "ui:8000") as c:
        for i in range(10):
            cookie = CANARY_COOKIES[i % len(CANARY_COOKIES)]
            c.get(f"/canary{i}", headers={"cookie": cookie})
            c.get(f"/other{i}", headers={"cookie": OTHER_COOKIES[i % len(OTHER_COOKIES)]})
            c.get(f"/anon{i}")
    assert ui_v2.count() == 10 and ui_v2.count("/canary") == 10
    assert ui_v1.count() == 20 and ui_v1.count("/canary") == 0
    copies = shadow.settle()
    assert sorted(r.target for r in copies) == sorted(f"/canary{i}" for i in range(10))
    for r in copies:
        assert r.header("cookie") == CANARY_COOKIES[int(r.target[len("/canary"):]) % 3]
        assert r.header("host") == "ui-shadow:8000"


# percentages ------------------------------------------------------------------------------
@pytest.mark.parametrize("fields, low, high", [
    ({"mirrorPercentage": {"value": 100.0}}, 400, 400),
    ({"mirrorPercentage": {"value": 50.0}}, 160, 240),  # Istio's own test: 50 +- 10%
    ({"mirrorPercentage": {"value": 10.0}}, 20, 60),  # 10 +- 5%
    ({"mirrorPercentage": {"value": 0.0}}, 0, 0),
    ({}, 400, 400),  # absent = 100%
    ({"mirror_percent": 50}, 160, 240),  # deprecated, snake_case as in old tutorials
    ({"mirrorPercent": 50}, 160, 240),
    ({"mirrorPercentage": {"value": 50.0}, "mirrorPercent": 0}, 160, 240),  # precedence
], ids=["100", "50", "10", "0", "absent", "mirror_percent", "mirrorPercent", "precedence"])
def test_mirror_percentage(mesh: StartMesh, fields: yb.Doc, low: int, high: int) -> None:
    m = mesh(http=mirrored(**fields))
    send(m, 400)
    copies = len(m.backends["v2"].settle())
    assert m.backends["v1"].count() == 400
    assert low <= copies <= high, copies


def test_mirrors_list_with_two_shadows(mesh: StartMesh) -> None:
    m = mesh(["v1", "v2", "v3"], http=[{
        "route": [{"destination": {"host": SVC, "subset": "v1"}}],
        "mirrors": [{"destination": {"host": SVC, "subset": "v2"}},
                    {"destination": {"host": SVC, "subset": "v3"}, "percentage": {"value": 50}}],
    }])
    send(m, 200)
    assert len(m.backends["v2"].settle()) == 200
    assert 70 <= len(m.backends["v3"].settle()) <= 130


def test_mirror_with_explicit_port(
    backend: Callable[[str], RecordingServer], start_proxy: StartProxy
) -> None:
    v1, v2_http, v2_9080 = backend("reviews-v1"), backend("reviews-v2"), backend("reviews-v2-9080")
    se = yb.service_entry("reviews")
    se["spec"]["ports"].append({"number": 9080, "name": "http-9080", "protocol": "HTTP"})
    w1 = yb.workload_entry("reviews-v1", v1.port, {"app": "reviews", "version": "v1"})
    w1["spec"]["ports"]["http-9080"] = v1.port
    w2 = yb.workload_entry("reviews-v2", v2_http.port, {"app": "reviews", "version": "v2"})
    w2["spec"]["ports"]["http-9080"] = v2_9080.port
    vs = yb.virtual_service("reviews", [{
        "route": [{"destination": {"host": "reviews", "subset": "v1", "port": {"number": 8000}}}],
        "mirror": {"host": "reviews", "port": {"number": 9080}, "subset": "v2"},
    }])
    proxy = start_proxy(yb.dump(se, w1, w2, yb.destination_rule("reviews", ["v1", "v2"]), vs))
    with client(proxy, "reviews:8000") as c:
        for i in range(5):
            assert c.get(f"/reviews/{i}").headers["x-backend"] == "reviews-v1"
    assert len(v2_9080.wait_for(5)) == 5
    assert v2_http.settle() == []  # the copy went to port 9080, not the route's 8000


# what the copy carries --------------------------------------------------------------------
def test_copy_is_taken_after_route_processing(mesh: StartMesh) -> None:
    m = mesh(http=[{
        "match": [{"uri": {"prefix": "/old/"}}],
        "rewrite": {"uri": "/new/"},
        "headers": {"request": {"set": {"x-route": "set"}, "remove": ["x-drop"]}},
        "route": [yb.route(SVC, "v1", headers={"request": {"set": {"x-dest": "v1"}}})],
        "mirror": yb.dest(SVC, "v2"),
    }], args=SUFFIX_ON)
    m.get("/old/page?q=1", headers={"x-drop": "1", "x-client": "c"})
    primary = m.backends["v1"].wait_for(1)[0]
    copy = m.backends["v2"].wait_for(1)[0]
    for got in (primary, copy):
        assert got.target == "/new/page?q=1"
        assert got.header("x-route") == "set"
        assert got.header("x-dest") == "v1"  # the chosen destination's header ops too
        assert got.header("x-client") == "c"
        assert "x-drop" not in got.header_names()
    assert primary.header("host") == "svc:8000"
    assert copy.header("host") == "svc-shadow:8000"


def test_copy_carries_the_primary_request_id(mesh: StartMesh) -> None:
    m = mesh(http=mirrored())
    send(m, 5)
    m.get("/chosen", headers={"x-request-id": "client-id-1"})
    primary = {r.target: r.header("x-request-id") for r in m.backends["v1"].snapshot()}
    copies = {r.target: r.header("x-request-id") for r in m.backends["v2"].wait_for(6)}
    assert copies == primary
    assert primary["/chosen"] == "client-id-1"
    assert all(primary.values())


def test_post_bodies_are_mirrored_byte_for_byte(mesh: StartMesh) -> None:
    m = mesh(http=mirrored())
    bodies = [pattern(300_000, 3), b"", b"\x00\r\n\r\n0\r\n" * 100, pattern(1000)]
    for i, body in enumerate(bodies):
        m.request("POST", f"/post{i}", content=body, headers={"content-type": "app/bin"})
    copies = {r.target: r for r in m.backends["v2"].wait_for(len(bodies))}
    primaries = {r.target: r for r in m.backends["v1"].snapshot()}
    for i, body in enumerate(bodies):
        assert primaries[f"/post{i}"].body == body
        assert copies[f"/post{i}"].body == body
        assert copies[f"/post{i}"].method == "POST"
        assert copies[f"/post{i}"].header("content-type") == "app/bin"


def test_body_over_the_mirror_limit_is_skipped_and_counted(mesh: StartMesh) -> None:
    m = mesh(http=mirrored())
    skipped = {"reason": "body_too_large"}
    before = m.proxy.metric("shadowmesh_mirror_skipped_total", skipped)
    big = pattern(2 * 1024 * 1024)
    resp = m.request("POST", "/big", content=big)
    assert resp.status_code == 200
    assert m.backends["v1"].snapshot()[-1].body == big  # the primary is unaffected
    m.request("POST", "/small", content=pattern(512 * 1024))
    copies = m.backends["v2"].settle()
    assert [r.target for r in copies] == ["/small"]
    assert m.proxy.metric("shadowmesh_mirror_skipped_total", skipped) == before + 1


def test_shadow_answers_never_reach_the_client(mesh: StartMesh) -> None:
    m = mesh(http=mirrored())
    m.backends["v2"].set_default(Behavior(status=500, body=b"shadow broke",
                                          headers=[("set-cookie", "shadow=1")]))
    for i in range(10):
        resp = m.get(f"/r{i}")
        assert (resp.status_code, resp.text) == (200, "v1")
        assert "set-cookie" not in resp.headers
    assert len(m.backends["v2"].wait_for(10)) == 10


def test_failed_copies_are_not_retried(mesh: StartMesh) -> None:
    m = mesh(http=mirrored(retries={"attempts": 3, "retryOn": "5xx"}))
    m.backends["v2"].set_default(Behavior(status=503))
    send(m, 5)
    assert len(m.backends["v2"].settle()) == 5


# rules that never mirror ------------------------------------------------------------------
def test_redirect_and_direct_response_rules_never_mirror(mesh: StartMesh) -> None:
    shadow = yb.dest(SVC, "v2")
    m = mesh(http=[
        {"match": [{"uri": {"prefix": "/redir"}}], "redirect": {"uri": "/x"}, "mirror": shadow},
        {"match": [{"uri": {"prefix": "/direct"}}],
         "directResponse": {"status": 200, "body": {"string": "ok"}}, "mirror": shadow},
        yb.to(SVC, "v1", mirror=shadow),
    ])
    for i in range(5):
        assert m.get(f"/redir{i}").status_code == 301
        assert m.get(f"/direct{i}").text == "ok"
    m.get("/forwarded")  # proves the mirror works at all
    copies = m.backends["v2"].settle()
    assert [r.target for r in copies] == ["/forwarded"]


def test_fault_abort_means_no_mirror_and_delay_mirrors_after_it(mesh: StartMesh) -> None:
    m = mesh(http=[
        yb.to(SVC, "v1", match=[{"uri": {"prefix": "/abort"}}], mirror=yb.dest(SVC, "v2"),
              fault={"abort": {"httpStatus": 503, "percentage": {"value": 100}}}),
        yb.to(SVC, "v1", mirror=yb.dest(SVC, "v2"),
              fault={"delay": {"fixedDelay": "0.3s", "percentage": {"value": 100}}}),
    ])
    for i in range(5):
        assert m.get(f"/abort{i}").status_code == 503
    m.get("/delayed")
    copies = m.backends["v2"].settle()
    assert [r.target for r in copies] == ["/delayed"]
    assert m.backends["v1"].count() == 1


# beyond Istio: shadowmesh's annotations ---------------------------------------------------
def test_copy_header_rewrite_and_method_guard(mesh: StartMesh) -> None:
    m = mesh(http=mirrored(), vs_annotations={
        "shadowmesh.io/mirror-set-headers": "x-shadow=1",
        "shadowmesh.io/mirror-methods": "GET,HEAD",
    })
    m.get("/read")
    m.request("POST", "/write", content=b"side effect")
    copies = m.backends["v2"].settle()
    assert [r.target for r in copies] == ["/read"]
    assert copies[0].header("x-shadow") == "1"
    assert "x-shadow" not in m.backends["v1"].snapshot()[0].header_names()
