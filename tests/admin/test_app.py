"""The admin API over a real socket (start_admin on 127.0.0.1:0 in the test's loop),
against the in-memory control plane double."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.admin.double import FakeControlPlane
from tests.telemetry.records import primary, shadow

from shadowmesh.admin.server import AdminServer, start_admin

pytestmark = pytest.mark.anyio

VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: [httpbin]
  http:
  - route: [{destination: {host: httpbin, subset: v1}}]
"""
DR = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: httpbin
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
"""
MIRROR_101 = VS + "    mirror: {host: httpbin, subset: v2}\n    mirrorPercentage: {value: 101}\n"


@asynccontextmanager
async def admin(
    control: FakeControlPlane, token: str | None = None
) -> AsyncIterator[tuple[AdminServer, httpx.AsyncClient]]:
    server = await start_admin(control, "127.0.0.1", 0, token)  # type: ignore[arg-type]
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10,
                                     headers={"Content-Type": "application/yaml"}) as client:
            yield server, client
    finally:
        await server.stop()


@pytest.fixture(autouse=True)
def no_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHADOWMESH_ADMIN_TOKEN", raising=False)


async def test_health_ready_and_openapi() -> None:
    control = FakeControlPlane()
    async with admin(control) as (server, client):
        assert server.port > 0
        assert (await client.get("/healthz")).text == "ok"
        assert (await client.get("/ready")).status_code == 200
        control.is_ready = False
        assert (await client.get("/ready")).status_code == 503
        spec = (await client.get("/openapi.json")).json()
        assert spec["openapi"].startswith("3.")
        assert set(spec["paths"]) >= {
            "/healthz", "/ready", "/metrics", "/config_dump", "/api/v1/resources",
            "/api/v1/resources/{kind}/{namespace}/{name}", "/api/v1/logs", "/api/v1/graph",
        }  # fmt: skip
        assert set(spec["paths"]["/api/v1/resources"]) == {"get", "post", "put"}


async def test_apply_get_list_delete_round_trip() -> None:
    control = FakeControlPlane()
    async with admin(control) as (_, client):
        answer = await client.post("/api/v1/resources", content=VS + "---\n" + DR,
                                   params={"source": "httpbin.yaml"})  # fmt: skip
        assert answer.status_code == 200
        assert answer.json()["changed"] == [
            "virtualservice.networking.istio.io/httpbin created",
            "destinationrule.networking.istio.io/httpbin created",
        ]
        assert control.applied_sources == ["httpbin.yaml"]
        again = await client.put("/api/v1/resources", content=VS)
        assert again.json()["changed"] == ["virtualservice.networking.istio.io/httpbin unchanged"]

        listing = (await client.get("/api/v1/resources")).json()
        assert listing["kind"] == "List"
        assert [i["kind"] for i in listing["items"]] == ["DestinationRule", "VirtualService"]
        only_vs = (await client.get("/api/v1/resources", params={"kind": "vs"})).json()
        (vs,) = only_vs["items"]
        assert vs["apiVersion"] == "networking.istio.io/v1"
        assert vs["metadata"]["name"] == "httpbin"
        assert vs["metadata"]["namespace"] == "default"
        assert vs["metadata"]["creationTimestamp"].endswith("Z")
        assert vs["spec"]["hosts"] == ["httpbin"]
        other_ns = await client.get("/api/v1/resources", params={"namespace": "prod"})
        assert other_ns.json()["items"] == []

        one = await client.get("/api/v1/resources/virtualservices/default/httpbin")
        assert one.status_code == 200 and one.json() == vs
        by_short = await client.get("/api/v1/resources/dr/default/httpbin")
        assert by_short.json()["spec"]["host"] == "httpbin"

        deleted = await client.delete("/api/v1/resources/vs/default/httpbin")
        assert deleted.status_code == 200
        assert deleted.json()["changed"] == ["virtualservice.networking.istio.io/httpbin deleted"]
        gone = await client.get("/api/v1/resources/vs/default/httpbin")
        assert gone.status_code == 404
        assert gone.json() == {
            "error": "NotFound",
            "message": 'virtualservices.networking.istio.io "httpbin" not found',
        }
        assert (await client.delete("/api/v1/resources/vs/default/httpbin")).status_code == 404


async def test_a_rejected_apply_answers_422_with_istios_messages_and_changes_nothing() -> None:
    control = FakeControlPlane()
    async with admin(control) as (_, client):
        await client.post("/api/v1/resources", content=VS)
        before = (await client.get("/api/v1/resources/vs/default/httpbin")).json()
        answer = await client.post("/api/v1/resources", content=MIRROR_101 + "---\n" + DR)
        assert answer.status_code == 422
        body = answer.json()
        assert body["ok"] is False and body["changed"] == []
        (issue,) = body["issues"]
        assert issue["level"] == "error"
        assert (
            issue["message"] == "mirror_percentage must have a max value of 100 (it has 101.000000)"
        )
        assert issue["path"] == "spec.http[0].mirrorPercentage.value"
        assert issue["document"] == "VirtualService default/httpbin"
        assert "mirror_percentage must have a max value of 100" in body["message"]
        after = (await client.get("/api/v1/resources/vs/default/httpbin")).json()
        assert after == before
        assert (await client.get("/api/v1/resources/dr/default/httpbin")).status_code == 404


async def test_warnings_come_back_with_a_successful_apply() -> None:
    async with admin(FakeControlPlane()) as (_, client):
        body = (
            await client.post("/api/v1/resources", content=VS + "    mirrorPercent: 50\n")
        ).json()
        assert body["ok"] is True
        assert [i["level"] for i in body["issues"]] == ["warning"]
        assert "deprecated" in body["issues"][0]["text"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/resources?kind=deployment", None),
        ("GET", "/api/v1/resources/pods/default/x", None),
        ("POST", "/api/v1/resources", ""),
        ("POST", "/api/v1/resources", b"\xff\xfe"),
        ("GET", "/api/v1/logs?since=forever", None),
        ("GET", "/api/v1/logs?tail=many", None),
        ("GET", "/api/v1/graph?window=-5s", None),
    ],
)
async def test_bad_requests_answer_400_with_a_message(
    method: str, path: str, body: str | bytes | None
) -> None:
    async with admin(FakeControlPlane()) as (_, client):
        answer = await client.request(method, path, content=body)
        assert answer.status_code == 400
        assert answer.json()["error"] == "BadRequest" and answer.json()["message"]


async def test_a_token_is_required_for_writes_once_configured() -> None:
    control = FakeControlPlane()
    async with admin(control, token="s3cret") as (_, client):
        refused = await client.post("/api/v1/resources", content=VS)
        assert refused.status_code == 403
        assert "Authorization: Bearer" in refused.json()["message"]
        wrong = await client.post(
            "/api/v1/resources", content=VS, headers={"Authorization": "Bearer nope"}
        )
        assert wrong.status_code == 403
        assert control.store == {}
        ok = await client.post(
            "/api/v1/resources", content=VS, headers={"Authorization": "Bearer s3cret"}
        )
        assert ok.status_code == 200
        delete = await client.delete("/api/v1/resources/vs/default/httpbin")
        assert delete.status_code == 403
        # reads stay open
        assert (await client.get("/api/v1/resources")).status_code == 200


async def test_the_token_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHADOWMESH_ADMIN_TOKEN", "from-env")
    async with admin(FakeControlPlane()) as (_, client):
        assert (await client.post("/api/v1/resources", content=VS)).status_code == 403
        answer = await client.post(
            "/api/v1/resources", content=VS, headers={"Authorization": "Bearer from-env"}
        )
        assert answer.status_code == 200


async def test_metrics_are_merged_from_every_worker() -> None:
    control = FakeControlPlane()
    for _ in range(3):
        control.telemetry.on_request(primary())
        control.telemetry.on_request(shadow())
    control.apply_text(MIRROR_101, "x")  # one rejected reload
    async with admin(control) as (_, client):
        answer = await client.get("/metrics")
        assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        values = {
            (s.name, s.labels.get("shadow"), s.labels.get("outcome"), s.labels.get("result")):
                s.value
            for family in text_string_to_metric_families(answer.text)
            for s in family.samples
        }  # fmt: skip
        # the double reports two workers with the same traffic: counts double
        assert values[("istio_requests_total", "false", None, None)] == 6
        assert values[("istio_requests_total", "true", None, None)] == 6
        assert values[("shadowmesh_mirror_requests_total", None, "sent", None)] == 6
        assert values[("shadowmesh_config_reloads_total", None, None, "rejected")] == 1


async def test_config_dump() -> None:
    control = FakeControlPlane()
    control.apply_text(VS, "x")
    async with admin(control) as (_, client):
        assert (await client.get("/config_dump")).json()["resources"] == 1


async def test_logs_since_tail_and_cursor() -> None:
    control = FakeControlPlane()
    control.telemetry.on_request(primary(request_id="one"))
    control.telemetry.on_request(shadow(request_id="one"))
    async with admin(control) as (_, client):
        body = (await client.get("/api/v1/logs", params={"workload": "httpbin-v2"})).json()
        # two workers in the double: each line appears once per worker
        assert len(body["lines"]) == 2 and '"httpbin-shadow:8000"' in body["lines"][0]
        assert body["workloads"] == ["httpbin-v1", "httpbin-v2"]
        tail = await client.get("/api/v1/logs", params={"workload": "httpbin-v1", "tail": 1})
        assert len(tail.json()["lines"]) == 1
        recent = await client.get("/api/v1/logs", params={"workload": "httpbin-v1", "since": "1m"})
        assert len(recent.json()["lines"]) == 2
        newer = await client.get(
            "/api/v1/logs", params={"workload": "httpbin-v1", "after": body["cursor"]}
        )
        assert newer.json()["lines"] == []
        control.telemetry.on_request(primary(request_id="two"))
        newer = await client.get(
            "/api/v1/logs", params={"workload": "httpbin-v1", "after": body["cursor"]}
        )
        assert [('"two"' in line) for line in newer.json()["lines"]] == [True, True]


async def test_graph_with_mirror_edges() -> None:
    import time

    control = FakeControlPlane()
    now = time.time()
    control.telemetry.on_request(primary(start_time=now))
    control.telemetry.on_request(shadow(start_time=now))
    async with admin(control) as (_, client):
        graph = (await client.get("/api/v1/graph", params={"window": "30s"})).json()
        assert graph["duration"] == 30
        mirror_edges = [e for e in graph["edges"] if e["isMirror"]]
        assert {e["target"] for e in mirror_edges} == {
            "service:default:httpbin",
            "workload:default:httpbin-v2",
        }
        assert all(e["traffic"]["rates"]["http"] == round(2 / 30, 3) for e in mirror_edges)


async def test_stop_is_clean_and_frees_the_port() -> None:
    control = FakeControlPlane()
    server = await start_admin(control, "127.0.0.1", 0, None)  # type: ignore[arg-type]
    port = server.port
    await server.stop()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/healthz")
    # and a busy port is an OSError from start_admin itself
    other = await start_admin(control, "127.0.0.1", 0, None)  # type: ignore[arg-type]
    try:
        with pytest.raises(OSError):
            await start_admin(control, "127.0.0.1", other.port, None)  # type: ignore[arg-type]
    finally:
        await other.stop()


async def test_without_the_comparison_engine_its_routes_are_not_found() -> None:
    """A process that does not compare answers 404 there, as a server without the engine
    does: the dashboard's Compare view and the demo read that as "does not compare"."""
    async with admin(FakeControlPlane()) as (_, client):
        for path in ("/api/v1/comparisons", "/api/v1/comparisons/default/httpbin/fields"):
            answer = await client.get(path)
            assert answer.status_code == 404, path
            assert answer.json()["message"] == "comparison is not running in this process"
