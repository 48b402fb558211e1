"""The admin API as a Starlette app: health, metrics, config, resources, logs, graph.

Every handler reads through `ControlPlaneAPI`; writes pass the same-origin rules and the
`WriteGuard` first (403), must declare a configuration media type (415), and a body larger
than the limit is refused before it is read (413) or parsed (400 when it nests too deep).
Parsing, validating and compiling a new set run on a worker thread, never on the thread that
serves the admin, and never on the traffic loop. Telemetry comes from a `SnapshotBroker`, so
scrapes share collections. Errors answer JSON `{"error": <reason>, "message": <what to do>}`
with kubectl's wording where kubectl has one, and a rejected apply answers 422 with Istio's
validation messages.

The route table is `build_app`'s list: a new route module contributes `Route`s to it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from shadowmesh.admin.bounded import ShapeError
from shadowmesh.admin.compare_api import compare_metrics, compare_routes
from shadowmesh.admin.contract import ApplyResult, ControlPlaneAPI
from shadowmesh.admin.dashboard import dashboard_routes
from shadowmesh.admin.guard import SameOrigin, WriteGuard, content_type_refusal
from shadowmesh.admin.kinds import KindInfo, UnknownKind, resolve_kind
from shadowmesh.admin.openapi import OPENAPI
from shadowmesh.admin.pacing import Pacer
from shadowmesh.admin.serialize import apply_result_to_dict, resource_to_dict
from shadowmesh.admin.settings import AdminSettings
from shadowmesh.admin.snapshots import SnapshotBroker
from shadowmesh.proxy.tasks import HealthRegistry, process_health
from shadowmesh.telemetry.graph import build_graph
from shadowmesh.telemetry.logquery import parse_duration, select_logs
from shadowmesh.telemetry.prometheus import CONTENT_TYPE
from shadowmesh.telemetry.snapshot import TelemetrySnapshot

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from shadowmesh.config import Resource

MAX_GRAPH_WINDOW_S = 15 * 60.0


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.headers = headers


def _error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse({"error": exc.reason, "message": exc.message}, status_code=exc.status,
                        headers=exc.headers)


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
    def __init__(self, control: ControlPlaneAPI, guard: WriteGuard,
                 settings: AdminSettings, health: HealthRegistry) -> None:
        self.control = control
        self.guard = guard
        self.settings = settings
        self.origin = SameOrigin.with_names(settings.allowed_hosts)
        self.health = health
        self.snapshots = SnapshotBroker(control, settings.snapshot_interval,
                                        health.task("metrics-merge"))
        self.ages = AgeTracker()
        self.ages.observe(control.resources())
        self._writes = 0

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def ready(self, request: Request) -> Response:
        """`ready`, or `not ready` (503); then one line per background task that is failing
        (still 200: a failing reload does not stop traffic, but it must be seen)."""
        lines = ["ready" if self.control.ready else "not ready"]
        for status in self.health.failing():
            last = " ".join(str(status["last_error"]).split())[:300]  # one line, bounded
            lines.append(
                f"degraded: {status['task']} failing ({status['failures']} failures; "
                f"last: {last})"
            )
        return PlainTextResponse("\n".join(lines), status_code=200 if self.control.ready else 503)

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(OPENAPI)

    def _task_metrics(self) -> bytes:
        name = "shadowmesh_background_task_failures"
        lines = [
            f"# HELP {name}_total Failures of background tasks (each is logged and retried).",
            f"# TYPE {name}_total counter",
        ]
        for status in self.health.statuses():
            task = str(status["task"]).replace("\\", "_").replace('"', "_")
            lines.append(f'{name}_total{{task="{task}"}} {float(status["failures"])}')
        return ("\n".join(lines) + "\n").encode()

    async def metrics(self, request: Request) -> Response:
        collection = await self.snapshots.get()
        body = collection.metrics(self._task_metrics)
        kubernetes = getattr(self.control, "kubernetes", None)
        if kubernetes is not None:
            body += kubernetes.metrics.render()
        body += await compare_metrics(self.control)
        return Response(body, media_type=CONTENT_TYPE)

    async def kubernetes_status(self, request: Request) -> Response:
        """`shadowmesh get kubernetes`: watches, rejected custom resources, pushes."""
        kubernetes = getattr(self.control, "kubernetes", None)
        if kubernetes is None:
            raise ApiError(404, "NotFound", "not watching Kubernetes (run --kubernetes)")
        return JSONResponse(kubernetes.status())

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
        server = request.scope.get("server")
        refusal = self.origin.refusal(
            request.headers.get("host"),
            request.headers.get("origin"),
            request.headers.get("sec-fetch-site"),
            (str(server[0]), int(server[1])) if server and server[1] is not None else None,
        ) or self.guard.refusal(request.headers.get("authorization"))
        if refusal is not None:
            raise ApiError(403, "Forbidden", refusal)

    async def _read_body(self, request: Request) -> bytes:
        """The body, refused with 413 as soon as it is known to be over the limit (and the
        connection closed, so the rest is not read)."""
        limit = self.settings.body_limit
        too_large = ApiError(
            413, "RequestEntityTooLarge",
            f"the body is larger than the admin API's limit of {limit} bytes "
            "(--admin-body-limit)",
            headers={"connection": "close"},
        )
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def _apply_bounded(self, text: str, source: str) -> ApplyResult:
        """On a worker thread: the shape check, then parsing, validation and compiling."""
        try:
            self.settings.bounds.check(text)
            return self.control.apply_text(text, source)
        except ShapeError as exc:
            raise ApiError(400, "BadRequest", f"{exc}; the body is refused") from exc
        except RecursionError as exc:  # a bound the shape check did not foresee
            raise ApiError(400, "BadRequest", "the body nests too deeply to be read") from exc

    async def _write(self, fn: Any, *args: Any) -> ApplyResult:
        """Run a configuration change off this thread; a few may wait, more answer 429."""
        if self._writes >= self.settings.pending_writes:
            raise ApiError(429, "TooManyRequests",
                           "too many configuration changes are in progress; retry later",
                           headers={"retry-after": "1"})
        self._writes += 1
        try:
            result: ApplyResult = await asyncio.to_thread(fn, *args)
            return result
        finally:
            self._writes -= 1

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
        wrong_type = content_type_refusal(request.headers.get("content-type"))
        if wrong_type is not None:
            raise ApiError(415, "UnsupportedMediaType", wrong_type)
        raw = await self._read_body(request)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError(400, "BadRequest", "the body must be UTF-8 YAML or JSON") from exc
        if not text.strip():
            raise ApiError(400, "BadRequest", "no objects passed to apply: the body is empty")
        source = request.query_params.get("source") or "<admin api>"
        result = await self._write(self._apply_bounded, text, source)
        self.ages.observe(self.control.resources())
        return self._answer(result)

    async def delete_resource(self, request: Request) -> Response:
        self._check_write(request)
        kind, namespace, name, _ = self._one(request)
        result = await self._write(self.control.delete, kind.kind, namespace, name)
        self.ages.observe(self.control.resources())
        return self._answer(result)

    # -- telemetry -----------------------------------------------------------------------

    async def logs(self, request: Request) -> Response:
        since = _query_duration(request, "since")
        tail = _query_number(request, "tail", int)
        after = _query_number(request, "after", float)
        workload = request.query_params.get("workload") or None
        collection = await self.snapshots.get()
        snapshots = collection.snapshots
        # Every worker's lines up to its own snapshot time are in its snapshot, so up to the
        # earliest of those times the merged view is complete: that is the cursor.
        # (A worker that could not answer sends an empty snapshot, taken_at 0: not counted.)
        now = min((s.taken_at for s in snapshots if s.taken_at), default=time.time())
        snapshot = collection.merged
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
        return JSONResponse(build_graph((await self.snapshots.get()).merged, window))

    async def merged_snapshot(self) -> TelemetrySnapshot:
        return (await self.snapshots.get()).merged


def build_app(
    control: ControlPlaneAPI,
    guard: WriteGuard,
    settings: AdminSettings | None = None,
    health: HealthRegistry | None = None,
    extra_routes: Sequence[BaseRoute] = (),
) -> ASGIApp:
    """The admin app, paced (see `admin/pacing.py`). `extra_routes` come before the
    dashboard's catch-all mount."""
    settings = settings or AdminSettings()
    h = AdminHandlers(control, guard, settings, health or process_health())
    one = "/api/v1/resources/{kind}/{namespace}/{name}"
    routes: list[BaseRoute] = [
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
        Route("/api/v1/kubernetes", h.kubernetes_status, methods=["GET"]),
        *extra_routes,
        *dashboard_routes(h.merged_snapshot),
        *compare_routes(control, guard),
    ]
    app = Starlette(routes=routes, exception_handlers={ApiError: _error_response})
    return Pacer(app, settings.rate, settings.burst, settings.max_wait, settings.health_rate)
