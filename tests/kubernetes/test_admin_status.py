"""The admin API's view of the Kubernetes source: /api/v1/kubernetes, its metrics, and
`shadowmesh get kubernetes`'s table."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from shadowmesh.admin.app import build_app
from shadowmesh.admin.guard import WriteGuard
from shadowmesh.admin.printers import kubernetes_status
from shadowmesh.controlplane import ControlPlane
from shadowmesh.kubernetes.metrics import KubeMetrics
from shadowmesh.routing.compile import CompileOptions

STATUS: dict[str, Any] = {
    "synced": True, "namespace": "default", "services": 1, "endpoints": 2,
    "pushes": {"ok": 3, "rejected": 1}, "lastEventToTableSeconds": 0.112,
    "lastBuildSeconds": 0.01,
    "watches": [{"resource": "virtualservices.networking.istio.io", "version": "v1",
                 "resource_version": "1042", "state": "watching", "events": 7, "relists": 1,
                 "errors": 0, "last_error": ""}],
    "rejected": [{"kind": "VirtualService", "namespace": "default", "name": "httpbin",
                  "issues": [{"level": "error", "message": "weight -1 < 0",
                              "path": "spec.http[0].route[0].weight", "text": "..."}]}],
}


class FakeSource:
    def __init__(self) -> None:
        self.metrics = KubeMetrics()
        self.metrics.rejections.labels("VirtualService").inc()

    def status(self) -> dict[str, Any]:
        return STATUS


def _get(source: FakeSource | None, *paths: str) -> list[httpx.Response]:
    control = ControlPlane([], CompileOptions())
    control.load_files()
    control.kubernetes = source
    app = build_app(control, WriteGuard(loopback=True))

    async def fetch() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
            return [await client.get(path) for path in paths]

    return asyncio.run(fetch())


def test_status_and_metrics_when_watching() -> None:
    status, metrics = _get(FakeSource(), "/api/v1/kubernetes", "/metrics")
    assert status.json() == STATUS
    assert 'shadowmesh_kubernetes_rejections_total{kind="VirtualService"} 1.0' in metrics.text
    assert "shadowmesh_config_reloads_total" in metrics.text  # the usual families stay


def test_not_watching_is_a_404_with_a_reason() -> None:
    status, metrics = _get(None, "/api/v1/kubernetes", "/metrics")
    assert status.status_code == 404
    assert "run --kubernetes" in status.json()["message"]
    assert "shadowmesh_kubernetes" not in metrics.text


def test_the_table_names_each_watch_and_each_rejection() -> None:
    text = kubernetes_status(STATUS)
    lines = text.splitlines()
    assert lines[0].split() == ["RESOURCE", "VERSION", "RESOURCEVERSION", "STATE", "EVENTS",
                                "RELISTS", "ERRORS", "LAST", "ERROR"]
    assert lines[1].split()[:4] == ["virtualservices.networking.istio.io", "v1", "1042",
                                    "watching"]
    assert "pushes: 3 ok, 1 rejected" in text and "last event-to-table: 112ms" in text
    assert "  VirtualService default/httpbin:" in lines
    assert "    spec.http[0].route[0].weight: weight -1 < 0" in lines
