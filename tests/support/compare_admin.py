"""A stand-in admin server for the comparison surfaces: the real dashboard page and files, and
fixed COMPARE-API.md documents (tests/support/compare_documents.py) where the comparison
engine would answer. It records what is POSTed to /api/v1/resources and, like the engine,
stops reporting a field once the Comparison ignores it.

Honest for what it tests: the page and `collect_report` only consume that JSON contract.
Where the page talks to the admin itself, the stand-in holds it to the real admin's rules:
writes pass `admin.guard`'s same-origin and media-type checks (403, 415), and every request
is paced by `admin.pacing` with the admin's default settings.
"""

from __future__ import annotations

import copy
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tests.admin.double import FakeControlPlane
from tests.support import compare_documents as docs

from shadowmesh.admin.dashboard import dashboard_routes
from shadowmesh.admin.guard import SameOrigin, content_type_refusal
from shadowmesh.admin.pacing import Pacer
from shadowmesh.admin.settings import AdminSettings
from shadowmesh.telemetry.snapshot import TelemetrySnapshot

SVC = docs.SVC

GRAPH: dict[str, Any] = {
    "timestamp": 0,
    "duration": 60.0,
    "graphType": "workload",
    "nodes": [
        {"id": "service:default:httpbin", "nodeType": "service", "service": "httpbin",
         "fqdn": SVC, "namespace": "default"},
        {"id": "unknown", "nodeType": "unknown", "namespace": "unknown", "isRoot": True},
        {"id": "workload:default:httpbin-v1", "nodeType": "workload", "workload": "httpbin-v1",
         "version": "v1", "service": "httpbin", "namespace": "default"},
        {"id": "workload:default:httpbin-v2", "nodeType": "workload", "workload": "httpbin-v2",
         "version": "v2", "service": "httpbin", "namespace": "default"},
    ],
    "edges": [
        {"id": f"{s}->{t}{' (mirror)' if m else ''}", "source": s, "target": t, "isMirror": m,
         "traffic": {"protocol": "http", "rates": {"http": 6.0, "httpPercentErr": 0.0},
                     "responses": {"200": {"flags": {"-": 100.0}}}},
         "requests": 360, "responseTime": 4.0}
        for s, t, m in [
            ("unknown", "service:default:httpbin", False),
            ("service:default:httpbin", "workload:default:httpbin-v1", False),
            ("service:default:httpbin", "workload:default:httpbin-v2", True),
        ]
    ],
}  # fmt: skip

DESTINATION_RULE: dict[str, Any] = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "DestinationRule",
    "metadata": {"name": "httpbin", "namespace": "default"},
    "spec": {"host": "httpbin", "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                            {"name": "v2", "labels": {"version": "v2"}}]},
}  # fmt: skip

MIRROR_VS: dict[str, Any] = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {"name": "httpbin", "namespace": "default"},
    "spec": {
        "hosts": ["httpbin"],
        "http": [{"route": [{"destination": {"host": "httpbin", "subset": "v1"}, "weight": 100}],
                  "mirror": {"host": "httpbin", "subset": "v2"},
                  "mirrorPercentage": {"value": 100}}],
    },
}  # fmt: skip


@dataclass
class Posted:
    content_type: str
    origin: str | None
    body: str


@dataclass
class CompareAdmin:
    """The server's state: what it serves and what it was sent."""

    with_comparison: bool = True
    engine: bool = True
    posted: list[Posted] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.resources = [copy.deepcopy(DESTINATION_RULE), copy.deepcopy(MIRROR_VS)]
        if self.with_comparison:
            self.resources.append(copy.deepcopy(docs.COMPARISON_RESOURCE))

    def comparison(self) -> dict[str, Any] | None:
        return next((r for r in self.resources if r["kind"] == "Comparison"), None)

    def ignored(self) -> tuple[set[str], set[str]]:
        c = self.comparison()
        ignore = (c or {}).get("spec", {}).get("ignore", {})
        fields = set(ignore.get("fields", []))
        headers = {f"header:{h.lower()}" for h in ignore.get("headers", [])}
        return fields, headers

    def fields(self, endpoint: str) -> list[dict[str, Any]]:
        fields, headers = self.ignored()
        return [f for f in docs.FIELDS.get(endpoint, []) if f["path"] not in fields | headers]

    # -- routes --------------------------------------------------------------------------
    def app(self) -> Pacer:
        control = FakeControlPlane()
        settings = AdminSettings()
        same_origin = SameOrigin.with_names(settings.allowed_hosts)

        async def snapshot() -> TelemetrySnapshot:
            return control.telemetry.snapshot()

        def write_refusal(request: Request) -> Response | None:
            """The admin's own checks on a write (admin/app.py: `_check_write`, 415)."""
            headers, server = request.headers, request.scope.get("server")
            refusal = same_origin.refusal(
                headers.get("host"), headers.get("origin"), headers.get("sec-fetch-site"),
                (str(server[0]), int(server[1])) if server and server[1] is not None else None,
            )  # fmt: skip
            if refusal is not None:
                return JSONResponse({"error": "Forbidden", "message": refusal}, status_code=403)
            wrong_type = content_type_refusal(headers.get("content-type"))
            if wrong_type is not None:
                return JSONResponse({"error": "UnsupportedMediaType", "message": wrong_type},
                                    status_code=415)  # fmt: skip
            return None

        def need_engine() -> Response | None:
            """A server without the comparison engine has no such route: 404."""
            if not self.engine:
                return JSONResponse({"message": "Not Found"}, status_code=404)
            return None

        async def comparisons(request: Request) -> Response:
            missing = need_engine()
            if missing:
                return missing
            items = [docs.SUMMARY] if self.comparison() is not None else []
            return JSONResponse({"comparisons": items})

        async def one(request: Request) -> Response:
            missing = need_engine()
            if missing:
                return missing
            p = request.path_params
            if (p["namespace"], p["name"]) != (docs.NAMESPACE, docs.NAME):
                return JSONResponse({"message": "no such comparison"}, status_code=404)
            endpoint = request.query_params.get("endpoint", "")
            what = p["what"]
            if what == "fields":
                return JSONResponse({"fields": self.fields(endpoint)})
            if what == "latency":
                return JSONResponse(docs.LATENCY[endpoint])
            if what == "samples":
                path = request.query_params.get("path")
                samples = [
                    s for s in docs.SAMPLES.get(endpoint, [])
                    if path is None or any(d["path"] == path for d in s["differences"])
                ]  # fmt: skip
                return JSONResponse({"samples": samples})
            return JSONResponse({"message": "Not Found"}, status_code=404)

        async def list_resources(request: Request) -> Response:
            return JSONResponse({"items": self.resources})

        async def apply(request: Request) -> Response:
            refused = write_refusal(request)
            if refused is not None:
                return refused
            text = (await request.body()).decode("utf-8")
            headers = request.headers
            self.posted.append(Posted(headers.get("content-type", ""), headers.get("origin"), text))
            doc = yaml.safe_load(text)
            key = (doc["kind"], doc["metadata"].get("namespace", "default"),
                   doc["metadata"]["name"])  # fmt: skip
            known = [
                i for i, r in enumerate(self.resources)
                if (r["kind"], r["metadata"].get("namespace", "default"), r["metadata"]["name"])
                == key
            ]  # fmt: skip
            verb = "configured" if known else "created"
            if known:
                self.resources[known[0]] = doc
            else:
                self.resources.append(doc)
            group = "shadowmesh.io" if doc["kind"] == "Comparison" else "networking.istio.io"
            changed = f"{doc['kind'].lower()}.{group}/{key[2]} {verb}"
            return JSONResponse({"ok": True, "changed": [changed], "issues": []})

        async def graph(request: Request) -> Response:
            return JSONResponse(GRAPH)

        async def logs(request: Request) -> Response:
            return JSONResponse({"workload": None, "lines": [], "cursor": 0, "workloads": []})

        app = Starlette(
            routes=[
                Route("/api/v1/comparisons", comparisons, methods=["GET"]),
                Route("/api/v1/comparisons/{namespace}/{name}/{what}", one, methods=["GET"]),
                Route("/api/v1/resources", list_resources, methods=["GET"]),
                Route("/api/v1/resources", apply, methods=["POST"]),
                Route("/api/v1/graph", graph, methods=["GET"]),
                Route("/api/v1/logs", logs, methods=["GET"]),
                *dashboard_routes(snapshot),
            ]
        )
        return Pacer(app, settings.rate, settings.burst, settings.max_wait, settings.health_rate)


class CompareAdminServer:
    """`CompareAdmin` served by uvicorn on 127.0.0.1 (port 0) in a thread."""

    def __init__(self, state: CompareAdmin) -> None:
        self.state = state
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(state.app(), log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> CompareAdminServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the stand-in admin server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
