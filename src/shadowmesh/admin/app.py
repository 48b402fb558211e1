"""The admin API as a Starlette app: health, metrics, config, resources, logs, graph.

Every handler reads through `ControlPlaneAPI`; writes pass the `WriteGuard` first. Errors
answer JSON `{"error": <reason>, "message": <what to do>}` with kubectl's wording where
kubectl has one, and a rejected apply answers 422 with Istio's validation messages.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from shadowmesh.admin.compare_api import compare_metrics, compare_routes
from shadowmesh.admin.contract import ApplyResult, ControlPlaneAPI
from shadowmesh.admin.dashboard import dashboard_routes
from shadowmesh.admin.guard import WriteGuard
from shadowmesh.admin.kinds import KindInfo, UnknownKind, resolve_kind
from shadowmesh.admin.openapi import OPENAPI
from shadowmesh.admin.serialize import apply_result_to_dict, resource_to_dict
from shadowmesh.telemetry.graph import build_graph
from shadowmesh.telemetry.logquery import parse_duration, select_logs
from shadowmesh.telemetry.prometheus import CONTENT_TYPE, render_metrics
from shadowmesh.telemetry.snapshot import TelemetrySnapshot, merge_snapshots

if TYPE_CHECKING:
    from shadowmesh.config import Resource

MAX_GRAPH_WINDOW_S = 15 * 60.0


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def _error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse({"error": exc.reason, "message": exc.message}, status_code=exc.status)


class AgeTracker:
    """When each resource was first seen, for kubectl's AGE column: the control plane keeps
    no timestamps, and a resource replaced by apply keeps its age, as in Kubernetes."""

    def __init__(self) -> None:
        self._first_seen: dict[tuple[str, str, str], float] = {}

    def observe(self, resources: list[Resource]) -> dict[tuple[str, str, str], float]:
        now = time.time()
        keys = {(r.kind, r.metadata.namespace, r.metadata.name) for r in resources}
        for gone in self._first_seen.keys() - keys:
            del self._first_seen[gone]
        for key in keys:
            self._first_seen.setdefault(key, now)
        return self._first_seen


def _kind(name: str) -> KindInfo:
    try:
        return resolve_kind(name)
    except UnknownKind as exc:
        raise ApiError(400, "BadRequest", str(exc)) from exc


def _query_duration(request: Request, name: str) -> float | None:
    text = request.query_params.get(name)
    if not text:
        return None
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"{name}: {exc}") from exc
    if value <= 0:
        raise ApiError(400, "BadRequest", f"{name} must be positive")
    return value


def _query_number(request: Request, name: str, kind: type[int] | type[float]) -> float | None:
    text = request.query_params.get(name)
    if not text:
        return None
    try:
        return kind(text)
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"{name} must be a number, not {text!r}") from exc


class AdminHandlers:
    def __init__(self, control: ControlPlaneAPI, guard: WriteGuard) -> None:
        self.control = control
        self.guard = guard
        self.ages = AgeTracker()
        self.ages.observe(control.resources())

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def ready(self, request: Request) -> Response:
        if self.control.ready:
            return PlainTextResponse("ready")
        return PlainTextResponse("not ready", status_code=503)

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(OPENAPI)

    async def _snapshot(self) -> TelemetrySnapshot:
        return merge_snapshots(await self.control.telemetry_snapshots())

    async def metrics(self, request: Request) -> Response:
        snapshot = await self._snapshot()
        body = render_metrics(snapshot, self.control.reload_counts())
        body += await compare_metrics(self.control)
        return Response(body, media_type=CONTENT_TYPE)

    async def config_dump(self, request: Request) -> Response:
        return JSONResponse(self.control.config_dump())

    # -- resources -----------------------------------------------------------------------

    def _items(self, kind: KindInfo | None, namespace: str | None) -> list[dict[str, Any]]:
        resources = self.control.resources()
        ages = self.ages.observe(resources)
        selected = [
            r
            for r in resources
            if (kind is None or r.kind == kind.kind)
            and (namespace is None or r.metadata.namespace == namespace)
        ]
        selected.sort(key=lambda r: (r.kind, r.metadata.namespace, r.metadata.name))
        return [
            resource_to_dict(r, ages.get((r.kind, r.metadata.namespace, r.metadata.name)))
            for r in selected
        ]

    async def list_resources(self, request: Request) -> Response:
        kind_name = request.query_params.get("kind")
        kind = _kind(kind_name) if kind_name else None
        items = self._items(kind, request.query_params.get("namespace") or None)
        return JSONResponse({"apiVersion": "v1", "kind": "List", "items": items})

    def _one(self, request: Request) -> tuple[KindInfo, str, str, dict[str, Any]]:
        kind = _kind(request.path_params["kind"])
        namespace = request.path_params["namespace"]
        name = request.path_params["name"]
        for item in self._items(kind, namespace):
            if item["metadata"]["name"] == name:
                return kind, namespace, name, item
        raise ApiError(404, "NotFound", f'{kind.plural}.networking.istio.io "{name}" not found')

    async def get_resource(self, request: Request) -> Response:
        return JSONResponse(self._one(request)[3])

    def _check_write(self, request: Request) -> None:
        refusal = self.guard.refusal(request.headers.get("authorization"))
        if refusal is not None:
            raise ApiError(403, "Forbidden", refusal)

    def _answer(self, result: ApplyResult) -> Response:
        body = apply_result_to_dict(result)
        if result.ok:
            return JSONResponse(body)
        errors = [i["message"] for i in body["issues"] if i["level"] == "error"]
        body["error"] = "Invalid"
        body["message"] = "; ".join(errors) or "rejected"
        return JSONResponse(body, status_code=422)

    async def apply(self, request: Request) -> Response:
        self._check_write(request)
        raw = await request.body()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError(400, "BadRequest", "the body must be UTF-8 YAML or JSON") from exc
        if not text.strip():
            raise ApiError(400, "BadRequest", "no objects passed to apply: the body is empty")
        source = request.query_params.get("source") or "<admin api>"
        result = self.control.apply_text(text, source)
        self.ages.observe(self.control.resources())
        return self._answer(result)

    async def delete_resource(self, request: Request) -> Response:
        self._check_write(request)
        kind, namespace, name, _ = self._one(request)
        result = self.control.delete(kind.kind, namespace, name)
        self.ages.observe(self.control.resources())
        return self._answer(result)

    # -- telemetry -----------------------------------------------------------------------

    async def logs(self, request: Request) -> Response:
        since = _query_duration(request, "since")
        tail = _query_number(request, "tail", int)
        after = _query_number(request, "after", float)
        workload = request.query_params.get("workload") or None
        snapshots = await self.control.telemetry_snapshots()
        # Every worker's lines up to its own snapshot time are in its snapshot, so up to the
        # earliest of those times the merged view is complete: that is the cursor.
        # (A worker that could not answer sends an empty snapshot, taken_at 0: not counted.)
        now = min((s.taken_at for s in snapshots if s.taken_at), default=time.time())
        snapshot = merge_snapshots(snapshots)
        selection = select_logs(
            snapshot,
            workload=workload,
            now=now,
            since=since,
            tail=None if tail is None else int(tail),
            after=after,
        )
        return JSONResponse(
            {
                "workload": workload,
                "lines": selection.lines,
                "cursor": selection.cursor,
                "workloads": sorted(snapshot.logs),
            }
        )

    async def graph(self, request: Request) -> Response:
        window = _query_duration(request, "window") or 60.0
        window = min(window, MAX_GRAPH_WINDOW_S)
        return JSONResponse(build_graph(await self._snapshot(), window))


def build_app(control: ControlPlaneAPI, guard: WriteGuard) -> Starlette:
    h = AdminHandlers(control, guard)
    one = "/api/v1/resources/{kind}/{namespace}/{name}"
    routes = [
        Route("/healthz", h.healthz, methods=["GET"]),
        Route("/ready", h.ready, methods=["GET"]),
        Route("/metrics", h.metrics, methods=["GET"]),
        Route("/config_dump", h.config_dump, methods=["GET"]),
        Route("/openapi.json", h.openapi, methods=["GET"]),
        Route("/api/v1/resources", h.list_resources, methods=["GET"]),
        Route("/api/v1/resources", h.apply, methods=["POST", "PUT"]),
        Route(one, h.get_resource, methods=["GET"]),
        Route(one, h.delete_resource, methods=["DELETE"]),
        Route("/api/v1/logs", h.logs, methods=["GET"]),
        Route("/api/v1/graph", h.graph, methods=["GET"]),
        *dashboard_routes(control),
        *compare_routes(control, guard),
    ]
    return Starlette(routes=routes, exception_handlers={ApiError: _error_response})
